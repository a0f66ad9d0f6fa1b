"""The guard's policy on its own: budgets, flood and credential bans growing on
repeat, scanners, the allow-list, trunks, and every table bounded. Time is a
parameter; no clock, no sockets."""

import pytest

from softswitch.services.guard import GuardConfig, GuardPolicy, MAX_EVENTS

T0 = 1_700_000_000.0
ATTACKER = "203.0.113.7"
PHONE = "192.0.2.10"


def request(method: str = "REGISTER", user_agent: str = "Yealink SIP-T46S") -> bytes:
    return (f"{method} sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.7;branch=z9hG4bK1\r\n"
            f"From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: x\r\n"
            f"CSeq: 1 {method}\r\nUser-Agent: {user_agent}\r\nContent-Length: 0\r\n\r\n").encode()


def policy(**settings) -> GuardPolicy:
    return GuardPolicy(GuardConfig(**settings))


def send(guard, n, method="REGISTER", host=ATTACKER, now=T0, **kw):
    data = request(method, **kw)
    return [guard.check(data, host, now) for _ in range(n)]


def kinds(guard):
    return [(e.kind, e.source, e.reason) for e in guard.pop_events()]


def test_a_burst_is_let_through_then_the_source_waits_for_its_budget():
    guard = policy(register_rate=10, register_burst=20, flood_drops=0)
    assert send(guard, 20) == [None] * 20
    assert send(guard, 3) == ["rate"] * 3
    assert send(guard, 1, now=T0 + 0.125) == [None]  # 10/s: a token back every 0.1 s
    assert send(guard, 1, now=T0 + 0.125) == ["rate"]
    assert guard.dropped["rate"] == 4
    # One line for the whole episode, not one per message.
    assert kinds(guard) == [("rate-limited", ATTACKER, "over budget")]


def test_register_invite_and_other_methods_have_separate_budgets():
    guard = policy(register_burst=5, invite_burst=5, other_burst=5, flood_drops=0)
    assert send(guard, 6)[-1] == "rate"
    assert send(guard, 5, "INVITE") == [None] * 5
    assert send(guard, 5, "OPTIONS") == [None] * 5
    assert send(guard, 1, "BYE") == ["rate"]  # OPTIONS, BYE, ACK... share one
    assert guard.check(b"SIP/2.0 200 OK\r\n\r\n", ATTACKER, T0) == "rate"  # responses too


def test_each_source_has_its_own_budget():
    guard = policy(register_burst=2, flood_drops=0)
    send(guard, 3)
    assert send(guard, 2, host=PHONE) == [None, None]


def test_a_flood_is_banned_and_then_dropped_before_anything_is_read():
    guard = policy(register_burst=10, flood_drops=50, ban_time=60)
    verdicts = send(guard, 100)
    assert verdicts[:10] == [None] * 10
    assert verdicts[10:60] == ["rate"] * 50  # the 50th drop bans
    assert verdicts[60:] == ["banned"] * 40
    assert guard.check(b"\x00garbage", ATTACKER, T0 + 1) == "banned"
    [ban] = guard.bans()
    assert (ban.address, ban.reason, ban.until, ban.dropped) == (ATTACKER, "flood", T0 + 60, 41)
    assert ("banned", ATTACKER, "flood") in kinds(guard)
    assert guard.bans_total["flood"] == 1


def test_drops_spread_over_more_than_the_window_are_no_flood():
    guard = policy(register_rate=1, register_burst=1, flood_drops=5, flood_window=10)
    for second in range(0, 100, 3):  # two messages every 3 s: one over budget each time
        send(guard, 2, now=T0 + second)
    assert guard.bans() == []


def test_a_ban_lifts_after_its_time_and_grows_on_each_repeat_up_to_the_cap():
    guard = policy(register_burst=1, flood_drops=1, ban_time=10, ban_growth=3,
                   max_ban_time=50)
    lengths = []
    now = T0
    for _ in range(4):
        send(guard, 2, now=now)
        [ban] = guard.bans()
        lengths.append(ban.until - ban.since)
        assert send(guard, 1, now=ban.until - 0.001) == ["banned"]
        now = ban.until + 100  # the budget is full again by then
        assert send(guard, 1, now=now) == [None]
        assert guard.bans() == []
    assert lengths == [10, 30, 50, 50]
    assert ("unbanned", ATTACKER, "expired") in kinds(guard)


def test_old_offences_are_forgotten():
    guard = policy(register_burst=1, flood_drops=1, ban_time=10, offence_memory=1000)
    send(guard, 2)
    now = T0 + 2000
    send(guard, 2, now=now)
    [ban] = guard.bans()
    assert (ban.until - ban.since, ban.offences) == (10, 1)


