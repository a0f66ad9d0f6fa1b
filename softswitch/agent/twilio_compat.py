"""Twilio compatibility shared by the edge and the admin site: the request signature
Twilio puts on its requests (X-Twilio-Signature), and the shapes of its REST API's call
resource and errors, so that agents written for Twilio (its `twilio` package's
RequestValidator, pipecat's automatic hang-up) work unchanged.

The signature (Twilio's published algorithm): HMAC-SHA1 keyed with the account's auth
token over the full URL requested, followed for a form POST by each parameter's name
and value, sorted by name; base64. The switch's WebSocket upgrade is a GET: the URL
alone."""

import base64
import hashlib
import hmac
from email.utils import formatdate

API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


def signature(auth_token: str, url: str, params: dict[str, str] | None = None) -> str:
    data = url + "".join(name + value for name, value in sorted((params or {}).items()))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def call_path(account_sid: str, call_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/Calls/{call_sid}.json"


def call_resource(account_sid: str, call: dict, status: str, now: float) -> dict:
    """A call in progress (an admin calls_view row) as Twilio's Call resource."""
    started = call.get("started_at")
    return {
        "sid": call["call_id"], "account_sid": account_sid, "parent_call_sid": None,
        "api_version": API_VERSION, "status": status,
        "direction": "outbound-api" if call.get("direction") == "outbound" else "inbound",
        "from": call.get("caller"), "to": call.get("callee"),
        "from_formatted": call.get("caller"), "to_formatted": call.get("callee"),
        "date_created": _rfc2822(started), "date_updated": _rfc2822(now),
        "start_time": _rfc2822(started), "end_time": _rfc2822(now)
        if status == "completed" else None,
        "duration": str(int(call.get("duration") or 0)) if status == "completed" else None,
        "answered_by": (call.get("amd") or {}).get("answered_by"),  # AMD (docs/amd.md)
        "caller_name": None, "forwarded_from": None,
        "group_sid": None, "phone_number_sid": None, "price": None, "price_unit": "USD",
        "queue_time": "0", "trunk_sid": None,
        "uri": call_path(account_sid, call["call_id"]),
        "subresource_uris": {},
    }


def error(status: int, code: int, message: str) -> dict:
    """Twilio's error body (RestException reads code, message, more_info, status)."""
    return {"code": code, "message": message, "more_info": MORE_INFO.format(code=code),
            "status": status}


def _rfc2822(epoch: float | None) -> str | None:
    return None if epoch is None else formatdate(epoch, usegmt=True)
