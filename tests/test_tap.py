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
    settings = config.validate({"database": {"url": f"sqlite:///{tmp_path / 's.db'}"},
                                **sections})
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
    assert root.drain_calls.outbound._media_owners is owners
    assert root.drain_calls.proxy.agent_calls._media_owners is owners


def test_one_in_dialog_router_serves_proxied_agent_and_uac_dialogs(tmp_path):
    root = build(tmp_path)
    proxy = root.drain_calls.proxy
    assert proxy.agent_calls._dialog_router is proxy.dialog_router
    assert proxy.agent_calls.legs._router is proxy.dialog_router


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
