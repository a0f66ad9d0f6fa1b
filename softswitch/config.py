"""Configuration: etc/softswitch.toml, validated into frozen settings.

Every key has a type and a default here; etc/softswitch.toml documents the same keys.
A bad file raises ConfigError with one line naming the key at fault.
"""

import ipaddress
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .media.tones import RINGBACK_CHOICES
from .sdp.agent_answer import check_preference
from .services.guard import GuardConfig
from .services.numbers import is_e164
from .services.recordings import RecordingSettings
from .store.secret_box import SecretBox

DEFAULT_PATH = "etc/softswitch.toml"
TOKEN_ENV = "SOFTSWITCH_ADMIN_TOKEN"
SECRETS_KEY_ENV = "SOFTSWITCH_SECRETS_KEY"
WEBHOOK_SECRET_ENV = "SOFTSWITCH_WEBHOOK_SECRET"
MIN_TOKEN_LENGTH = 32  # a bootstrap token shorter than this is refused at start-up


class ConfigError(Exception):
    """The configuration cannot be used; str() is one line naming the cause."""


@dataclass(frozen=True)
class SipSettings:
    listen: tuple[str, ...] = ("udp:0.0.0.0:5060", "tcp:0.0.0.0:5060")
    domain: str = "localhost"  # also the digest realm
    advertise: str = ""  # host put in Via/Contact/Record-Route; defaults to the bind address
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    max_message_size: int = 65535
    tcp_idle_timeout: float = 300.0
    tcp_max_connections: int = 4096
    tcp_max_connections_per_address: int = 32
    tcp_message_timeout: float = 20.0  # a message must be whole this long after its 1st byte
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    max_contacts_per_aor: int = 10
    contacts_overflow: str = "replace"  # or "reject" (403)
    max_forks: int = 10  # parallel INVITE branches of one call to a user's contacts
    # One challenge per algorithm, in this order. MD5 alone by default: some phones
    # (Debian 12's baresip) answer no challenge at all when one names an algorithm
    # they do not know, and SIPp answers only the first.
    digest_algorithms: tuple[str, ...] = ("MD5",)
    nonce_lifetime: float = 300.0
    nonce_secret: str = ""  # random per process when empty (nonces then die with it)
    user_agent: str = "softswitch"
    trace: bool = False
    drain_timeout: float = 30.0  # on SIGTERM: seconds calls in progress may take to end
    # RFC 4028 session timers of the calls the switch answers or places: the interval
    # asked for (and granted at most), and the shortest accepted (422 below it).
    # 0 turns them off.
    session_expires: int = 1800
    min_se: int = 90


@dataclass(frozen=True)
class AdminSettings:
    listen: str = "tcp:8080:interface=127.0.0.1"
    token: str = ""
    max_connections: int = 256
    header_timeout: float = 10.0  # seconds to send a request head
    bad_token_limit: int = 10  # bad tokens from one address in a minute before 429
    bad_token_block: float = 60.0  # the first block, seconds; doubles on each repeat


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///var/softswitch.db"
    threads: int = 4
    reload_interval: float = 10.0  # seconds between snapshot reloads (several nodes)
    # Fernet key(s) sealing trunk passwords and agent secret headers; SECRETS_KEY_ENV
    # wins; with neither, the key in secrets_key_file (made, 0600, on first start).
    secrets_key: str = ""
    secrets_key_file: str = "var/secrets.key"


@dataclass(frozen=True)
class MediaSettings:
    bind: str = "127.0.0.1"
    advertise: str = ""
    port_min: int = 20000
    port_max: int = 30000
    anchor: bool = True  # relay the RTP of proxied calls through the switch
    inactivity_timeout: float = 60.0  # no RTP either way this long ends the call
    # SDES keys (a=crypto) are taken only from SDP that came over TLS, unless this is set.
    allow_sdes_over_insecure: bool = False


