"""Configuration loading: defaults, types, and one clear line per mistake."""

from pathlib import Path

import pytest

from softswitch import config
from softswitch.config import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    path = tmp_path / "softswitch.toml"
    path.write_text(text)
    return path


def test_the_shipped_file_documents_exactly_the_defaults():
    shipped = config.load(REPO / "etc" / "softswitch.toml")
    assert shipped == config.validate({})


def test_every_key_is_documented_in_the_shipped_file():
    import tomllib
    raw = tomllib.loads((REPO / "etc" / "softswitch.toml").read_text())
    defaults = config.validate({})
    for section in ("sip", "admin", "database", "media", "trunks", "agents", "log", "guard",
                    "stir", "tls", "webhooks", "recording"):
        fields = getattr(defaults, section).__dataclass_fields__
        assert set(raw[section]) == set(fields), section


def test_missing_default_file_means_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config.load() == config.validate({})


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.toml")


@pytest.mark.parametrize("text, message", [
    ("[sip]\nfoo = 1\n", r"unknown key \[sip\] foo"),
    ("[nonsense]\n", r"unknown section \[nonsense\]"),
    ("[sip]\nt1 = 'fast'\n", r"\[sip\] t1 must be a number"),
    ("[sip]\nmax_message_size = 1.5\n", r"\[sip\] max_message_size must be an integer"),
    ("[sip]\nlisten = 'udp:0.0.0.0:5060'\n", r"\[sip\] listen must be a list of strings"),
    ("[sip]\nlisten = ['sctp:0.0.0.0:5060']\n", r"transport must be udp, tcp or tls"),
    ("[sip]\nlisten = ['udp:example.com:5060']\n", r"must look like"),
    ("[sip]\nlisten = ['tls:0.0.0.0:5061']\n", r"needs \[tls\] certificate and key"),
    ("[tls]\ncertificate = '/nonexistent.pem'\n", r"\[tls\] certificate '/nonexistent.pem' is not"),
    ("[tls]\nmin_version = '1.0'\n", r"\[tls\] min_version must be"),
    ("[tls]\nhandshake_timeout = 0\n", r"\[tls\] handshake_timeout must be between"),
    ("[sip]\nt1 = 5.0\nt2 = 4.0\n", r"t1 must be positive and not above t2"),
    ("[sip]\nmin_expires = 100\ndefault_expires = 50\n", r"expiry bounds"),
    ("[media]\nport_min = 30000\nport_max = 20000\n", r"port_min and port_max"),
    ("[media]\nbind = 'nowhere'\n", r"\[media\] bind must be an IP address"),
    ("[database]\nurl = 'var/x.db'\n", r"\[database\] url must be an SQLAlchemy URL"),
    ("[log]\nlevel = 'loud'\n", r"\[log\] level must be one of"),
    ("[sip\n", r"softswitch.toml"),
    ("[admin]\ntoken = 5\n", r"\[admin\] token must be a str"),
    ("[agents]\necho_number = '10000000000'\n", r"\[agents\] echo_number must be an E.164"),
    ("[agents]\necho_number = 1\n", r"\[agents\] echo_number must be a str"),
    ("[agents]\ntransfer_ring_timeout = 0\n",
     r"^\[agents\] transfer_ring_timeout must be a positive number of seconds$"),
    ("[agents]\noutbound_ring_timeout = -5\n",
     r"^\[agents\] outbound_ring_timeout must be a positive number of seconds$"),
    ("[agents]\noutbound_max_queue_wait = inf\n",
     r"^\[agents\] outbound_max_queue_wait must be a positive number of seconds$"),
    ("[agents]\noutbound_max_queue_wait = nan\n",
     r"^\[agents\] outbound_max_queue_wait must be a positive number of seconds$"),
    ("[agents]\ntransfer_ring_timeout = '30'\n",
     r"\[agents\] transfer_ring_timeout must be a number"),
    ("[agents]\nrefer_notify_timeout = -1\n",
     r"^\[agents\] refer_notify_timeout must be a positive number of seconds$"),
    ("[agents]\nrefer_fallback = 'yes'\n", r"\[agents\] refer_fallback must be a bool"),
    ("[agents]\njitter_min_ms = -1\n", r"^\[agents\] jitter_min_ms must not be negative$"),
    ("[agents]\njitter_max_ms = 1001\n", r"^\[agents\] jitter_max_ms must be at most 1000$"),
    ("[agents]\njitter_min_ms = 80\njitter_max_ms = 40\n",
     r"^\[agents\] jitter_max_ms \(40\) must not be below jitter_min_ms \(80\)$"),
    ("[agents]\njitter_target_ms = 10\n",
     r"^\[agents\] jitter_target_ms \(10\) must be between jitter_min_ms \(20\) and "
     r"jitter_max_ms \(200\)$"),
    ("[agents]\njitter_target_ms = 250\n", r"^\[agents\] jitter_target_ms \(250\) must be"),
    ("[agents]\njitter_target_ms = 60.5\n", r"\[agents\] jitter_target_ms must be an integer"),
    ("[agents]\nmax_burst = 0\n", r"^\[agents\] max_burst must be between 1 and 50$"),
    ("[agents]\nmax_burst = 51\n", r"^\[agents\] max_burst must be between 1 and 50$"),
    ("[agents]\nmax_burst = true\n", r"\[agents\] max_burst must be an integer"),
    ("[agents]\ntransfer_ringback = 'fr'\n",
     r'^\[agents\] transfer_ringback must be one of "us", "uk", "eu", "silence"$'),
    ("[agents]\ntransfer_ringback = 'US'\n", r"\[agents\] transfer_ringback must be one of"),
    ("[agents]\ntransfer_ringback = 1\n", r"\[agents\] transfer_ringback must be a str"),
    ("[guard]\nregister_rate = 0\n", r"^\[guard\] register_rate must be a positive number"),
    ("[guard]\nother_rate = inf\n", r"^\[guard\] other_rate must be a positive number"),
    ("[guard]\ntrunk_rate = -1\n", r"^\[guard\] trunk_rate must not be negative"),
    ("[guard]\ninvite_burst = 0\n", r"^\[guard\] invite_burst must be at least 1$"),
    ("[guard]\nmax_sources = 0\n", r"^\[guard\] max_sources must be at least 1$"),
    ("[guard]\nauth_failures = -1\n", r"^\[guard\] auth_failures must not be negative"),
    ("[guard]\nban_time = 0\n", r"^\[guard\] ban_time must be a positive number of seconds$"),
    ("[guard]\nban_growth = 0.5\n", r"^\[guard\] ban_growth must be between 1 and 100$"),
    ("[guard]\nban_time = 100\nmax_ban_time = 50\n",
     r"^\[guard\] max_ban_time must not be below ban_time$"),
    ("[guard]\nallow = ['10.0.0.0/33']\n", r"^\[guard\] allow: '10.0.0.0/33' is not an address"),
    ("[guard]\nallow = '10.0.0.0/8'\n", r"\[guard\] allow must be a list of strings"),
    ("[guard]\nscanner_user_agents = ['']\n",
     r"^\[guard\] scanner_user_agents must not hold an empty string$"),
    ("[guard]\nenabled = 'yes'\n", r"\[guard\] enabled must be a bool"),
    ("[guard]\nbans = 1\n", r"unknown key \[guard\] bans"),
    ("[agents]\nclose_drain_timeout = -1\n",
     r"^\[agents\] close_drain_timeout must be between 0 and 60 seconds$"),
    ("[agents]\nclose_drain_timeout = 61\n",
     r"^\[agents\] close_drain_timeout must be between 0 and 60 seconds$"),
    ("[agents]\nclose_drain_timeout = nan\n", r"^\[agents\] close_drain_timeout must be"),
    ("[stir]\ncertificate_url = 'https://sti.example/sp.pem'\n",
     r"^\[stir\] certificate_url and key_file go together \(both or neither\)$"),
    ("[stir]\ncertificate_url = 'http://sti.example/sp.pem'\nkey_file = 'k.pem'\n",
     r"^\[stir\] certificate_url must be an https:// URL$"),
    ("[stir]\nmax_iat_age = 0\n", r"^\[stir\] max_iat_age must be between 0 and 3600"),
    ("[stir]\ncache_size = 0\n", r"^\[stir\] cache_size must be between 1 and 1000000$"),
    ("[stir]\nfailure_ttl = -1\n", r"^\[stir\] failure_ttl must be between 0 and 86400"),
    ("[stir]\nfetch_timeout = 31\n", r"^\[stir\] fetch_timeout must be between 0 and 30"),
    ("[stir]\nfetch_max_bytes = 10\n", r"^\[stir\] fetch_max_bytes must be between"),
    ("[stir]\nmax_fetches = 0\n", r"^\[stir\] max_fetches must be between 1 and 10000$"),
    ("[sip]\nmin_se = 89\n", r"^\[sip\] min_se must be at least 90 \(RFC 4028\)$"),
    ("[webhooks]\nurl = 'ftp://h/'\n", r"^\[webhooks\] url must be an http:// or https://"),
    ("[webhooks]\nurl = 'http://h/'\n", r"^\[webhooks\] url needs a secret"),
    ("[webhooks]\ntimeout = 0\n", r"^\[webhooks\] timeout must be between 0 and 60"),
    ("[webhooks]\nmax_attempts = 0\n", r"^\[webhooks\] max_attempts must be between"),
    ("[webhooks]\nmax_pending = 0\n", r"^\[webhooks\] max_pending must be between"),
    ("[sip]\nsession_expires = 60\n",
     r"^\[sip\] session_expires must be 0 \(off\) or at least min_se$"),
])
def test_bad_values_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as caught:
        config.load(write(tmp_path, text))
    assert "\n" not in str(caught.value)


