"""The guard in front of the SIP endpoint: services.guard's policy on the reactor's
clock, the security log and the guard's metrics.

`admit(data, peer)` runs before anything is parsed; a False answer means the
message is dropped without a word. Each security event becomes one log line in the
`softswitch.security` namespace, fields in a fixed order with the source address
first, so a fail2ban filter can anchor on it (docs/security.md):

    security: event=auth-failed source=192.0.2.7 user="alice" method=REGISTER reason=bad-password
"""

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ...services.guard import BAN_REASONS, DROP_REASONS, Ban, GuardPolicy, SecurityEvent
from ...services.security_events import CredentialsFailed
from ...sip.transport import Peer

security_log = Logger(namespace="softswitch.security")
MAX_FIELD = 64  # characters of a peer-given value (user, User-Agent) in a log line


class SipGuard:
    """Implements services.security_events.SecurityEvents; the admin API's bans."""

    def __init__(self, clock: IReactorTime, policy: GuardPolicy):
        self._clock = clock
        self.policy = policy

    def admit(self, data: bytes, peer: Peer) -> bool:
        policy = self.policy
        verdict = policy.check(data, peer.host, self._clock.seconds(), peer.port,
                               peer.transport)
        if policy.events:
            self._log_events()
        return verdict is None

    def credentials_failed(self, event: CredentialsFailed) -> None:
        self.policy.auth_failed(event.source, event.user, event.method, event.reason,
                                self._clock.seconds())
        self._log_events()

    # -- operators (admin API) ----------------------------------------------------------
    def seconds(self) -> float:
        return self._clock.seconds()

    def bans(self) -> list[Ban]:
        self.policy.expire(self._clock.seconds())
        self._log_events()
        return self.policy.bans()

    def get_ban(self, address: str) -> Ban | None:
        ban = self.policy.get_ban(address, self._clock.seconds())
        self._log_events()
        return ban

    def ban(self, address: str, seconds: float) -> Ban:
        ban = self.policy.ban(address, seconds, self._clock.seconds())
        self._log_events()
        return ban

    def unban(self, address: str) -> Ban | None:
        ban = self.policy.unban(address)
        self._log_events()
        return ban

    def counters(self) -> dict:
        policy = self.policy
        return {"bans_active": len(policy.bans()), "sources_tracked": policy.sources,
                "bans_total": dict(policy.bans_total), "dropped": dict(policy.dropped)}

    def trunks_changed(self, snapshot=None) -> None:
        self.policy.trunks_changed()

    def _log_events(self) -> None:
        for event in self.policy.pop_events():
            security_log.warn("{line}", line=security_line(event))


def security_line(event: SecurityEvent) -> str:
    """One event as the log line fail2ban reads; peer-given text is quoted and
    stripped of anything that could end the line or fake another field."""
    line = f"security: event={event.kind} source={event.source}"
    if event.user:
        line += f' user="{_clean(event.user)}"'
    if event.method:
        line += f" method={_clean(event.method).replace(' ', '_')}"
    if event.reason:
        line += f' reason="{_clean(event.reason)}"'
    if event.seconds:
        line += f" seconds={event.seconds:.0f}"
    return line


def _clean(text: str) -> str:
    return "".join(c if c.isprintable() and c not in '"\\' else "?" for c in text[:MAX_FIELD])


class GuardMetrics:
    """The guard's counters, read at scrape time (nothing per message touches
    prometheus_client)."""

    def __init__(self, guard: SipGuard):
        self._guard = guard

    def collect(self):
        policy = self._guard.policy
        active = GaugeMetricFamily("softswitch_guard_bans_active",
                                   "Addresses and networks banned right now")
        active.add_metric([], len(self._guard.bans()))
        yield active
        sources = GaugeMetricFamily("softswitch_guard_sources",
                                    "Source addresses the guard keeps rate state for")
        sources.add_metric([], policy.sources)
        yield sources
        bans = CounterMetricFamily("softswitch_guard_bans", "Bans made, by reason",
                                   labels=["reason"])
        for reason in BAN_REASONS:
            bans.add_metric([reason], policy.bans_total[reason])
        yield bans
        dropped = CounterMetricFamily(
            "softswitch_guard_dropped", "SIP messages dropped by the guard before parsing, "
            "by reason", labels=["reason"])
        for reason in DROP_REASONS:
            dropped.add_metric([reason], policy.dropped[reason])
        yield dropped