@dataclass(frozen=True)
class AgentSettings:
    connect_timeout: float = 5.0  # an agent not connected by then: next route target
    # A number routed to the built-in echo agent, made at start-up if missing ("": none).
    echo_number: str = "+10000000000"
    transfer_ring_timeout: float = 30.0  # a human not answering a transfer by then: failed
    # What a cold transfer's caller hears while the human rings: us, uk, eu or silence.
    transfer_ringback: str = "us"
    # Transfers by SIP REFER (mode "refer"): a REFER the far end refuses (or does not
    # answer) is dialled and bridged by the switch instead, unless refer_fallback is
    # false; the far end's final NOTIFY is awaited at most refer_notify_timeout.
    refer_fallback: bool = True
    refer_notify_timeout: float = 60.0
    outbound_ring_timeout: float = 60.0  # an outbound call not answered by then: no-answer
    # An outbound call its trunks' limits have not admitted by then fails ("limit:cps").
    outbound_max_queue_wait: float = 300.0
    # Caller -> agent jitter buffer, ms: the first packet is held jitter_target_ms, then
    # the delay adapts between jitter_min_ms and jitter_max_ms.
    jitter_min_ms: int = 20
    jitter_target_ms: int = 60
    jitter_max_ms: int = 200
    max_burst: int = 3  # RTP packets to the caller sent back to back after a stall
    # The codecs an agent call answers with, in order of preference (G722, OPUS, PCMU, PCMA):
    # the first the caller offers wins.
    codecs: tuple[str, ...] = ("G722", "OPUS", "PCMU", "PCMA")
    # An agent that closes its socket (1000) has its queued audio played for at most
    # this many seconds before the caller gets the BYE (0: at once).
    close_drain_timeout: float = 5.0
    # PEM file of the certificate authorities trusted for wss:// agents ("": the system's).
    ca_file: str = ""


@dataclass(frozen=True)
class TrunkSettings:
    probe_interval: float = 30.0  # seconds between OPTIONS probes of each gateway
    probe_failures: int = 3  # consecutive failed probes before a gateway is down
    probe_successes: int = 2  # consecutive answered probes before it is up again
    registration_expires: int = 600  # Expires asked for when registering to carriers
    # DNS servers ("ip" or "ip:port", "[v6]:port") for gateway host names; none: the
    # system's (resolv.conf).
    dns_servers: tuple = ()
    dns_timeout: float = 2.0  # seconds for all the lookups of one gateway host name


@dataclass(frozen=True)
class StirSettings:
    # Signing (trunks with "stir_shaken": "sign"): the https URL where our STI
    # certificate (PEM, then its intermediates) is served, the x5u verifiers fetch,
    # and the PEM file of its EC P-256 private key. Both, or neither (no signing).
    certificate_url: str = ""
    key_file: str = ""
    # Verification of calls from trunks: a directory of PEM files of the trusted
    # STI roots ("": calls are not verified).
    trust_anchors: str = ""
    max_iat_age: float = 60.0  # seconds a PASSporT's iat may be from now
    cache_size: int = 1000  # x5u certificates kept
    cache_ttl: float = 3600.0  # seconds one is kept (never past its expiry)
    failure_ttl: float = 60.0  # seconds an x5u that failed is not fetched again
    fetch_timeout: float = 2.0  # seconds for one x5u fetch (the INVITE waits)
    fetch_max_bytes: int = 65536  # a larger x5u answer is refused
    max_fetches: int = 64  # x5u fetches at once (beyond: No-TN-Validation)
    fetch_ca_file: str = ""  # authorities for the x5u HTTPS servers ("": the system's)


@dataclass(frozen=True)
class TlsSettings:
    """[tls]: the certificate `tls:` listeners present and what outbound TLS trusts."""

    certificate: str = ""  # PEM file: the server certificate (a chain may follow it)
    key: str = ""  # PEM file: its private key
    chain: str = ""  # PEM file of intermediate certificates ("": none, or in certificate)
    ca_file: str = ""  # PEM trust store for gateways' certificates ("": the system's)
    min_version: str = "1.2"  # "1.2" or "1.3"
    ciphers: str = ""  # OpenSSL cipher string for TLS 1.2 ("": Twisted's safe default)
    reload_interval: float = 10.0  # seconds between checks of the files' mtimes (0: off)
    handshake_timeout: float = 10.0  # a connection not through its handshake by then closes
    verify_client: bool = False  # ask phones for a certificate (checked against ca_file)


@dataclass(frozen=True)
class WebhookSettings:
    # Call events (docs/webhooks.md) are POSTed here ("": only to agents' own URLs).
    url: str = ""
    # Signs every delivery (HMAC-SHA256); WEBHOOK_SECRET_ENV wins. Needed for any URL.
    secret: str = ""
    timeout: float = 5.0  # seconds per try
    max_attempts: int = 6  # tries before a delivery has failed
    max_pending: int = 1000  # deliveries waiting at most; the oldest is dropped beyond


@dataclass(frozen=True)
class LogSettings:
    level: str = "info"


