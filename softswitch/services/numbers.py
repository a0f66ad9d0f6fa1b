"""Telephone numbers: normalising what carriers and phones send to E.164.

Number formats (per trunk):
- "e164": digits are international; the '+' may be missing ("14155550100").
- "nanp": North American: 10 digits get +1, 11 digits starting with 1 get '+'.
- "national:CC": national numbers of country code CC; a leading trunk prefix 0 is
  dropped ("0301234567" -> +49301234567 for national:49); '+' or '00' mark
  international numbers.
"""

import re

_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_VISUAL_SEPARATORS = re.compile(r"[\s().\-/]")
NUMBER_FORMAT = re.compile(r"^(e164|nanp|national:[1-9][0-9]{0,2})$")


class NumberError(ValueError):
    """Not a number we can put in E.164 form; str() says why."""


def is_e164(number: str) -> bool:
    return bool(_E164.match(number))


def normalise(text: str, number_format: str = "e164") -> str:
    """The E.164 form of `text` under `number_format`, or NumberError."""
    digits = _VISUAL_SEPARATORS.sub("", text)
    if digits.startswith("+"):
        candidate = digits
    elif digits.startswith("00"):
        candidate = "+" + digits[2:]
    elif not digits.isdigit():
        raise NumberError(f"{text!r} is not a telephone number")
    elif number_format == "e164":
        candidate = "+" + digits
    elif number_format == "nanp":
        if len(digits) == 10:
            candidate = "+1" + digits
        elif len(digits) == 11 and digits.startswith("1"):
            candidate = "+" + digits
        else:
            raise NumberError(f"{text!r} is not a 10- or 11-digit North American number")
    elif number_format.startswith("national:"):
        country = number_format.partition(":")[2]
        candidate = "+" + country + (digits[1:] if digits.startswith("0") else digits)
    else:
        raise NumberError(f"unknown number format {number_format!r}")
    if not is_e164(candidate):
        raise NumberError(f"{text!r} is not a valid E.164 number")
    return candidate


def dialable_digits(number: str) -> str:
    """Digits for prefix matching: E.164 without the '+'."""
    return number[1:] if number.startswith("+") else number
