"""Prometheus metrics: one registry per switch (no global singletons), bounded labels.

Labels never carry a Call-ID, a number or an address: methods outside the known set
are counted as "other", statuses by class.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .sip.message import KNOWN_METHODS

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        self._children: dict = {}  # label sets are bounded (methods, status classes)
        r = self.registry
        self.sip_requests = Counter(
            "softswitch_sip_requests", "SIP requests received", ["method"], registry=r)
        self.sip_requests_sent = Counter(
            "softswitch_sip_requests_sent", "SIP requests sent", ["method"], registry=r)
        self.sip_responses_sent = Counter(
            "softswitch_sip_responses_sent", "SIP responses sent",
            ["method", "status_class"], registry=r)
        self.sip_responses_received = Counter(
            "softswitch_sip_responses_received", "SIP responses received",
            ["method", "status_class"], registry=r)
        self.sip_dropped = Counter(
            "softswitch_sip_messages_dropped",
            "SIP messages dropped or refused before reaching a transaction",
            ["reason"], registry=r)
        self.sip_retransmissions_absorbed = Counter(
            "softswitch_sip_retransmissions_absorbed",
            "Retransmitted requests answered by their transaction", registry=r)
        self.transactions_created = Counter(
            "softswitch_sip_transactions", "Transactions created", ["kind"], registry=r)
        self.transactions_active = Gauge(
            "softswitch_sip_transactions_active", "Transactions alive now", registry=r)
        self.registrations = Gauge(
            "softswitch_registrations", "Current registered contacts", registry=r)
        self.register_outcomes = Counter(
            "softswitch_register_outcomes", "REGISTER requests by outcome",
            ["outcome"], registry=r)
        self.auth_failures = Counter(
            "softswitch_auth_failures", "Digest authentication failures", ["reason"],
            registry=r)
        self.tcp_connections = Gauge(
            "softswitch_sip_tcp_connections", "Open SIP TCP connections", registry=r)
        self.tls_connections = Gauge(
            "softswitch_sip_tls_connections", "Open SIP TLS connections", registry=r)
        self.tls_handshakes = Counter(
            "softswitch_sip_tls_handshakes", "SIP TLS handshakes by outcome", ["outcome"],
            registry=r)
        self.db_seconds = Histogram(
            "softswitch_db_query_seconds", "Database call duration", ["desc", "outcome"],
            buckets=_LATENCY_BUCKETS, registry=r)

        # route is the pattern ("/v1/trunks/{name}"), never the raw path.
        self.api_requests = Counter(
            "softswitch_api_requests", "Admin API requests answered",
            ["route", "method", "status"], registry=r)
        self.api_seconds = Histogram(
            "softswitch_api_request_seconds", "Admin API request duration",
            ["route", "method"], buckets=_LATENCY_BUCKETS, registry=r)
        self.admin_refused = Counter(
            "softswitch_admin_refused",
            "Admin connections and requests refused at the door (edge.admin.guard)",
            ["reason"], registry=r)

        # Trunks. The gateway label is a configured gateway ("host:port", with
        # ";transport=..." when not UDP): bounded by configuration, never a caller.
        self.gateway_up = Gauge(
            "softswitch_gateway_up", "1 when calls may use the gateway (up, not suspect)",
            ["trunk", "gateway"], registry=r)
        self.gateway_rtt = Gauge(
            "softswitch_gateway_rtt_seconds", "Last measured OPTIONS round-trip time",
            ["trunk", "gateway"], registry=r)
        self.gateway_probes = Counter(
            "softswitch_gateway_probes", "OPTIONS probes to gateways by result",
            ["result"], registry=r)
        self.trunk_limit_refusals = Counter(
            "softswitch_trunk_limit_refusals", "Calls refused by a trunk limit",
            ["trunk", "reason"], registry=r)
        self.trunk_active_calls = Gauge(
            "softswitch_trunk_active_calls", "Calls holding a trunk admission now",
            ["trunk", "direction"], registry=r)
        self.trunk_registered = Gauge(
            "softswitch_trunk_registered", "1 when the outbound registration is current",
            ["trunk"], registry=r)
        self.trunk_registration_attempts = Counter(
            "softswitch_trunk_registration_attempts",
            "Outbound REGISTER exchanges by result", ["result"], registry=r)
        self._agent_metrics(r)

    def observe_api(self, route: str, method: str, status: int, seconds: float) -> None:
        self.api_requests.labels(route, method, str(status)).inc()
        self.api_seconds.labels(route, method).observe(seconds)

    def _agent_metrics(self, r) -> None:
        self.agent_connect_seconds = Histogram(
            "softswitch_agent_connect_seconds", "Time to open an agent's WebSocket and media",
            buckets=_LATENCY_BUCKETS, registry=r)
        self.agent_socket_failures = Counter(
            "softswitch_agent_socket_failures", "Agent WebSockets that failed",
            ["stage"], registry=r)
        self.agent_transfers = Counter(
            "softswitch_agent_transfers", "Transfers asked for by agents", registry=r)
        self.agent_handoffs = Counter(
            "softswitch_agent_handoffs", "Calls handed over from one agent to another "
            "(done, failed)", ["outcome"], registry=r)

    def child(self, metric, *labels):
        """metric.labels(*labels), remembered: per-message counters would otherwise
        pay prometheus_client's label lookup on every SIP message."""
        key = (metric, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def observe_db(self, desc: str, seconds: float, ok: bool) -> None:
        self.db_seconds.labels(desc, "ok" if ok else "error").observe(seconds)