@dataclass(frozen=True)
class Settings:
    sip: SipSettings = field(default_factory=SipSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    trunks: TrunkSettings = field(default_factory=TrunkSettings)
    agents: AgentSettings = field(default_factory=AgentSettings)
    log: LogSettings = field(default_factory=LogSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    guard: GuardConfig = field(default_factory=GuardConfig)  # [guard]: rate limits and bans
    stir: StirSettings = field(default_factory=StirSettings)  # [stir]: STIR/SHAKEN
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    recording: RecordingSettings = field(default_factory=RecordingSettings)

    @property
    def admin_token(self) -> str:
        return os.environ.get(TOKEN_ENV) or self.admin.token

    @property
    def secrets_key(self) -> str:
        return os.environ.get(SECRETS_KEY_ENV) or self.database.secrets_key

    @property
    def webhook_secret(self) -> str:
        return os.environ.get(WEBHOOK_SECRET_ENV) or self.webhooks.secret


_SECTIONS = {
    "sip": SipSettings,
    "admin": AdminSettings,
    "database": DatabaseSettings,
    "media": MediaSettings,
    "trunks": TrunkSettings,
    "agents": AgentSettings,
    "log": LogSettings,
    "tls": TlsSettings,
    "guard": GuardConfig,
    "stir": StirSettings,
    "webhooks": WebhookSettings,
    "recording": RecordingSettings,
}
_LOG_LEVELS = ("debug", "info", "warn", "error", "critical")
MAX_JITTER_MS = 1000  # more delay than this is no longer a conversation
MAX_BURST = 50  # one second of 20 ms packets
MAX_CLOSE_DRAIN = 60.0  # seconds of queued agent audio played after the agent closed


def load(path: str | os.PathLike | None = None) -> Settings:
    """Read and validate a TOML file; a missing default file means all defaults."""
    explicit = path is not None
    path = Path(path or DEFAULT_PATH)
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file {path} does not exist")
        return validate({})
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    return validate(raw)


def validate(raw: dict) -> Settings:
    sections = {}
    for name, value in raw.items():
        if name not in _SECTIONS:
            raise ConfigError(f"unknown section [{name}]")
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table")
        sections[name] = _section(name, _SECTIONS[name], value)
    settings = Settings(**sections)
    _check(settings)
    return settings


def _section(name: str, cls, values: dict):
    defaults = cls()
    kwargs = {}
    for key, value in values.items():
        if key not in cls.__dataclass_fields__:
            raise ConfigError(f"unknown key [{name}] {key}")
        expected = type(getattr(defaults, key))
        if expected is tuple:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"[{name}] {key} must be a list of strings")
            value = tuple(value)
        elif expected is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"[{name}] {key} must be a number")
            value = float(value)
        elif expected is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"[{name}] {key} must be an integer")
        elif not isinstance(value, expected):
            raise ConfigError(f"[{name}] {key} must be a {expected.__name__}")
        kwargs[key] = value
    return cls(**kwargs)


def _check_webhooks(w: WebhookSettings) -> None:
    if w.url and not w.url.startswith(("http://", "https://")):
        raise ConfigError("[webhooks] url must be an http:// or https:// URL")
    if not 0 < w.timeout <= 60:
        raise ConfigError("[webhooks] timeout must be between 0 and 60 seconds")
    if not 1 <= w.max_attempts <= 20:
        raise ConfigError("[webhooks] max_attempts must be between 1 and 20")
    if not 1 <= w.max_pending <= 100_000:
        raise ConfigError("[webhooks] max_pending must be between 1 and 100000")


