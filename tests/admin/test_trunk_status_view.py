"""The live trunk view the API shows at /v1/trunks/{name}/status."""

from twisted.internet.task import Clock

from softswitch.admin.trunk_status_view import TrunkStatusView
from softswitch.services.limits import TrunkLimiter
from softswitch.services.routing import Gateway, Trunk


class Health:
    def status(self):
        return [{"trunk": "carrier", "gateway": "203.0.113.1:5060", "transport": "udp",
                 "state": "up", "rtt": 0.012, "last_change": 1.0, "last_probe": 2.0},
                {"trunk": "other", "gateway": "198.51.100.1:5060", "transport": "udp",
                 "state": "down", "rtt": None, "last_change": 1.0, "last_probe": 2.0}]


class Registrations:
    def status(self, name):
        if name != "carrier":
            return None
        return {"trunk": name, "state": "registered", "gateway": "203.0.113.1:5060",
                "expires_at": 600.0, "last_error": None, "next_attempt_at": None}


def test_status_combines_health_registration_and_calls():
    limiter = TrunkLimiter(Clock())
    trunk = Trunk("carrier", (Gateway("carrier", "203.0.113.1", 5060, "udp", None, 1, 10),),
                  max_concurrent=10)
    admission = limiter.acquire(trunk, "inbound")
    assert admission.admitted
    view = TrunkStatusView(Health(), Registrations(), limiter)
    status = view.status("carrier")
    assert status["gateways"] == [{"gateway": "203.0.113.1:5060", "transport": "udp",
                                   "state": "up", "rtt": 0.012, "last_change": 1.0,
                                   "last_probe": 2.0}]
    assert status["registration"]["state"] == "registered"
    assert status["active_calls"] == {"inbound": 1, "outbound": 0}
    assert view.status("other")["registration"] is None