def test_failed_credentials_ban_the_source_after_the_threshold():
    guard = policy(auth_failures=3, auth_window=60, ban_time=300)
    for reason in ("no-credentials", "stale-nonce", "malformed"):  # not guesses
        guard.auth_failed(ATTACKER, "alice", "REGISTER", reason, T0)
    guard.auth_failed(ATTACKER, "alice", "REGISTER", "bad-password", T0)
    guard.auth_failed(ATTACKER, "bob", "INVITE", "unknown-user", T0 + 1)
    assert guard.bans() == []
    guard.auth_failed(ATTACKER, "alice", "REGISTER", "bad-password", T0 + 2)
    [ban] = guard.bans()
    assert (ban.address, ban.reason, ban.until) == (ATTACKER, "auth", T0 + 302)
    assert send(guard, 1, now=T0 + 3) == ["banned"]
    events = guard.pop_events()
    assert [(e.kind, e.user, e.method, e.reason) for e in events] == [
        ("auth-failed", "alice", "REGISTER", "bad-password"),
        ("auth-failed", "bob", "INVITE", "unknown-user"),
        ("auth-failed", "alice", "REGISTER", "bad-password"),
        ("banned", "alice", "REGISTER", "auth"),
    ]
    assert events[-1].seconds == 300


def test_failures_outside_the_window_start_the_count_again():
    guard = policy(auth_failures=3, auth_window=60)
    for second in (0, 50, 120, 170):
        guard.auth_failed(ATTACKER, "alice", "REGISTER", "bad-password", T0 + second)
    assert guard.bans() == []


@pytest.mark.parametrize("agent", ["friendly-scanner", "sipvicious", "SIPVicious 0.3.8",
                                   "sipcli/v1.8", "VaxSIPUserAgent/3.1", "iWar", "sundayddr",
                                   "sip-scan"])
def test_scanners_are_dropped_by_user_agent(agent):
    guard = policy()
    assert send(guard, 3, "OPTIONS", user_agent=agent) == ["scanner"] * 3
    assert guard.dropped["scanner"] == 3
    [event] = guard.pop_events()  # one line per source
    assert (event.kind, event.source, event.method) == ("scanner", ATTACKER, "OPTIONS")
    assert send(guard, 1, "OPTIONS", host=PHONE) == [None]


def test_the_scanner_list_is_configurable():
    guard = policy(scanner_user_agents=("evil",))
    assert send(guard, 1, user_agent="friendly-scanner") == [None]
    assert send(guard, 1, user_agent="Evil/1.0") == ["scanner"]
    guard = policy(scanner_user_agents=())
    assert send(guard, 1, user_agent="friendly-scanner") == [None]


def test_the_allow_list_is_never_limited_nor_banned():
    guard = policy(allow=("198.51.100.0/24",), register_burst=1, flood_drops=1,
                   auth_failures=1)
    host = "198.51.100.9"
    assert send(guard, 50, host=host) == [None] * 50
    guard.auth_failed(host, "alice", "REGISTER", "bad-password", T0)
    with pytest.raises(ValueError, match="allow-list"):
        guard.ban("198.51.0.0/16", 60, T0)
    with pytest.raises(ValueError, match="allow-list"):
        guard.ban(host, 60, T0)
    assert guard.bans() == []


def test_trunk_gateways_have_their_own_budget_and_are_never_banned_automatically():
    trunks = {"198.51.100.1"}
    guard = GuardPolicy(GuardConfig(register_burst=1, flood_drops=1, auth_failures=1),
                        is_trunk=lambda host: host in trunks)
    assert send(guard, 100, "INVITE", host="198.51.100.1") == [None] * 100  # trunk_rate 0
    guard.auth_failed("198.51.100.1", "x", "INVITE", "bad-password", T0)
    assert guard.bans() == []

    guard = GuardPolicy(GuardConfig(trunk_rate=10, trunk_burst=5, flood_drops=1),
                        is_trunk=lambda host: host in trunks)
    assert send(guard, 7, "INVITE", host="198.51.100.1") == [None] * 5 + ["rate"] * 2
    assert guard.bans() == []
    # The routing snapshot changed: the address is no trunk any more.
    trunks.clear()
    guard.trunks_changed()
    send(guard, 100, "INVITE", host="198.51.100.1", now=T0 + 100)
    assert [b.reason for b in guard.bans()] == ["flood"]


def test_a_phone_on_a_gateways_address_but_another_port_has_a_phones_budget():
    gateway = ("198.51.100.1", 5060, "udp")
    guard = GuardPolicy(GuardConfig(invite_burst=2, flood_drops=1),
                        is_trunk=lambda host: host == gateway[0],
                        is_trunk_peer=lambda host, port, transport:
                            (host, port, transport) == gateway)
    invite = b"INVITE sip:x@y SIP/2.0\r\n\r\n"
    assert [guard.check(invite, "198.51.100.1", T0, 5060) for _ in range(20)] == [None] * 20
    from_phone = [guard.check(invite, "198.51.100.1", T0, 40000) for _ in range(4)]
    assert from_phone[:2] == [None, None] and "rate" in from_phone[2:]