def _check(s: Settings) -> None:
    _check_webhooks(s.webhooks)
    if s.webhooks.url and not s.webhook_secret:
        raise ConfigError(f"[webhooks] url needs a secret ([webhooks] secret or "
                          f"{WEBHOOK_SECRET_ENV}) to sign the deliveries with")
    if not s.sip.listen:
        raise ConfigError("[sip] listen must name at least one transport")
    for spec in s.sip.listen:
        if parse_sip_listen(spec).transport == "tls" and not (s.tls.certificate and s.tls.key):
            raise ConfigError(f"[sip] listen {spec!r} needs [tls] certificate and key")
    _check_tls(s.tls)
    if not 0 < s.sip.t1 <= s.sip.t2:
        raise ConfigError("[sip] t1 must be positive and not above t2")
    if s.sip.t4 <= 0:
        raise ConfigError("[sip] t4 must be positive")
    if not 1024 <= s.sip.max_message_size <= 1_048_576:
        raise ConfigError("[sip] max_message_size must be between 1024 and 1048576")
    if not 0 < s.sip.min_expires <= s.sip.default_expires <= s.sip.max_expires:
        raise ConfigError("[sip] expiry bounds must satisfy 0 < min_expires <= "
                          "default_expires <= max_expires")
    if not 1 <= s.sip.max_contacts_per_aor <= 1000:
        raise ConfigError("[sip] max_contacts_per_aor must be between 1 and 1000")
    if s.sip.contacts_overflow not in ("replace", "reject"):
        raise ConfigError('[sip] contacts_overflow must be "replace" or "reject"')
    if not 1 <= s.sip.max_forks <= 100:
        raise ConfigError("[sip] max_forks must be between 1 and 100")
    if not s.sip.domain:
        raise ConfigError("[sip] domain must not be empty")
    if not s.sip.digest_algorithms or not set(s.sip.digest_algorithms) <= {"MD5", "SHA-256"} \
            or len(set(s.sip.digest_algorithms)) != len(s.sip.digest_algorithms):
        raise ConfigError('[sip] digest_algorithms must list "MD5" and/or "SHA-256" once each')
    if s.sip.drain_timeout < 0:
        raise ConfigError("[sip] drain_timeout must not be negative")
    if s.sip.min_se < 90:
        raise ConfigError("[sip] min_se must be at least 90 (RFC 4028)")
    if s.sip.session_expires and s.sip.session_expires < s.sip.min_se:
        raise ConfigError("[sip] session_expires must be 0 (off) or at least min_se")
    if s.sip.tcp_max_connections < 1:
        raise ConfigError("[sip] tcp_max_connections must be at least 1")
    if s.sip.tcp_max_connections_per_address < 1:
        raise ConfigError("[sip] tcp_max_connections_per_address must be at least 1")
    if not 0 < s.sip.tcp_message_timeout <= 300:
        raise ConfigError("[sip] tcp_message_timeout must be between 0 and 300 seconds")
    if s.sip.tcp_idle_timeout <= 0:
        raise ConfigError("[sip] tcp_idle_timeout must be positive")
    if not s.admin.listen:
        raise ConfigError("[admin] listen must not be empty")
    check_admin_token(s.admin_token)
    if s.admin.max_connections < 1:
        raise ConfigError("[admin] max_connections must be at least 1")
    if not 0 < s.admin.header_timeout <= 300:
        raise ConfigError("[admin] header_timeout must be between 0 and 300 seconds")
    if s.admin.bad_token_limit < 1:
        raise ConfigError("[admin] bad_token_limit must be at least 1")
    if not 0 < s.admin.bad_token_block <= 86400:
        raise ConfigError("[admin] bad_token_block must be between 0 and 86400 seconds")
    if "://" not in s.database.url:
        raise ConfigError("[database] url must be an SQLAlchemy URL such as sqlite:///var/x.db")
    if s.database.threads < 1:
        raise ConfigError("[database] threads must be at least 1")
    if s.database.reload_interval <= 0:
        raise ConfigError("[database] reload_interval must be positive")
    if s.secrets_key:
        try:
            SecretBox(s.secrets_key)
        except ValueError as exc:
            raise ConfigError(f"[database] secrets_key ({SECRETS_KEY_ENV}): {exc}") from None
    elif not s.database.secrets_key_file:
        raise ConfigError("[database] secrets_key or secrets_key_file must be set")
    for key in ("bind",) + (("advertise",) if s.media.advertise else ()):
        try:
            ipaddress.ip_address(getattr(s.media, key))
        except ValueError:
            raise ConfigError(f"[media] {key} must be an IP address") from None
    if s.media.inactivity_timeout <= 0:
        raise ConfigError("[media] inactivity_timeout must be positive")
    if not 1024 <= s.media.port_min < s.media.port_max <= 65535:
        raise ConfigError("[media] port_min and port_max must satisfy "
                          "1024 <= port_min < port_max <= 65535")
    if s.trunks.probe_interval <= 0:
        raise ConfigError("[trunks] probe_interval must be positive")
    if s.trunks.probe_failures < 1 or s.trunks.probe_successes < 1:
        raise ConfigError("[trunks] probe_failures and probe_successes must be at least 1")
    if s.trunks.registration_expires < 60:
        raise ConfigError("[trunks] registration_expires must be at least 60")
    for spec in s.trunks.dns_servers:
        try:
            parse_dns_server(spec)
        except ValueError as exc:
            raise ConfigError(f"[trunks] dns_servers: {exc}") from None
    if not 0 < s.trunks.dns_timeout <= 30:
        raise ConfigError("[trunks] dns_timeout must be between 0 and 30 seconds")
    if not 0 < s.agents.connect_timeout <= 60:
        raise ConfigError("[agents] connect_timeout must be between 0 and 60 seconds")
    for key in ("transfer_ring_timeout", "outbound_ring_timeout", "outbound_max_queue_wait",
                "refer_notify_timeout"):
        value = getattr(s.agents, key)
        if not (0 < value and math.isfinite(value)):
            raise ConfigError(f"[agents] {key} must be a positive number of seconds")
    _check_agent_media(s.agents)
    try:
        check_preference(s.agents.codecs)
    except ValueError as exc:
        raise ConfigError(f"[agents] codecs: {exc}") from None
    if s.agents.transfer_ringback not in RINGBACK_CHOICES:
        raise ConfigError("[agents] transfer_ringback must be one of "
                          + ", ".join(f'"{c}"' for c in RINGBACK_CHOICES))
    if s.agents.echo_number and not is_e164(s.agents.echo_number):
        raise ConfigError('[agents] echo_number must be an E.164 number such as '
                          '"+10000000000", or "" for none')
    if s.log.level not in _LOG_LEVELS:
        raise ConfigError(f"[log] level must be one of {', '.join(_LOG_LEVELS)}")
    _check_guard(s.guard)
    _check_stir(s.stir)
    _check_recording(s.recording)


