"""AI voice agents: the WebSocket an answered call's audio goes to."""

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    PlainValidator,
    WithJsonSchema,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from softswitch.admin.schemas.common import (
    CALLER_IDS_DESCRIPTION,
    IPV6,
    CallerIds,
    Epoch,
    Headers,
    Name,
    RequestModel,
    ResponseModel,
    partial_model,
    unique_list,
)
from softswitch.agent.sip_headers import (
    MAX_NAME_LENGTH,
    MAX_NAMES,
    NAME_PATTERN,
    HeaderRefused,
    check_name,
)

Profile = Literal["twilio", "raw", "openai-realtime"]


def _sip_header_name(value: str) -> str:
    try:  # (a final newline, which the document's "$" lets through, is dropped)
        return check_name(value.removesuffix("\n"))
    except HeaderRefused as exc:
        raise ValueError(str(exc)) from None


SipHeaderNames = unique_list(Annotated[str, Field(
    min_length=1, max_length=MAX_NAME_LENGTH, json_schema_extra={"pattern": NAME_PATTERN}),
    AfterValidator(_sip_header_name)], MAX_NAMES)
SampleRate = Literal[8000, 16000, 24000]
# The rate each profile uses when none is given. Twilio Media Streams is 8 kHz µ-law
# only, and the openai-realtime profile asks for audio/pcmu both ways (no transcoding).
DEFAULT_SAMPLE_RATE = {"twilio": 8000, "raw": 16000, "openai-realtime": 8000}
_FIXED_RATE_PROFILES = ("twilio", "openai-realtime")


_PORT = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
# ws:// or wss://, a host (a name or address, or an IPv6 address in brackets; no
# user:password@), an optional port, then a path, query or fragment without spaces.
# The document states this pattern and the server checks the same one.
WEBSOCKET_URL_PATTERN = (rf"^[Ww][Ss][Ss]?://(?:[A-Za-z0-9._~%!$&'()*+,;=-]+|\[{IPV6}\])"
                         rf"(?::{_PORT})?(?:[/?#][^\s]*)?$")
_WEBSOCKET_URL = re.compile(WEBSOCKET_URL_PATTERN)


def _websocket_url(value: str) -> str:
    # A regular expression's "$" also matches before one final newline: so may we.
    value = value.removesuffix("\n")
    if _WEBSOCKET_URL.fullmatch(value):
        return value
    scheme, _, rest = value.partition("://")
    if scheme.lower() not in ("ws", "wss"):
        raise ValueError(f"{value!r} must be a ws:// or wss:// URL")
    if "@" in re.split(r"[/?#]", rest, maxsplit=1)[0]:
        raise ValueError("credentials in the URL would be shown to every reader: "
                         "put them in secret_headers")
    raise ValueError(f"{value!r} is not a ws:// or wss:// URL with a host (and a port "
                     "up to 65535)")


WebSocketUrl = Annotated[str, Field(max_length=2048, json_schema_extra={
                                        "pattern": WEBSOCKET_URL_PATTERN},
                                    description="ws:// or wss:// URL of the agent"),
                         AfterValidator(_websocket_url)]

# http:// or https://, the same host and path rules (a webhook's target).
WEBHOOK_URL_PATTERN = (rf"^[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z0-9._~%!$&'()*+,;=-]+|\[{IPV6}\])"
                       rf"(?::{_PORT})?(?:[/?#][^\s]*)?$")
_WEBHOOK_URL = re.compile(WEBHOOK_URL_PATTERN)


def _webhook_url(value: str) -> str:
    value = value.removesuffix("\n")
    if not _WEBHOOK_URL.fullmatch(value):
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host (no "
                         "credentials) and a port up to 65535")
    return value


WebhookUrl = Annotated[str, Field(max_length=2048, json_schema_extra={
                                      "pattern": WEBHOOK_URL_PATTERN},
                                  description="http:// or https:// URL"),
                       AfterValidator(_webhook_url)]

