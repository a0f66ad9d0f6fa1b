"""Field types and base models every resource schema shares.

Each constrained type is an ``Annotated`` alias, so the same rule validates
requests, appears in the OpenAPI document, and survives the partial (PATCH)
copies that ``partial_model`` makes of a model.
"""

import ipaddress
import re
from datetime import datetime, timezone
from typing import Annotated, Any, Generic, TypeVar

from annotated_types import Ge, Le
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    create_model,
    model_validator,
)

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"
# Separators people put inside phone numbers; "(0)" is the UK-style trunk prefix.
_NUMBER_PUNCTUATION = re.compile(r"[ \t().\-/]")
# What normalise_e164 accepts, as the OpenAPI document states it: separators (and
# "(0)") anywhere, "+" or "00", then 7 to 15 digits, the first not 0.
# A "(" followed by "0)" is the start of "(0)", never a separator alone: so the
# pattern counts digits as normalise_e164 does.
_SEP = r"(?:[ \t.\-/)]|\((?!0\))|\(0\)){0,3}"
E164_INPUT_PATTERN = (rf"^[ \t]*(?:[Tt][Ee][Ll]:)?{_SEP}(?:\+|0{_SEP}0){_SEP}[1-9]"
                      rf"(?:{_SEP}[0-9]){{6,14}}{_SEP}[ \t]*$")
_E164_INPUT = re.compile(E164_INPUT_PATTERN)

# Addresses as Python's ipaddress reads them (RFC 3986 IPv6address; dotted quads
# without leading zeros), for patterns the document states.
_HEX4 = "[0-9A-Fa-f]{1,4}"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_LS32 = rf"(?:{_HEX4}:{_HEX4}|{IPV4})"
# RFC 3986 IPv6address, the nine forms of where "::" may stand.
IPV6 = "(?:" + "|".join((
    rf"(?:{_HEX4}:){{6}}{_LS32}",
    rf"::(?:{_HEX4}:){{5}}{_LS32}",
    rf"(?:{_HEX4})?::(?:{_HEX4}:){{4}}{_LS32}",
    rf"(?:(?:{_HEX4}:){{0,1}}{_HEX4})?::(?:{_HEX4}:){{3}}{_LS32}",
    rf"(?:(?:{_HEX4}:){{0,2}}{_HEX4})?::(?:{_HEX4}:){{2}}{_LS32}",
    rf"(?:(?:{_HEX4}:){{0,3}}{_HEX4})?::{_HEX4}:{_LS32}",
    rf"(?:(?:{_HEX4}:){{0,4}}{_HEX4})?::{_LS32}",
    rf"(?:(?:{_HEX4}:){{0,5}}{_HEX4})?::{_HEX4}",
    rf"(?:(?:{_HEX4}:){{0,6}}{_HEX4})?::",
)) + ")"

# Discriminator values of tagged unions: pydantic puts the tag in an error's
# location ("route.0.agent.agent"); the API drops it ("route.0.agent").
UNION_TAGS: set[str] = set()


class RequestModel(BaseModel):
    """A request body: unknown fields refused, no type coercion, no NaN."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_python_names(cls, data: Any) -> Any:
        # pydantic neither uses nor refuses the Python name of an aliased field.
        if isinstance(data, dict):
            for name, info in cls.model_fields.items():
                if info.alias and info.alias != name and name in data:
                    raise ValueError(f"unknown field {name!r} (did you mean {info.alias!r}?)")
            # JSON has numbers, not ints and floats: 486.0 is the integer 486 (as JSON
            # Schema's "integer" says); a float field takes an int as it is.
            if any(type(value) is float and value.is_integer() for value in data.values()):
                data = {key: int(value) if type(value) is float and value.is_integer()
                        else value for key, value in data.items()}
        return data


class ResponseModel(BaseModel):
    """A response body; extra="forbid" so a stray (secret) field fails loudly."""

    model_config = ConfigDict(extra="forbid")


class QueryModel(BaseModel):
    """Query parameters arrive as strings, so these models coerce."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def normalise_e164(value: str) -> str:
    """"+1 (415) 555-0100" and "0014155550100" -> "+14155550100"; refuses the rest.

    A number without "+" or "00" is refused: "4155550100" or "14155550100"
    could be national in one country and international in another.
    """
    if not isinstance(value, str):
        raise ValueError("must be a string")
    text = _normalise_e164(value)
    if not _E164_INPUT.fullmatch(value.removesuffix("\n")):
        raise ValueError(f"{value!r}: at most 3 separators may stand together")
    return text


