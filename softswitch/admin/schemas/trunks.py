"""Carrier trunks and their gateways; outbound credentials are write-only."""

import re
from typing import Annotated, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from softswitch.admin.schemas.common import (
    CIDR_PATTERN,
    IPV4,
    IPV6,
    E164,
    Epoch,
    cidr_text,
    Host,
    Name,
    Port,
    RequestModel,
    ResponseModel,
    partial_model,
    unique_list,
)
from softswitch.services.numbers import NUMBER_FORMAT
from softswitch.services.routing import AllowedSource, is_address

Transport = Literal["udp", "tcp", "tls"]
MediaEncryption = Annotated[Literal["none", "sdes", "optional"], Field(
    description="SRTP on calls to this trunk (SDES keys, RFC 4568): 'none' plain RTP, "
                "'sdes' SRTP offered and required (a plain answer fails the call), "
                "'optional' SRTP offered, plain RTP accepted. Keys travel in the SDP: "
                "use a tls gateway")]
NumberFormat = Annotated[str, Field(
    pattern=NUMBER_FORMAT.pattern,
    description="how the carrier writes numbers: 'e164' (international, '+' optional), "
                "'nanp' (10 or 11 digits, country code 1) or 'national:CC' "
                "(national numbers of country code CC)")]


# An IP address given without a port gets the one it always had.
DEFAULT_ADDRESS_PORT = 5060


class Gateway(RequestModel):
    host: Host
    port: Port | None = Field(
        None, description="left out or null with a host name: the name is looked up with "
                          "DNS SRV for the transport (RFC 3263), falling back to its A "
                          "records on port 5060 (5061 for tls); an IP address without a "
                          "port means 5060")
    transport: Transport = "udp"
    region: Name | None = Field(None, description="the media region used with this gateway")
    priority: int = Field(0, ge=0, le=65535, description="lower is tried first")
    weight: int = Field(1, ge=0, le=65535, description="share among equal priorities")

    @model_validator(mode="after")
    def _address_port(self) -> "Gateway":
        # SRV is for names only; an address keeps the default it always had, stored.
        if self.port is None and is_address(self.host):
            self.port = DEFAULT_ADDRESS_PORT
        return self


_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
SOURCE_PATTERN = rf"^(?:{CIDR_PATTERN[1:-1]}|{IPV4}:{_PORT}|\[{IPV6}\]:{_PORT})$"
_SOURCE = re.compile(SOURCE_PATTERN)


def _source(value: str) -> str:
    """A network (any port) or one address with a port: "203.0.113.5:5060"."""
    if not _SOURCE.fullmatch(value.removesuffix("\n")):
        raise ValueError(f"{value!r} is neither an IP network nor an address with a port")
    value = value.removesuffix("\n")
    if value.count(":") == 1 or value.startswith("["):
        try:
            return str(AllowedSource.parse(value))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an address with a port ({exc})") from None
    return cidr_text(value)


Source = Annotated[str, Field(
    max_length=55, description="IP network, e.g. 203.0.113.0/24 (any source port), or "
                               "one address with its port, e.g. 203.0.113.5:5060",
    json_schema_extra={"pattern": SOURCE_PATTERN}),
    AfterValidator(_source)]


class Inbound(RequestModel):
    allowed_sources: unique_list(Source, 100) = Field(
        default_factory=list,
        description="where calls from this trunk may come from: networks (any port) or "
                    "address:port; the trunk's gateways are recognised too (by address, "
                    "and by port and transport where a UDP gateway names its port)")


class TrunkAuth(RequestModel):
    username: str = Field(min_length=1, max_length=128, pattern=r"^[^\s\x00]+$")
    password: str = Field(min_length=1, max_length=256, pattern=r"^[^\r\n\x00]*$",
                          description="write-only")


MAX_PEM = 32768  # a certificate chain or a key; more is not a client certificate


def _pem_or_path(value: str, kind: str) -> str:
    """PEM text, checked, or an absolute path of a PEM file on the switch."""
    if value.startswith("-----BEGIN"):
        data = value.encode("ascii", "replace")
        try:
            if kind == "certificate":
                x509.load_pem_x509_certificates(data)
            else:
                serialization.load_pem_private_key(data, None)
        except (ValueError, TypeError):
            raise ValueError(f"not a PEM {kind}" + (" without a passphrase" if kind == "key"
                                                     else "")) from None
        return value
    if not value.startswith("/") or any(c in value for c in "\r\n\x00"):
        raise ValueError(f"a PEM {kind}, or the absolute path of a PEM file on the switch")
    return value


PEM_OR_PATH = r"^(?:-----BEGIN [\s\S]*|/[^\r\n\x00]*)$"


