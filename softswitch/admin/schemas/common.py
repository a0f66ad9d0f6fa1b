"""Field types and base models every resource schema shares.

Each constrained type is an ``Annotated`` alias, so the same rule validates
requests, appears in the OpenAPI document, and survives the partial (PATCH)
copies that ``partial_model`` makes of a model.
"""

import ipaddress
import re
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
    model_validator,
)

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"
_HOSTNAME_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Separators people put inside phone numbers; "(0)" is the UK-style trunk prefix.
_NUMBER_PUNCTUATION = re.compile(r"[\s().\-/]")

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
    text = value.strip()
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
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None


def cidr_text(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        if "host bits set" in str(exc):
            suggested = ipaddress.ip_network(value, strict=False)
            raise ValueError(f"{value!r} has host bits set; did you mean '{suggested}'?") from None
        raise ValueError(f"{value!r} is not an IP address or CIDR network") from None


def _host(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    name = value.lower().rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_HOSTNAME_LABEL.match(label) for label in labels):
        raise ValueError(f"{value!r} is not an IP address or a host name")
    return name


Name = Annotated[str, Field(pattern=NAME_PATTERN, description="lower-case name, 1-63 chars")]
Username = Annotated[str, Field(pattern=USERNAME_PATTERN)]
IPAddress = Annotated[str, Field(max_length=45, description="IPv4 or IPv6 address"),
                      AfterValidator(_ip_address)]
Cidr = Annotated[str, Field(max_length=49, description="IP network, e.g. 203.0.113.0/24"),
                 AfterValidator(cidr_text)]
Host = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_host)]
Port = Annotated[int, Field(ge=1, le=65535)]
E164Input = Annotated[str, Field(
    min_length=1, max_length=40,
    description="E.164 number; '+1 (415) 555-0100' and '0014155550100' are normalised"),
    AfterValidator(normalise_e164)]
E164 = Annotated[str, Field(pattern=E164_PATTERN)]
Description = Annotated[str, Field(max_length=500)]
Epoch = Annotated[float, Field(description="seconds since 1970-01-01 UTC")]
HeaderName = Annotated[str, Field(pattern=HEADER_NAME_PATTERN)]
HeaderValue = Annotated[str, Field(max_length=4096, pattern=r"^[^\r\n\x00]*$")]
Headers = Annotated[dict[HeaderName, HeaderValue], Field(max_length=32)]


def _no_duplicates(values: list) -> list:
    seen = set()
    for position, value in enumerate(values):
        key = value.lower() if isinstance(value, str) else value
        if key in seen:
            raise ValueError(f"{value!r} is listed twice (position {position})")
        seen.add(key)
    return values


def unique_list(item: Any, max_length: int) -> Any:
    return Annotated[list[item], Field(max_length=max_length), AfterValidator(_no_duplicates)]


def _empty_to_none(value):
    return None if value == "" else value


OptionalName = Annotated[Name | None, BeforeValidator(_empty_to_none)]

T = TypeVar("T")


class Page(ResponseModel, Generic[T]):
    items: list[T]
    next: str | None = Field(description="cursor of the next page (?after=), null on the last")


class ListQuery(QueryModel):
    limit: int = Field(100, ge=1, le=1000, description="items per page")
    after: str | None = Field(None, max_length=200, description="cursor from the previous page")


class ErrorDetail(ResponseModel):
    status: int
    message: str
    field: str | None = Field(None, description="dotted location of the field at fault")


class ErrorBody(ResponseModel):
    error: ErrorDetail


def _drop_default(schema: dict) -> None:
    schema.pop("default", None)


def partial_model(model: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """A copy of ``model`` whose fields are all optional (for PATCH).

    Omitted fields keep their stored value; null is accepted only where the
    field itself is nullable. Cross-field rules are checked after merging.
    """
    fields = {}
    for field_name, info in model.model_fields.items():
        copied = Field(default=None, alias=info.alias, description=info.description,
                       json_schema_extra=_drop_default)
        annotation = info.annotation
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        fields[field_name] = (annotation, copied)
    return create_model(name, __base__=RequestModel, __doc__=doc, **fields)