def test_the_gateways_peer_is_looked_up_once_until_the_trunks_change():
    gateway = ["198.51.100.1", 5060, "udp"]
    lookups = []

    def is_trunk_peer(host, port, transport):
        lookups.append(port)
        return [host, port, transport] == gateway

    guard = GuardPolicy(GuardConfig(invite_burst=2, flood_drops=1),
                        is_trunk=lambda host: host == gateway[0], is_trunk_peer=is_trunk_peer)
    invite = b"INVITE sip:x@y SIP/2.0\r\n\r\n"
    assert [guard.check(invite, "198.51.100.1", T0, 5060) for _ in range(5)] == [None] * 5
    assert lookups == [5060]
    # The gateway moved to another port: its old port is a phone's from now on.
    gateway[1] = 5080
    guard.trunks_changed()
    from_old_port = [guard.check(invite, "198.51.100.1", T0, 5060) for _ in range(4)]
    assert from_old_port[:2] == [None, None] and "rate" in from_old_port[2:]
    assert [guard.check(invite, "198.51.100.1", T0, 5080) for _ in range(5)] == [None] * 5
    assert lookups == [5060] + [5060] * 4 + [5080]


def test_manual_bans_of_addresses_and_networks():
    guard = policy()
    ban = guard.ban("203.0.113.0/24", 100, T0)
    assert (ban.address, ban.reason, ban.until) == ("203.0.113.0/24", "manual", T0 + 100)
    assert send(guard, 1) == ["banned"]
    assert send(guard, 1, host="2001:db8::1") == [None]
    assert guard.get_ban("203.0.113.0/24", T0).dropped == 1
    one = guard.ban("2001:db8::1/128", 100, T0)
    assert one.address == "2001:db8::1"
    assert send(guard, 1, host="2001:db8::1") == ["banned"]
    assert guard.unban("203.0.113.0/24") is ban
    assert guard.unban("203.0.113.0/24") is None
    assert send(guard, 1) == [None]
    assert guard.get_ban("2001:db8::1", T0 + 100) is None  # expired by then
    assert [e.kind for e in guard.pop_events()] == ["banned", "banned", "unbanned", "unbanned"]


def test_a_disabled_guard_lets_everything_through_but_still_logs_failed_credentials():
    guard = policy(enabled=False, register_burst=1, auth_failures=1)
    assert send(guard, 10, user_agent="friendly-scanner") == [None] * 10
    guard.auth_failed(ATTACKER, "alice", "REGISTER", "bad-password", T0)
    assert guard.bans() == []
    assert kinds(guard) == [("auth-failed", ATTACKER, "bad-password")]  # for fail2ban


def test_sources_are_kept_in_a_bounded_lru():
    guard = policy(max_sources=100, register_burst=1, flood_drops=0)
    send(guard, 2, host="192.0.2.1")  # over its budget
    for i in range(200):
        guard.check(request(), f"10.0.{i // 256}.{i % 256}", T0)
    assert guard.sources == 100
    assert send(guard, 1, host="192.0.2.1") == [None]  # forgotten: a fresh budget


def test_bans_are_capped_and_the_one_ending_soonest_makes_room():
    guard = policy(max_bans=3)
    for i, seconds in enumerate((30, 10, 20, 40)):
        guard.ban(f"192.0.2.{i}", seconds, T0)
    assert sorted(b.address for b in guard.bans()) == ["192.0.2.0", "192.0.2.2", "192.0.2.3"]


def test_events_waiting_for_the_edge_are_capped():
    guard = policy(scanner_user_agents=("x",))
    for i in range(MAX_EVENTS + 10):
        guard.check(request(user_agent="x"), f"10.1.{i // 256}.{i % 256}", T0)
    assert len(guard.pop_events()) == MAX_EVENTS
    assert guard.events_lost == 10


def test_unparseable_input_is_only_counted_against_the_other_budget():
    guard = policy(other_burst=2, flood_drops=0)
    for data in (b"", b"\xff" * 100, b"REGISTER"):
        guard.check(data, ATTACKER, T0)
    assert guard.dropped["rate"] == 1
    assert send(guard, 1) == [None]  # REGISTER's own budget is untouched


def test_a_network_banned_after_a_source_was_seen_holds_it_at_once():
    guard = policy()
    assert send(guard, 1) == [None]
    guard.ban("203.0.113.0/25", 100, T0)
    assert send(guard, 1) == ["banned"]
    guard.ban("203.0.113.0/25", 10, T0)  # shortened: the new ban holds, not the old one
    assert send(guard, 1, now=T0 + 11) == [None]
    assert guard.bans() == []