def _check_stir(st: StirSettings) -> None:
    if bool(st.certificate_url) != bool(st.key_file):
        raise ConfigError("[stir] certificate_url and key_file go together (both or neither)")
    if st.certificate_url and not st.certificate_url.startswith("https://"):
        raise ConfigError("[stir] certificate_url must be an https:// URL")
    if not 0 < st.max_iat_age <= 3600:
        raise ConfigError("[stir] max_iat_age must be between 0 and 3600 seconds")
    if not 1 <= st.cache_size <= 1_000_000:
        raise ConfigError("[stir] cache_size must be between 1 and 1000000")
    for key in ("cache_ttl", "failure_ttl"):
        if not 0 < getattr(st, key) <= 86400:
            raise ConfigError(f"[stir] {key} must be between 0 and 86400 seconds")
    if not 0 < st.fetch_timeout <= 30:
        raise ConfigError("[stir] fetch_timeout must be between 0 and 30 seconds")
    if not 1024 <= st.fetch_max_bytes <= 1_048_576:
        raise ConfigError("[stir] fetch_max_bytes must be between 1024 and 1048576")
    if not 1 <= st.max_fetches <= 10_000:
        raise ConfigError("[stir] max_fetches must be between 1 and 10000")


def _check_recording(r: RecordingSettings) -> None:
    if not r.directory:
        raise ConfigError("[recording] directory must not be empty")
    if not 0 <= r.retention_days <= 36500:
        raise ConfigError("[recording] retention_days must be between 0 (kept) and 36500")
    if not 60 <= r.sweep_interval <= 86400:
        raise ConfigError("[recording] sweep_interval must be between 60 and 86400 seconds")
    if not 10 <= r.max_queue <= 1_000_000:
        raise ConfigError("[recording] max_queue must be between 10 and 1000000")


def _check_guard(g: GuardConfig) -> None:
    for key in ("register_rate", "invite_rate", "other_rate"):
        if not 0 < getattr(g, key) < math.inf:
            raise ConfigError(f"[guard] {key} must be a positive number per second")
    if not 0 <= g.trunk_rate < math.inf:
        raise ConfigError("[guard] trunk_rate must not be negative (0: not limited)")
    for key in ("register_burst", "invite_burst", "other_burst", "trunk_burst",
                "max_sources", "max_bans"):
        if getattr(g, key) < 1:
            raise ConfigError(f"[guard] {key} must be at least 1")
    for key in ("flood_drops", "auth_failures"):
        if getattr(g, key) < 0:
            raise ConfigError(f"[guard] {key} must not be negative (0: never ban for it)")
    for key in ("flood_window", "auth_window", "ban_time", "offence_memory"):
        if not 0 < getattr(g, key) < math.inf:
            raise ConfigError(f"[guard] {key} must be a positive number of seconds")
    if not 1 <= g.ban_growth <= 100:
        raise ConfigError("[guard] ban_growth must be between 1 and 100")
    if not g.ban_time <= g.max_ban_time < math.inf:
        raise ConfigError("[guard] max_ban_time must not be below ban_time")
    for spec in g.allow:
        try:
            ipaddress.ip_network(spec, strict=False)
        except ValueError:
            raise ConfigError(f"[guard] allow: {spec!r} is not an address or CIDR") from None
    if any(not agent.strip() for agent in g.scanner_user_agents):
        raise ConfigError("[guard] scanner_user_agents must not hold an empty string")