def test_values_are_read(tmp_path):
    settings = config.load(write(tmp_path, "[sip]\nlisten = ['tcp:[::1]:5070']\nt1 = 1\n"))
    assert settings.sip.t1 == 1.0
    assert config.parse_sip_listen(settings.sip.listen[0]) == config.ListenSpec("tcp", "::1", 5070)


FILE_TOKEN = "from-file-" + "f" * 32
ENV_TOKEN = "from-env-" + "e" * 32


def test_admin_token_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.delenv(config.TOKEN_ENV, raising=False)
    settings = config.load(write(tmp_path, f"[admin]\ntoken = '{FILE_TOKEN}'\n"))
    assert settings.admin_token == FILE_TOKEN
    monkeypatch.setenv(config.TOKEN_ENV, ENV_TOKEN)
    assert settings.admin_token == ENV_TOKEN


def test_a_short_bootstrap_token_is_refused_at_start_up(tmp_path, monkeypatch):
    monkeypatch.delenv(config.TOKEN_ENV, raising=False)
    with pytest.raises(config.ConfigError, match="has 10 characters; at least 32"):
        config.load(write(tmp_path, "[admin]\ntoken = 'short-0123'\n"))
    monkeypatch.setenv(config.TOKEN_ENV, "x" * 31)
    with pytest.raises(config.ConfigError, match="SOFTSWITCH_ADMIN_TOKEN"):
        config.load(write(tmp_path, "[log]\nlevel = 'info'\n"))
    monkeypatch.setenv(config.TOKEN_ENV, "x" * 32)
    assert config.load(write(tmp_path, "[log]\nlevel = 'info'\n")).admin_token == "x" * 32


