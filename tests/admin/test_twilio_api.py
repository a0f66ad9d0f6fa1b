"""The Twilio-compatible call paths (admin.twilio_api) on requests the twilio client
never sends: other methods, other paths, missing or foreign credentials, forms that
ask for nothing. (tests/edge/test_twilio_compat.py drives them with the real
clients.)"""

import base64
import json

from twisted.internet.task import Clock
from twisted.web.test.requesthelper import DummyRequest

from softswitch.admin.calls_view import HangUp
from softswitch.admin.twilio_api import TwilioApiResource
from softswitch.services.routing import Agent

SID, TOKEN = "AC" + "1" * 32, "t" * 32
OTHER_SID, OTHER_TOKEN = "AC" + "2" * 32, "u" * 32
CALL = {"call_id": "c1@host", "state": "answered", "direction": "inbound",
        "caller": "+12125550123", "callee": "+14155550100", "agent": "bot",
        "started_at": 100.0, "duration": 5.0}


class Calls:
    def __init__(self):
        self.finished = []

    def active_calls(self):
        return [CALL]

    def finish(self, call_id, reason):
        self.finished.append((call_id, reason))
        return HangUp.ENDED


def resource(calls=None):
    agents = [Agent("bot", "ws://a.test/", "twilio", 8000, account_sid=SID, auth_token=TOKEN),
              Agent("other", "ws://b.test/", "twilio", 8000, account_sid=OTHER_SID,
                    auth_token=OTHER_TOKEN)]
    return TwilioApiResource(calls or Calls(), lambda: agents, Clock())


def send(method, path, user=SID, password=TOKEN, form=None, calls=None):
    request = DummyRequest([part.encode() for part in path.split("/")])
    request.method = method
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.requestHeaders.addRawHeader(b"authorization", f"Basic {token}".encode())
    request.args = {k.encode(): [v.encode()] for k, v in (form or {}).items()}
    body = resource(calls).render(request)
    return request.responseCode or 200, json.loads(body), request


CALL_PATH = f"Accounts/{SID}/Calls/c1%40host.json"


def test_a_call_is_fetched_with_its_accounts_credentials():
    status, body, request = send(b"GET", CALL_PATH)
    assert status == 200 and body["sid"] == "c1@host" and body["status"] == "in-progress"
    assert body["uri"] == f"/2010-04-01/Accounts/{SID}/Calls/c1@host.json"
    assert request.responseHeaders.getRawHeaders(b"content-type") == [
        b"application/json; charset=utf-8"]


def test_credentials_must_be_the_paths_account_and_match():
    for user, password in ((None, None), (SID, "wrong" * 8), (OTHER_SID, OTHER_TOKEN),
                           ("AC" + "3" * 32, TOKEN)):
        status, body, request = send(b"GET", CALL_PATH, user, password)
        assert (status, body["code"]) == (401, 20003), user
        assert request.responseHeaders.getRawHeaders(b"www-authenticate") == [
            b'Basic realm="Twilio API"']


def test_another_accounts_call_is_not_found():
    path = f"Accounts/{OTHER_SID}/Calls/c1@host.json"
    status, body, _ = send(b"POST", path, OTHER_SID, OTHER_TOKEN, {"Status": "completed"})
    assert (status, body["code"], body["status"]) == (404, 20404, 404)
    assert body["more_info"] == "https://www.twilio.com/docs/errors/20404"


def test_other_paths_and_methods():
    for path in ("Accounts", f"Accounts/{SID}/Calls.json", f"Accounts/{SID}/Queues/x.json"):
        status, body, _ = send(b"GET", path)
        assert (status, body["code"]) == (404, 20404), path
    status, body, request = send(b"DELETE", CALL_PATH)
    assert status == 405 and request.responseHeaders.getRawHeaders(b"allow") == [b"GET, POST"]


def test_updates_other_than_a_hang_up_are_refused_and_change_nothing():
    calls = Calls()
    for form in ({}, {"Status": "busy"}, {"Url": "https://x.test/twiml"},
                 {"Twiml": "<Response><Say>hi</Say><Hangup/></Response>"}):
        status, body, _ = send(b"POST", CALL_PATH, form=form, calls=calls)
        assert (status, body["code"]) == (400, 20001), form
        assert "Status=completed" in body["message"]
    assert calls.finished == []
    status, body, _ = send(b"POST", CALL_PATH, form={"Status": "completed"}, calls=calls)
    assert (status, body["status"]) == (200, "completed")
    assert calls.finished == [("c1@host", "twilio-api")]


def test_a_calls_answering_machine_detection_is_its_answered_by():
    class Detected(Calls):
        def active_calls(self):
            return [{**CALL, "direction": "outbound",
                     "amd": {"mode": "async", "result": "machine", "decision_ms": 2900,
                             "answered_by": "machine_end_beep", "machine_end": "beep",
                             "machine_end_ms": 7000}}]
    _, body, _ = send(b"GET", CALL_PATH, calls=Detected())
    assert (body["answered_by"], body["direction"]) == ("machine_end_beep", "outbound-api")
    _, body, _ = send(b"GET", CALL_PATH)
    assert body["answered_by"] is None