class TrunkTls(RequestModel):
    client_certificate: str = Field(
        min_length=1, max_length=MAX_PEM, json_schema_extra={"pattern": PEM_OR_PATH},
        description="the certificate presented to gateways that ask for one (mutual TLS): "
                    "PEM (intermediates may follow it), or the absolute path of a PEM "
                    "file on the switch")
    client_key: str = Field(
        min_length=1, max_length=MAX_PEM, json_schema_extra={"pattern": PEM_OR_PATH},
        description="write-only: its private key, PEM without a passphrase (stored "
                    "sealed), or the absolute path of a PEM file on the switch")

    @field_validator("client_certificate")
    @classmethod
    def _certificate(cls, value: str) -> str:
        return _pem_or_path(value, "certificate")

    @field_validator("client_key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _pem_or_path(value, "key")


class TrunkReplace(RequestModel):
    name: Name | None = Field(None, description="must match the URL if given")
    gateways: list[Gateway] = Field(default_factory=list, max_length=32)
    inbound: Inbound = Field(default_factory=Inbound)
    auth: TrunkAuth | None = None
    tls: TrunkTls | None = Field(None, description="for gateways with transport tls")
    # "register" would shadow ABCMeta.register on the model class.
    register_: bool = Field(False, alias="register",
                            description="register to the gateways with auth")
    max_concurrent: int | None = Field(None, ge=1, le=1_000_000, description="null: no limit")
    max_cps: float | None = Field(None, gt=0, le=100_000, description="null: no limit")
    number_format: NumberFormat = "e164"
    enabled: bool = True
    stir_shaken: Literal["sign", "off"] = Field(
        "off", description="sign: the switch signs calls to this trunk (STIR/SHAKEN "
        "Identity, [stir] certificate); off: the carrier signs them")
    media_encryption: MediaEncryption = "none"
    trust_identity: bool = Field(
        True, description="a trusted carrier (RFC 3325 trust domain): its "
                          "P-Asserted-Identity, Remote-Party-ID and Identity headers are "
                          "kept and P-Asserted-Identity is sent to it (also under "
                          "Privacy: id); false: they are removed both ways")
    default_caller_id: E164 | None = Field(
        None, description="the number presented by a caller (user or agent) that has no "
                          "allowed caller ID; null: such calls are refused with 403")
    topology_hiding: bool = Field(
        False, description="the carrier sees none of our callers' Via, Contact or "
                           "Record-Route, only the switch")
    allow_refer: bool = Field(
        False, description="a REFER from this trunk's side of a call (its PBX transferring "
        "the call) is carried out; false: refused 403")

    @field_validator("gateways")
    @classmethod
    def _distinct_gateways(cls, gateways: list[Gateway]) -> list[Gateway]:
        seen = {}
        for position, gateway in enumerate(gateways):
            key = (gateway.host, gateway.port, gateway.transport)
            if key in seen:
                raise ValueError(f"gateway {position} repeats gateway {seen[key]} "
                                 f"({gateway.transport}:{gateway.host}:{gateway.port})")
            seen[key] = position
        return gateways

    @field_validator("register_")
    @classmethod
    def _register_needs_auth(cls, register: bool, info: ValidationInfo) -> bool:
        # A field that failed its own validation is absent from info.data: only
        # blame register when auth or gateways were valid and empty.
        if register and "auth" in info.data and info.data["auth"] is None:
            raise ValueError("register needs auth credentials")
        if register and "gateways" in info.data and not info.data["gateways"]:
            raise ValueError("register needs at least one gateway")
        return register


class TrunkCreate(TrunkReplace):
    name: Name


TrunkPatch = partial_model(TrunkReplace, "TrunkPatch",
                           "Fields to change; gateways, inbound and auth are replaced whole.")


class GatewayOut(ResponseModel):
    host: str
    port: int | None = Field(description="null: the host name is looked up with DNS SRV")
    transport: Transport
    region: str | None
    priority: int
    weight: int


class InboundOut(ResponseModel):
    allowed_sources: list[str]


class TrunkAuthOut(ResponseModel):
    username: str
    password_set: bool


class TrunkTlsOut(ResponseModel):
    client_certificate: str
    client_key_set: bool


class TrunkOut(ResponseModel):
    name: str
    gateways: list[GatewayOut]
    inbound: InboundOut
    auth: TrunkAuthOut | None
    tls: TrunkTlsOut | None = None
    register_: bool = Field(alias="register")
    max_concurrent: int | None
    max_cps: float | None
    number_format: str
    enabled: bool
    stir_shaken: Literal["sign", "off"]
    media_encryption: MediaEncryption
    trust_identity: bool
    default_caller_id: str | None
    topology_hiding: bool
    allow_refer: bool = False
    created_at: Epoch
    updated_at: Epoch