def _normalise_e164(value: str) -> str:
    # A regular expression's "$" also matches before one final newline: so may we.
    text = value.removesuffix("\n").strip(" \t")
    if text.lower().startswith("tel:"):
        text = text[4:]
    text = _NUMBER_PUNCTUATION.sub("", text.replace("(0)", ""))
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        raise ValueError(
            f"{value!r} has no country code: write it in E.164 with a leading '+' "
            "(e.g. '+14155550100') or the international prefix '00'")
    digits = text[1:]
    if not digits.isdigit() or not digits.isascii():
        raise ValueError(f"{value!r} is not a phone number: only digits may follow '+'")
    if digits.startswith("0"):
        raise ValueError(f"{value!r} is not E.164: a country code never starts with 0")
    if not 7 <= len(digits) <= 15:
        raise ValueError(f"{value!r} is not E.164: it must have 7 to 15 digits after '+'")
    return text


def _ip_address(value: str) -> str:
    # As JSON Schema's ipv4/ipv6 formats: no IPv6 zone ("%eth0").
    try:
        if "%" not in value:
            return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    raise ValueError(f"{value!r} is not an IPv4 or IPv6 address")


_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# An address, or a host name (labels of letters, digits and inner hyphens; one
# final dot allowed).
HOST_PATTERN = rf"^(?:{IPV4}|{IPV6}|{_LABEL}(?:\.{_LABEL})*\.?)$"
_HOST = re.compile(HOST_PATTERN)
CIDR_PATTERN = (rf"^(?:{IPV4}(?:/(?:3[0-2]|[12]?[0-9]))?"
                rf"|{IPV6}(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$")
_CIDR = re.compile(CIDR_PATTERN)


def cidr_text(value: str) -> str:
    text = value.removesuffix("\n")  # as "$" in a pattern allows
    if not _CIDR.fullmatch(text):
        raise ValueError(f"{value!r} is not an IP address or CIDR network")
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError as exc:
        if "host bits set" in str(exc):
            suggested = ipaddress.ip_network(text, strict=False)
            raise ValueError(f"{value!r} has host bits set; did you mean '{suggested}'?") from None
        raise ValueError(f"{value!r} is not an IP address or CIDR network") from None


def _host(value: str) -> str:
    value = value.removesuffix("\n")  # as "$" in a pattern allows
    if not _HOST.fullmatch(value):
        raise ValueError(f"{value!r} is not an IP address or a host name")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value.lower().removesuffix(".")


