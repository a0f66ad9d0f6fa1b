"""A Twilio-compatible REST surface for the call operations agent frameworks use,
served on the admin listener under /2010-04-01 (Twilio's API version path):

    GET  /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json   the call resource
    POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json   update it

An update with `Status=completed` (or `canceled`), or `Twiml` that is only
`<Response><Hangup/></Response>`, ends the call the way the agent's own `hangup` does:
what it queued plays, then the caller gets a BYE (`disconnect_side` agent, reason
`twilio-api`). Other updates (`Url`, any other TwiML, another status) are refused with
400 and a Twilio-shaped JSON error saying so. This is what pipecat's Twilio serializer
does at the end of a conversation (auto hang-up), with its `base_url` pointed here.

Credentials are HTTP Basic: an agent's `account_sid` and `auth_token` (set on the
agent through /v1/agents). A call is visible to an account when the agent it is
bridged to has that account SID; `CallSid` is the `callSid` of the start message (the
SIP Call-ID, percent-encoded if it holds characters a URL path cannot). Errors are
Twilio's JSON: 401 (code 20003) for bad credentials, 404 (20404) for an unknown call or
path, 400 for an update this switch does not do, 405 for other methods. Once a
transfer has taken the agent off the call, the call is no longer its to end: 404
(20404, which pipecat takes for "already terminated"), so a framework's automatic
hang-up after a transfer does not cut the caller off from the human.
"""

import base64
import binascii
import hmac
import json
import re
from urllib.parse import unquote

from twisted.logger import Logger
from twisted.web.resource import Resource

from softswitch.admin.calls_view import HangUp
from softswitch.agent.twilio_compat import API_VERSION, call_path, call_resource, error

log = Logger()
HANG_UP_REASON = "twilio-api"  # the call record's disconnect_reason
UNSUPPORTED = 20001  # the code of our 400s: a parameter this switch does not act on
_HANGUP_TWIML = re.compile(
    rb"^\s*(<\?xml[^>]*\?>)?\s*<Response>\s*<Hangup\s*/>\s*</Response>\s*$")
_STATUS = {"queued": "queued", "trying": "queued", "ringing": "ringing",
           "answered": "in-progress"}
MAX_FORM_BYTES = 64 * 1024
PATH_PREFIX = b"/2010-04-01/"  # where build_root mounts it


class TwilioApiResource(Resource):
    """Mounted at /2010-04-01. `calls` is the admin calls view (calls_view.CallsView),
    `agents()` the agents of the current routing snapshot, `clock` an IReactorTime."""

    isLeaf = True

    def __init__(self, calls, agents, clock):
        super().__init__()
        self._calls = calls
        self._agents = agents
        self._clock = clock

    def render_GET(self, request):
        return self._answer(request, update=False)

    def render_POST(self, request):
        return self._answer(request, update=True)

    def render(self, request):
        if request.method in (b"GET", b"POST"):
            return super().render(request)
        return _json(request, 405, error(405, 20004, "Method not allowed"),
                     {"Allow": "GET, POST"})

    def _answer(self, request, update: bool) -> bytes:
        try:
            return self._handle(request, update)
        except Exception:  # nothing from the network raises into twisted.web
            log.failure("Twilio-compatible API request failed")
            return _json(request, 500, error(500, 20500, "Internal server error"))

    def _handle(self, request, update: bool) -> bytes:
        path = b"/".join(request.postpath)
        match = re.fullmatch(rb"Accounts/([^/]+)/Calls/(.+)\.json", path)
        if match is None:
            return _not_found(request, f"/{API_VERSION}/" + path.decode("latin-1"))
        account = unquote(match.group(1).decode("latin-1"))
        call_sid = unquote(match.group(2).decode("latin-1"))
        credentials = _basic_credentials(request)
        agents = self._authenticated(*credentials) if credentials else None
        if agents is None or account.encode("latin-1") != credentials[0]:
            return _json(request, 401, error(401, 20003, "Authenticate"),
                         {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        call = next((c for c in self._calls.active_calls()
                     if c["call_id"] == call_sid and c.get("agent") in agents), None)
        if call is None:
            return _not_found(request, call_path(account, call_sid))
        now = self._clock.seconds()
        if not update:
            status = _STATUS.get(call.get("state"), "in-progress")
            return _json(request, 200, call_resource(account, call, status, now))
        refusal = _hang_up_request(_form(request))
        if refusal is not None:
            return _json(request, 400, error(400, UNSUPPORTED, refusal))
        answered = call.get("state") == "answered"
        if self._calls.finish(call_sid, HANG_UP_REASON) is HangUp.UNKNOWN:
            return _not_found(request, call_path(account, call_sid))
        status = "completed" if answered else "canceled"
        return _json(request, 200, call_resource(account, call, status, now))

    def _authenticated(self, user: bytes, password: bytes) -> set[str] | None:
        """The names of the agents of the Basic credentials' account, or None."""
        names, valid = set(), False
        for agent in self._agents():
            if agent.account_sid is None or agent.account_sid.encode() != user:
                continue
            names.add(agent.name)
            if agent.auth_token and hmac.compare_digest(agent.auth_token.encode(), password):
                valid = True
        return names if valid else None


def _basic_credentials(request) -> tuple[bytes, bytes] | None:
    """(user, password) of an `Authorization: Basic` header, or None."""
    header = request.getHeader(b"authorization") or b""
    scheme, _, encoded = header.partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon and user and password else None


def _form(request) -> dict[bytes, bytes]:
    """The update's form fields (twisted.web parsed the urlencoded body into args)."""
    return {name: values[0] for name, values in (request.args or {}).items() if values}


def _hang_up_request(form: dict[bytes, bytes]) -> str | None:
    """None if the form asks to end the call, else why it is refused."""
    status, twiml, url = form.get(b"Status"), form.get(b"Twiml"), form.get(b"Url")
    if status is not None:
        if status in (b"completed", b"canceled"):
            return None
        return (f"Status {status.decode('latin-1')!r} is not supported: this switch "
                "updates a call's Status to completed or canceled only; to hang up, send "
                "Status=completed")
    if twiml is not None:
        if len(twiml) <= MAX_FORM_BYTES and _HANGUP_TWIML.match(twiml):
            return None
        return ("Twiml is not supported beyond <Response><Hangup/></Response>: to hang "
                "up, send Status=completed")
    if url is not None:
        return "Url is not supported by this switch (it fetches no TwiML): to hang up, " \
               "send Status=completed"
    return "nothing to update: send Status=completed to hang up"


def _not_found(request, resource: str) -> bytes:
    return _json(request, 404, error(404, 20404, f"The requested resource {resource} "
                                                 "was not found"))


def _json(request, status: int, body: dict, headers: dict | None = None) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    for name, value in (headers or {}).items():
        request.setHeader(name.encode(), value.encode())
    return json.dumps(body).encode()
