"""The patterns the OpenAPI document states for fields the server checks in code
(E.164 input, ws/wss URLs, hosts, networks, IP addresses) accept exactly what the
server accepts: strings drawn from each pattern are accepted, and random strings
over the same alphabet get the same verdict from the pattern and from the server.
Rules no pattern can state (a network written with host bits set) are left out."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softswitch.admin.schemas.agents import WEBSOCKET_URL_PATTERN, _websocket_url
from softswitch.admin.schemas.common import (
    CIDR_PATTERN,
    E164_INPUT_PATTERN,
    HOST_PATTERN,
    IPV4,
    IPV6,
    cidr_text,
    _host,
    _ip_address,
    normalise_e164,
)

EXAMPLES = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def accepts(check, value: str) -> bool:
    try:
        check(value)
    except ValueError as error:
        return "host bits" in str(error)  # a rule between address and prefix length
    return True


def agree(pattern: str, check, value: str) -> None:
    assert bool(re.search(pattern, value)) == accepts(check, value), repr(value)


CASES = [
    (E164_INPUT_PATTERN, normalise_e164, " \t().-/+0123456789(0)(0)tel:\n", 40),
    (WEBSOCKET_URL_PATTERN, _websocket_url, "wsWS:/.[]@%0123456789abcdef?#: \n", 60),
    (HOST_PATTERN, _host, "abz-.:0123456789[]% \n", 60),
    (CIDR_PATTERN, cidr_text, "0123456789abcdef.:/% \n", 49),
]


IDS = ["e164", "websocket-url", "host", "cidr"]


@pytest.mark.parametrize("pattern, check, alphabet, longest", CASES, ids=IDS)
def test_every_pattern_agrees_with_its_check_on_strings_of_its_alphabet(
        pattern, check, alphabet, longest):
    @EXAMPLES
    @given(st.text(alphabet=alphabet, max_size=longest))
    def random_strings(value):
        agree(pattern, check, value)
    random_strings()


@pytest.mark.parametrize("pattern, check, alphabet, longest", CASES, ids=IDS)
def test_every_string_drawn_from_a_pattern_is_accepted(pattern, check, alphabet, longest):
    # (the checks take any length; the fields' maxLength is the model's, both sides)
    @EXAMPLES
    @given(st.from_regex(pattern))
    def drawn(value):
        assert accepts(check, value), repr(value)
    drawn()


def test_ip_addresses_are_ipv4_or_ipv6_as_the_json_schema_formats_say():
    for text in ("192.0.2.1", "::1", "2001:db8::8:800:200c:417a", "::ffff:192.0.2.1"):
        assert re.fullmatch(IPV4, text) or re.fullmatch(IPV6, text)
        _ip_address(text)
    for text in ("", "fe80::1%eth0", "192.0.2.01", "1.2.3", ":::"):
        assert not (re.fullmatch(IPV4, text) or re.fullmatch(IPV6, text))
        assert not accepts(_ip_address, text), text


@EXAMPLES
@given(st.lists(st.sampled_from(["(0)", "(", ")", "0", "1", "4", "9", " ", "+", "00", "-",
                                 "tel:", "\t"]), max_size=24).map("".join))
def test_e164_pattern_and_normalisation_agree_on_uk_style_trunk_prefixes(value):
    agree(E164_INPUT_PATTERN, normalise_e164, value)