PARAMETER_MAX = 1024
# An openai-realtime agent's `instructions` parameter is its system prompt: longer.
INSTRUCTIONS_MAX = 16384
VOICE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # "marin", or a custom voice's id
# Twilio's own shapes: "AC" and 32 hex digits; an auth token of 32 hex digits (any
# 16-128 printable characters are taken, for tokens made elsewhere).
ACCOUNT_SID_PATTERN = r"^AC[0-9a-fA-F]{32}$"
AUTH_TOKEN_PATTERN = r"^[!-~]{16,128}$"
AccountSid = Annotated[str, Field(pattern=ACCOUNT_SID_PATTERN,
                                  description="Twilio-style account SID: AC + 32 hex digits")]
AuthToken = Annotated[str, Field(pattern=AUTH_TOKEN_PATTERN,
                                 description="16-128 printable ASCII characters, no space")]
ParameterName = Annotated[str, Field(min_length=1, max_length=64)]
ParameterValue = Annotated[str, Field(max_length=INSTRUCTIONS_MAX)]


class VoiceRef(RequestModel):
    """An openai-realtime custom voice, as the Realtime session takes it."""

    id: Annotated[str, Field(pattern=VOICE.pattern, description="e.g. voice_1234")]


def _parameter_value(value):
    """A custom parameter: a string, or (checked by the agent model) a voice object.
    One validator rather than a union, so errors name custom_parameters.KEY."""
    if isinstance(value, str):
        if len(value) > INSTRUCTIONS_MAX:
            raise PydanticCustomError("string_too_long", "at most {limit} characters",
                                      {"limit": INSTRUCTIONS_MAX})
        return value
    if isinstance(value, dict) and set(value) == {"id"}:
        if isinstance(value["id"], str) and VOICE.match(value["id"]):
            return VoiceRef(id=value["id"])
        raise PydanticCustomError("value_error", "a custom voice's id must be 1-64 letters, "
                                                 "digits, '_', '.' or '-'")
    raise PydanticCustomError("string_type", "Input should be a valid string (or, for an "
                                             "openai-realtime voice, {\"id\": \"voice_...\"})")


_VOICE_OBJECT = {"type": "object", "properties": {"id": {"type": "string",
                                                         "pattern": VOICE.pattern}},
                 "required": ["id"], "additionalProperties": False}
CustomValue = Annotated[object, PlainValidator(_parameter_value), WithJsonSchema(
    {"anyOf": [{"type": "string", "maxLength": INSTRUCTIONS_MAX}, _VOICE_OBJECT]})]
# Only `voice` may be an object (and only for openai-realtime, checked by the model).
CustomParameters = Annotated[dict[ParameterName, CustomValue], WithJsonSchema({
    "type": "object", "maxProperties": 32,
    "propertyNames": {"minLength": 1, "maxLength": 64},
    "properties": {"voice": {"anyOf": [{"type": "string", "maxLength": INSTRUCTIONS_MAX},
                                       _VOICE_OBJECT]}},
    "additionalProperties": {"type": "string", "maxLength": INSTRUCTIONS_MAX}})]
CustomValueOut = Annotated[object, WithJsonSchema(
    {"anyOf": [{"type": "string"}, _VOICE_OBJECT]})]