Name = Annotated[str, Field(pattern=NAME_PATTERN, description="lower-case name, 1-63 chars")]
Username = Annotated[str, Field(pattern=USERNAME_PATTERN)]
IPAddress = Annotated[str, Field(
    max_length=45, description="IPv4 or IPv6 address",
    json_schema_extra={"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}),
    AfterValidator(_ip_address)]
Cidr = Annotated[str, Field(max_length=49, description="IP network, e.g. 203.0.113.0/24",
                            json_schema_extra={"pattern": CIDR_PATTERN}),
                 AfterValidator(cidr_text)]
Host = Annotated[str, Field(min_length=1, max_length=253,
                            json_schema_extra={"pattern": HOST_PATTERN}),
                 AfterValidator(_host)]
Port = Annotated[int, Field(ge=1, le=65535)]
E164Input = Annotated[str, Field(
    min_length=1, max_length=40, json_schema_extra={"pattern": E164_INPUT_PATTERN},
    description="E.164 number; '+1 (415) 555-0100' and '0014155550100' are normalised"),
    AfterValidator(normalise_e164)]
E164 = Annotated[str, Field(pattern=E164_PATTERN)]
Description = Annotated[str, Field(max_length=500)]
def rfc3339(epoch: float) -> str:
    """A stored time (epoch seconds) as API clients read times: RFC 3339 in UTC with
    milliseconds, e.g. 2026-12-03T14:00:00.123Z."""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# Times are stored as epoch seconds and answered as RFC 3339 strings.
Epoch = Annotated[float, PlainSerializer(rfc3339, return_type=str), WithJsonSchema(
    {"type": "string", "format": "date-time",
     "description": "RFC 3339 time in UTC, e.g. 2026-12-03T14:00:00.123Z"})]
HeaderName = Annotated[str, Field(pattern=HEADER_NAME_PATTERN)]
HeaderValue = Annotated[str, Field(max_length=4096, pattern=r"^[^\r\n\x00]*$")]
# (pydantic states the names as patternProperties; no other name is allowed either)
Headers = Annotated[dict[HeaderName, HeaderValue], Field(
    max_length=32, json_schema_extra={"additionalProperties": False})]


def _no_duplicates(values: list) -> list:
    seen = set()
    for position, value in enumerate(values):
        key = value.lower() if isinstance(value, str) else value
        if key in seen:
            raise ValueError(f"{value!r} is listed twice (position {position})")
        seen.add(key)
    return values


def unique_list(item: Any, max_length: int) -> Any:
    return Annotated[list[item], Field(max_length=max_length,
                                       json_schema_extra={"uniqueItems": True}),
                     AfterValidator(_no_duplicates)]


# The numbers a user or agent may present as caller ID (services.caller_id).
MAX_CALLER_IDS = 100
CALLER_IDS_DESCRIPTION = (
    "E.164 numbers this caller may present (From, P-Preferred-Identity) toward trunks; "
    "the first is its default. The numbers whose route targets it are allowed too.")


# Plain E.164 ("+14155550100"), as the API shows numbers: a list of the lenient input
# form (separators, 00) would make the document's pattern needlessly costly to check.
CallerIds = unique_list(E164, MAX_CALLER_IDS)


def caller_ids_field():
    return Field(default_factory=list, description=CALLER_IDS_DESCRIPTION)


def _empty_to_none(value):
    return None if value == "" else value


OptionalName = Annotated[Name | None, BeforeValidator(_empty_to_none)]

T = TypeVar("T")


class Page(ResponseModel, Generic[T]):
    items: list[T]
    next: str | None = Field(description="cursor of the next page (?after=), null on the last")


MAX_ID = 2**63 - 1
CURSOR_DESCRIPTION = "`next` of the previous page: the items after it"


def _decimal(value: Any) -> Any:
    # Query values are text: only plain decimal digits name an id (no sign, "_", spaces).
    if isinstance(value, str) and not re.fullmatch(r"0|[1-9][0-9]{0,18}", value):
        raise ValueError(f"{value!r} is not a non-negative integer")
    return value


class ListQuery(QueryModel):
    """A page of a collection ordered by name: the cursor is the last name shown."""

    limit: int = Field(100, ge=1, le=1000, description="items per page")
    after: str | None = Field(None, min_length=1, max_length=200,
                              pattern=r"^[^\x00-\x1f\x7f]+$", description=CURSOR_DESCRIPTION)


class IdListQuery(ListQuery):
    """A page of a collection ordered by id: the cursor is the last id shown."""

    after: Annotated[int, Ge(0), Le(MAX_ID), BeforeValidator(_decimal)] | None = Field(
        None, description=CURSOR_DESCRIPTION)


class ErrorDetail(ResponseModel):
    status: int
    message: str
    field: str | None = Field(None, description="dotted location of the field at fault")


class ErrorBody(ResponseModel):
    error: ErrorDetail


def _drop_default(schema: dict, extra: dict | None = None) -> None:
    schema.pop("default", None)
    if extra:
        # The field's own schema extras (patterns the server checks in code), on the
        # non-null branch: null stays allowed only where the field allows it anyway.
        branches = schema.get("anyOf")
        target = next((b for b in branches if b.get("type") != "null"), schema) \
            if branches else schema
        target.update(extra)


def partial_model(model: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """A copy of ``model`` whose fields are all optional (for PATCH).

    Omitted fields keep their stored value; null is accepted only where the
    field itself is nullable. Cross-field rules are checked after merging.
    """
    fields = {}
    for field_name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else None
        copied = Field(default=None, alias=info.alias, description=info.description,
                       json_schema_extra=lambda schema, extra=extra: _drop_default(schema,
                                                                                   extra))
        annotation = info.annotation
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        fields[field_name] = (annotation, copied)
    return create_model(name, __base__=RequestModel, __doc__=doc, **fields)
