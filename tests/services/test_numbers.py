import pytest

from softswitch.services.numbers import NumberError, normalise


@pytest.mark.parametrize("text, number_format, expected", [
    ("+14155550100", "e164", "+14155550100"),
    ("14155550100", "e164", "+14155550100"),
    ("+1 (415) 555-0100", "e164", "+14155550100"),
    ("0014155550100", "national:49", "+14155550100"),
    ("4155550100", "nanp", "+14155550100"),
    ("14155550100", "nanp", "+14155550100"),
    ("+442071234567", "nanp", "+442071234567"),
    ("030 1234567", "national:49", "+49301234567"),
    ("301234567", "national:49", "+49301234567"),
])
def test_normalise(text, number_format, expected):
    assert normalise(text, number_format) == expected


@pytest.mark.parametrize("text, number_format", [
    ("alice", "e164"), ("", "e164"), ("+0123", "e164"), ("415555", "nanp"),
    ("+1234567890123456", "e164"), ("12", "unknown"),
])
def test_refused(text, number_format):
    with pytest.raises(NumberError):
        normalise(text, number_format)