class AgentReplace(RequestModel):
    name: Name | None = Field(None, description="must match the URL if given")
    url: WebSocketUrl
    profile: Profile = "twilio"
    sample_rate: SampleRate | None = Field(
        None, validate_default=True,
        description="Hz of the agent's audio: raw 8000, 16000 (default) or 24000; "
                    "twilio and openai-realtime carry 8000 Hz µ-law only")
    region: Name | None = Field(None, description="media region the call's audio is relayed in")
    headers: Headers = Field(default_factory=dict, description="sent on connect; readable")
    secret_headers: Headers = Field(
        default_factory=dict, description="sent on connect; write-only (only names are shown)")
    custom_parameters: CustomParameters = Field(
        default_factory=dict, max_length=32,
        description="passed to the agent at start (string values up to 1024 characters); "
                    "for openai-realtime, `instructions` (up to 16384) and `voice` (a name, "
                    "or a custom voice {\"id\": \"voice_...\"}) set up the session instead")

    account_sid: AccountSid | None = Field(
        None, description="Twilio compatibility: the account SID of the start message, "
                          "and the user name of the REST API's Basic credentials")
    auth_token: AuthToken | None = Field(
        None, description="Twilio compatibility, write-only: signs the WebSocket upgrade "
                          "(X-Twilio-Signature) and is the REST API's Basic password; "
                          "needs account_sid")
    webhook_url: WebhookUrl | None = Field(
        None, description="this agent's call events (docs/webhooks.md) are also POSTed "
                          "here, signed with the switch's [webhooks] secret")
    caller_ids: CallerIds = Field(
        default_factory=list, description=CALLER_IDS_DESCRIPTION + " Outbound calls "
        "(POST /v1/calls) and transfers of the agent present one of them.")
    sip_headers: SipHeaderNames = Field(
        default_factory=list,
        description="names of the inbound INVITE's headers (X- headers, User-to-User, "
                    "Diversion, P-Asserted-Identity...) whose values go into the start "
                    "message: twilio customParameters, raw call.sip_headers, "
                    "openai-realtime a system message; routing, transaction and "
                    "credential headers (Via, Call-ID, CSeq, Route...) are refused")
    record: bool = Field(False, description="record every call of this agent from the "
                                            "answer (docs/recording.md)")

    @field_validator("sample_rate")
    @classmethod
    def _rate_fits_profile(cls, rate: int | None, info: ValidationInfo) -> int | None:
        profile = info.data.get("profile")
        if profile is None:
            return rate
        if rate is None:
            return DEFAULT_SAMPLE_RATE[profile]
        if profile in _FIXED_RATE_PROFILES and rate != 8000:
            raise ValueError(f"the {profile} profile carries 8000 Hz µ-law audio only")
        return rate

    @model_validator(mode="after")
    def _parameters_fit_profile(self):
        realtime = self.profile == "openai-realtime"
        for key, value in self.custom_parameters.items():
            if isinstance(value, VoiceRef):
                if not (realtime and key == "voice"):
                    raise _parameter_error(key, value.model_dump(), "a string (only an "
                                           "openai-realtime agent's voice may be an object)")
                continue
            limit = INSTRUCTIONS_MAX if realtime and key == "instructions" else PARAMETER_MAX
            if len(value) > limit:
                raise _parameter_error(key, value, f"at most {limit} characters")
        voice = self.custom_parameters.get("voice")
        if realtime and isinstance(voice, str) and not VOICE.match(voice):
            raise _parameter_error("voice", voice, "a voice name such as 'marin': 1-64 "
                                                   "letters, digits, '_', '.' or '-'")
        return self

    @model_validator(mode="after")
    def _token_needs_account(self):
        if self.auth_token is not None and self.account_sid is None:
            raise ValueError("auth_token needs an account_sid")
        return self

    @field_validator("secret_headers")
    @classmethod
    def _not_both(cls, secret: dict, info: ValidationInfo) -> dict:
        plain = {name.lower() for name in info.data.get("headers") or {}}
        for name in secret:
            if name.lower() in plain:
                raise ValueError(f"header {name!r} is in both headers and secret_headers")
        lowered = [name.lower() for name in secret]
        if len(set(lowered)) != len(lowered):
            raise ValueError("a header is named twice (header names ignore case)")
        return secret


def _parameter_error(key: str, value: str, expected: str) -> ValidationError:
    """An error located at custom_parameters.KEY (a ValueError would name only the map)."""
    error = PydanticCustomError("value_error", "must be {expected}", {"expected": expected})
    return ValidationError.from_exception_data("AgentReplace", [InitErrorDetails(
        type=error, loc=("custom_parameters", key), input=value)])


class AgentCreate(AgentReplace):
    name: Name


AgentPatch = partial_model(AgentReplace, "AgentPatch",
                           "Fields to change; headers maps are replaced whole.")


class AgentOut(ResponseModel):
    name: str
    url: str
    profile: Profile
    sample_rate: SampleRate
    region: str | None
    headers: dict[str, str]
    secret_header_names: list[str]
    custom_parameters: dict[str, CustomValueOut]
    account_sid: str | None
    auth_token_set: bool
    webhook_url: str | None = None
    caller_ids: list[str]
    sip_headers: list[str]
    record: bool
    created_at: Epoch
    updated_at: Epoch
