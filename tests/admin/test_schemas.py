"""Schema rules that need no server: E.164 normalisation, field paths, partial models."""

import pytest
from pydantic import ValidationError

from softswitch.admin.errors import field_path, from_validation
from softswitch.admin.schemas.common import normalise_e164
from softswitch.admin.schemas.numbers import NumberCreate, NumberPatch
from softswitch.admin.schemas.trunks import TrunkPatch

NORMALISED = [
    ("+14155550100", "+14155550100"),
    ("+1 (415) 555-0100", "+14155550100"),
    ("+1.415.555.0100", "+14155550100"),
    ("  +1 415 555 0100 ", "+14155550100"),
    ("0014155550100", "+14155550100"),
    ("00 44 20 7946 0000", "+442079460000"),
    ("+44 (0)20 7946 0000", "+442079460000"),
    ("tel:+4930123456", "+4930123456"),
    ("+49/30/123456", "+4930123456"),
]

REFUSED = [
    ("14155550100", "no country code"),  # NANP or not? ambiguous without '+'
    ("4155550100", "no country code"),
    ("020 7946 0000", "no country code"),
    ("+0123456789", "never starts with 0"),
    ("+141555", "7 to 15 digits"),
    ("+1234567890123456", "7 to 15 digits"),
    ("+1 415 CALL NOW", "only digits"),
    ("+١٤١٥٥٥٥٠١٠٠", "only digits"),  # Arabic-Indic digits are not ASCII
    ("", "no country code"),
]


@pytest.mark.parametrize("given, expected", NORMALISED)
def test_common_forms_are_normalised(given, expected):
    assert normalise_e164(given) == expected


@pytest.mark.parametrize("given, reason", REFUSED)
def test_ambiguous_or_broken_forms_are_refused_with_a_reason(given, reason):
    with pytest.raises(ValueError, match=reason):
        normalise_e164(given)


def test_the_refusal_names_the_number_field():
    with pytest.raises(ValidationError) as caught:
        NumberCreate.model_validate_json(
            '{"number": "14155550100", "route": [{"type": "reject", "code": 486}]}')
    error = from_validation(caught.value)
    assert (error.status, error.field) == (422, "number")
    assert "+14155550100" in error.message  # it shows the way out


def test_union_tags_are_dropped_from_field_paths():
    assert field_path(("route", 0, "agent", "agent")) == "route.0.agent"
    assert field_path(("route", 2, "reject", "code")) == "route.2.code"
    assert field_path(("route", 0)) == "route.0"
    assert field_path(("gateways", 1, "region")) == "gateways.1.region"
    assert field_path(("custom_parameters", "agent")) == "custom_parameters.agent"
    assert field_path(()) is None


def test_partial_models_keep_field_rules_and_refuse_null_where_not_nullable():
    assert NumberPatch.model_validate_json("{}").model_dump(exclude_unset=True) == {}
    assert NumberPatch.model_validate_json('{"description": null}').description is None
    for body in ('{"enabled": null}', '{"route": []}', '{"number": "123"}',
                 '{"max": 1}'):
        with pytest.raises(ValidationError):
            NumberPatch.model_validate_json(body)
    with pytest.raises(ValidationError):
        TrunkPatch.model_validate_json('{"gateways": [{"host": "x", "port": 0}]}')
    assert "default" not in NumberPatch.model_json_schema()["properties"]["enabled"]


def test_a_gateway_port_left_out_means_srv_for_a_name_and_5060_for_an_address():
    def gateway(body):
        return TrunkPatch.model_validate_json(f'{{"gateways": [{body}]}}').gateways[0]

    assert gateway('{"host": "sip.carrier.example"}').port is None
    assert gateway('{"host": "sip.carrier.example", "port": null}').port is None
    assert gateway('{"host": "sip.carrier.example", "port": 5080}').port == 5080
    assert gateway('{"host": "192.0.2.1"}').port == 5060
    assert gateway('{"host": "2001:db8::1", "port": null, "transport": "tls"}').port == 5060
    # The same name with and without a port are two gateways, not a repeat.
    both = TrunkPatch.model_validate_json(
        '{"gateways": [{"host": "sip.carrier.example"}, '
        '{"host": "sip.carrier.example", "port": 5060}]}')
    assert [g.port for g in both.gateways] == [None, 5060]