def test_the_echo_demo_number_is_on_by_default_and_empty_turns_it_off(tmp_path):
    assert config.validate({}).agents.echo_number == "+10000000000"
    settings = config.load(write(tmp_path, "[agents]\necho_number = ''\n"))
    assert settings.agents.echo_number == ""


def test_the_agent_timeouts_default_to_the_services_own_and_are_read(tmp_path):
    from softswitch.services import outbound_calls, transfers
    agents = config.validate({}).agents
    assert agents.transfer_ring_timeout == transfers.DEFAULT_RING_TIMEOUT
    assert agents.outbound_ring_timeout == outbound_calls.DEFAULT_RING_TIMEOUT
    assert agents.outbound_max_queue_wait == outbound_calls.DEFAULT_MAX_QUEUE_WAIT
    settings = config.load(write(tmp_path, "[agents]\ntransfer_ring_timeout = 2\n"
                                           "outbound_ring_timeout = 1.5\n"
                                           "outbound_max_queue_wait = 10\n"))
    assert (settings.agents.transfer_ring_timeout, settings.agents.outbound_ring_timeout,
            settings.agents.outbound_max_queue_wait) == (2.0, 1.5, 10.0)


def test_the_agent_media_settings_default_to_the_bridges_own_and_are_read(tmp_path):
    import inspect

    from softswitch.agent.bridge import AgentBridge
    defaults = inspect.signature(AgentBridge).parameters
    agents = config.validate({}).agents
    assert (agents.jitter_min_ms, agents.jitter_target_ms, agents.jitter_max_ms,
            agents.max_burst) == tuple(defaults[name].default for name in (
                "min_delay_ms", "target_ms", "max_delay_ms", "max_burst"))
    settings = config.load(write(tmp_path, "[agents]\njitter_min_ms = 0\n"
                                           "jitter_target_ms = 0\njitter_max_ms = 1000\n"
                                           "max_burst = 1\n"))
    assert (settings.agents.jitter_min_ms, settings.agents.jitter_target_ms,
            settings.agents.jitter_max_ms, settings.agents.max_burst) == (0, 0, 1000, 1)


