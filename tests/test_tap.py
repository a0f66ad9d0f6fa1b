"""The composition root (tap.build_service) on a MemoryReactorClock: the [agents]
timeouts and media settings reach the services that use them, the relay's inactivity
reaches outbound calls too, and the drain refuses new calls of every kind and waits
for the agent and outbound calls as for proxied ones."""

import pytest
from twisted.internet.testing import MemoryReactorClock

from softswitch import config
from softswitch.services.outbound_calls import SwitchDraining
from softswitch.tap import build_service


def build(tmp_path, **sections):
    sections.setdefault("agents", {})
    sections["agents"].setdefault("echo_number", "")
    sections.setdefault("database", {})
    sections["database"].setdefault("url", f"sqlite:///{tmp_path / 's.db'}")
    sections["database"].setdefault("secrets_key_file", str(tmp_path / "secrets.key"))
    settings = config.validate(sections)
    return build_service(settings, MemoryReactorClock())


def test_the_agent_timeouts_of_the_configuration_reach_the_services(tmp_path):
    root = build(tmp_path, agents={"transfer_ring_timeout": 2.5, "outbound_ring_timeout": 4.0,
                                   "outbound_max_queue_wait": 7.0})
    outbound = root.drain_calls.outbound
    assert (outbound.ring_timeout, outbound.max_queue_wait) == (4.0, 7.0)
    assert outbound.transfers.ring_timeout == 2.5


def test_the_agent_media_settings_of_the_configuration_reach_the_sessions(tmp_path):
    root = build(tmp_path, agents={"jitter_min_ms": 10, "jitter_target_ms": 80,
                                   "jitter_max_ms": 300, "max_burst": 2})
    sessions = root.drain_calls.outbound._sessions
    assert sessions.bridge_options == {"min_delay_ms": 10, "target_ms": 80,
                                       "max_delay_ms": 300, "max_burst": 2}


def test_the_relays_inactivity_reaches_outbound_calls_too(tmp_path):
    root = build(tmp_path)
    owners = root.drain_calls.proxy.media_owners
    assert root.drain_calls.outbound.context.media_owners is owners
    assert root.drain_calls.proxy.agent_calls.context.media_owners is owners


def test_one_in_dialog_router_serves_proxied_agent_and_uac_dialogs(tmp_path):
    root = build(tmp_path)
    proxy = root.drain_calls.proxy
    assert proxy.agent_calls.legs._router is proxy.dialog_router
    assert root.drain_calls.outbound._legs is proxy.agent_calls.legs


def test_the_drain_refuses_new_calls_and_ends_at_once_without_calls(tmp_path):
    root = build(tmp_path, sip={"drain_timeout": 3.0})
    drain = root.drain_calls
    assert drain.timeout == 3.0
    done = []
    root.drain().addBoth(done.append)
    assert done == [None]  # nothing to wait for
    assert drain.dispatcher.draining and drain.outbound.draining
    with pytest.raises(SwitchDraining):
        drain.outbound.originate("+12025550150", "+14155550100", "anyone")


def test_a_first_start_makes_a_private_database_and_key_and_seals_secrets_in_clear(tmp_path):
    import os
    import stat

    import sqlalchemy as sa

    from softswitch.store import migrate
    url = f"sqlite:///{tmp_path / 's.db'}"
    migrate.upgrade(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO trunks (name, inbound_allowed_sources, auth_password, register, "
            "number_format, enabled, created_at, updated_at) "
            "VALUES ('t', '[]', 'in-clear-password', false, 'e164', true, 1, 1)"))
    build(tmp_path)
    with engine.begin() as conn:
        stored = conn.execute(sa.text("SELECT auth_password FROM trunks")).scalar_one()
    engine.dispose()
    assert stored.startswith("fernet:")
    for name in ("s.db", "secrets.key"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name
    build(tmp_path)  # the same key again: it opens what it sealed


def test_a_key_that_cannot_open_the_stored_secrets_stops_start_up(tmp_path, monkeypatch):
    from cryptography.fernet import Fernet
    build(tmp_path)
    root = build(tmp_path)
    assert root is not None
    from softswitch.store import trunks
    from softswitch.store.database import Database
    from softswitch.store.secret_box import SecretBox
    key = (tmp_path / "secrets.key").read_text().strip()
    database = Database(f"sqlite:///{tmp_path / 's.db'}", None, secret_box=SecretBox(key))
    database.run_sync(trunks.create_trunk, {
        "name": "t", "inbound_allowed_sources": [], "auth_password": "p", "register": False,
        "number_format": "e164", "enabled": True}, [])
    database.engine.dispose()
    monkeypatch.setenv(config.SECRETS_KEY_ENV, Fernet.generate_key().decode())
    with pytest.raises(Exception, match="same \\[database\\] secrets_key"):
        build(tmp_path)


def test_regions_of_each_snapshot_reach_the_relay_of_proxied_and_agent_calls(tmp_path):
    from softswitch.services.routing import Region, RoutingSnapshot
    from softswitch.compose.media import RegionFollower, build_relay

    root = build(tmp_path)
    proxy = root.drain_calls.proxy
    sessions = root.drain_calls.outbound._sessions
    relay = proxy._media._relay  # (behind the recorder's media control)
    assert sessions._media._relay is relay  # one relay: what reaches it reaches both
    settings = root.settings
    follower = RegionFollower(settings, relay, RoutingSnapshot())
    west = Region("west", "127.0.0.1", "192.0.2.7", 41000, 41099)
    follower.snapshot_changed(RoutingSnapshot(regions=[west]))
    assert sorted(relay.region_names()) == ["default", "west"]
    moved = Region("west", "127.0.0.1", "192.0.2.7", 42000, 42099)
    broken = Region("broken", "not-an-address", "192.0.2.7", 43000, 43099)
    follower.snapshot_changed(RoutingSnapshot(regions=[moved, broken]))  # broken: logged
    assert sorted(relay.region_names()) == ["default", "west"]
    assert relay.port_pairs_free("west") == 50
    follower.snapshot_changed(RoutingSnapshot())
    assert relay.region_names() == ["default"]
    assert build_relay(settings, RoutingSnapshot(regions=[west]),
                       MemoryReactorClock()).region_names() == ["default", "west"]