def check_admin_token(token: str) -> None:
    """A bootstrap token must be long enough not to be guessed; "" means none."""
    if token and len(token.strip()) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"the admin bootstrap token ({TOKEN_ENV} or [admin] token) has "
            f"{len(token.strip())} characters; at least {MIN_TOKEN_LENGTH} are needed, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'")


def _check_agent_media(agents: AgentSettings) -> None:
    low, target, high = agents.jitter_min_ms, agents.jitter_target_ms, agents.jitter_max_ms
    if low < 0:
        raise ConfigError("[agents] jitter_min_ms must not be negative")
    if high > MAX_JITTER_MS:
        raise ConfigError(f"[agents] jitter_max_ms must be at most {MAX_JITTER_MS}")
    if high < low:
        raise ConfigError(f"[agents] jitter_max_ms ({high}) must not be below "
                          f"jitter_min_ms ({low})")
    if not low <= target <= high:
        raise ConfigError(f"[agents] jitter_target_ms ({target}) must be between "
                          f"jitter_min_ms ({low}) and jitter_max_ms ({high})")
    if not 0 <= agents.close_drain_timeout <= MAX_CLOSE_DRAIN:
        raise ConfigError("[agents] close_drain_timeout must be between 0 and "
                          f"{MAX_CLOSE_DRAIN:g} seconds")
    if not 1 <= agents.max_burst <= MAX_BURST:
        raise ConfigError(f"[agents] max_burst must be between 1 and {MAX_BURST}")
    if agents.ca_file and not os.path.isfile(agents.ca_file):
        raise ConfigError(f"[agents] ca_file {agents.ca_file!r} is not a file")


def _check_tls(tls: TlsSettings) -> None:
    for key in ("certificate", "key", "chain", "ca_file"):
        path = getattr(tls, key)
        if path and not os.path.isfile(path):
            raise ConfigError(f"[tls] {key} {path!r} is not a file")
    if bool(tls.certificate) != bool(tls.key):
        raise ConfigError("[tls] certificate and key go together")
    if tls.min_version not in ("1.2", "1.3"):
        raise ConfigError('[tls] min_version must be "1.2" or "1.3"')
    if tls.reload_interval < 0:
        raise ConfigError("[tls] reload_interval must not be negative")
    if not 0 < tls.handshake_timeout <= 120:
        raise ConfigError("[tls] handshake_timeout must be between 0 and 120 seconds")


LISTEN_TRANSPORTS = ("udp", "tcp", "tls")


@dataclass(frozen=True)
class ListenSpec:
    transport: str  # "udp", "tcp" or "tls"
    host: str
    port: int


def parse_sip_listen(spec: str) -> ListenSpec:
    """'udp:0.0.0.0:5060', 'tcp:[::1]:5060', 'tls:0.0.0.0:5061' -> ListenSpec."""
    transport, _, rest = spec.partition(":")
    transport = transport.lower()
    if transport not in LISTEN_TRANSPORTS:
        raise ConfigError(f"[sip] listen {spec!r}: transport must be udp, tcp or tls")
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise ConfigError(f"[sip] listen {spec!r} must look like udp:0.0.0.0:5060") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"[sip] listen {spec!r}: port out of range")
    return ListenSpec(transport, host, number)


DNS_PORT = 53


def parse_dns_server(spec: str) -> tuple[str, int]:
    """'192.0.2.53', '192.0.2.53:5353', '[2001:db8::53]:5353' -> (address, port)."""
    if spec.startswith("["):
        address, _, rest = spec[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{spec!r} must look like [2001:db8::53]:53")
        port = rest[1:] or None
    elif spec.count(":") == 1:
        address, _, port = spec.partition(":")
    else:
        address, port = spec, None
    try:
        ipaddress.ip_address(address)
        number = DNS_PORT if port is None else int(port)
    except ValueError:
        raise ValueError(f"{spec!r} must be an IP address with an optional :port") from None
    if not 1 <= number <= 65535:
        raise ValueError(f"{spec!r}: port out of range")
    return address, number