def test_the_close_drain_timeout_is_5_s_by_default_and_read(tmp_path):
    from softswitch.edge.agent.sessions import AgentSessionFactory
    assert config.validate({}).agents.close_drain_timeout == 5.0
    assert AgentSessionFactory.__init__.__kwdefaults__["close_drain_timeout"] == 5.0
    settings = config.load(write(tmp_path, "[agents]\nclose_drain_timeout = 0\n"))
    assert settings.agents.close_drain_timeout == 0


def test_the_transfer_ringback_is_us_by_default_and_read(tmp_path):
    from softswitch.edge.agent.sessions import AgentSessionFactory
    assert config.validate({}).agents.transfer_ringback == "us"
    assert AgentSessionFactory.__init__.__kwdefaults__["ringback"] == "us"
    for name in ("uk", "eu", "silence"):
        settings = config.load(write(tmp_path, f"[agents]\ntransfer_ringback = '{name}'\n"))
        assert settings.agents.transfer_ringback == name


def test_the_guard_settings_are_read(tmp_path):
    guard = config.load(write(tmp_path, "[guard]\nallow = ['10.0.0.0/8', '2001:db8::/32']\n"
                                        "scanner_user_agents = []\nregister_rate = 5\n"
                                        "auth_failures = 0\n")).guard
    assert guard.allow == ("10.0.0.0/8", "2001:db8::/32")
    assert guard.scanner_user_agents == ()
    assert (guard.register_rate, guard.auth_failures, guard.enabled) == (5.0, 0, True)


def test_session_timers_are_on_by_default_and_zero_turns_them_off(tmp_path):
    from softswitch.compose.calls import session_timer_config
    on = session_timer_config(config.validate({}).sip)
    assert (on.session_expires, on.min_se) == (1800, 90)
    off = config.load(write(tmp_path, "[sip]\nsession_expires = 0\n"))
    assert session_timer_config(off.sip) is None


def test_sdes_over_insecure_signalling_is_off_unless_set(tmp_path):
    assert config.validate({}).media.allow_sdes_over_insecure is False
    loaded = config.load(write(tmp_path, "[media]\nallow_sdes_over_insecure = true\n"))
    assert loaded.media.allow_sdes_over_insecure is True
    with pytest.raises(ConfigError, match="allow_sdes_over_insecure"):
        config.load(write(tmp_path, "[media]\nallow_sdes_over_insecure = \"yes\"\n"))


def test_the_webhook_secret_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.delenv(config.WEBHOOK_SECRET_ENV, raising=False)
    settings = config.load(write(tmp_path, "[webhooks]\nurl = 'https://h.example/'\n"
                                           "secret = 'file'\n"))
    assert (settings.webhooks.url, settings.webhook_secret) == ("https://h.example/", "file")
    monkeypatch.setenv(config.WEBHOOK_SECRET_ENV, "env")
    assert settings.webhook_secret == "env"
    assert config.load(write(tmp_path, "[webhooks]\nurl = 'http://h/'\n")).webhooks.url
