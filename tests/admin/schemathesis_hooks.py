"""schemathesis hooks for tests/admin/test_schemathesis.py (SCHEMATHESIS_HOOKS).

`positive_data_accepted`: schemathesis' positive_data_acceptance (data the document
calls valid must not be refused), except for the rules a JSON Schema cannot state,
which the server answers with 422 and a message naming the rule: an object the body
refers to that does not exist, a key in the body that differs from the URL's, one
field bounded by another (port_max above port_min, register with credentials and a
gateway, a profile's sample rate and parameters), PEM text that does not decode,
items equal once normalised
(header names in any case, gateways, networks) and a network written with host
bits set. Any other refusal of valid data fails.
"""

import re

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

STATEFUL_OR_CROSS_FIELD = re.compile(
    r"does not exist"
    r"|does not match the URL"
    r"|must be above port_min"
    r"|register needs "
    r"|auth_token needs an account_sid"
    r"|only an openai-realtime agent's voice may be an object"
    r"|profile carries 8000 Hz"
    r"|: must be (at most \d+ characters|a voice name)"
    r"|is in both headers and secret_headers|a header is named twice"
    r"|repeats gateway \d+"
    r"|is listed twice|has host bits set"
    r"|rejects the call, so the targets"
    r"|: not a PEM (certificate|key)")


def _error_message(response) -> str:
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""


@schemathesis.check
def positive_data_accepted(ctx, response, case):
    if response.status_code == 422 and STATEFUL_OR_CROSS_FIELD.search(_error_message(response)):
        return None
    return positive_data_acceptance(ctx, response, case)
