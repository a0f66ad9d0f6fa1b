"""SDES-SRTP through the in-process relay on real loopback sockets. The phones are
independent SRTP peers: each runs its own libsrtp contexts (pylibsrtp) with the keys
read from the SDP the relay gave it, and every packet is checked byte for byte after
decryption against what the other side sent."""

import base64
import os

from prometheus_client import CollectorRegistry
from pylibsrtp import Error, Policy, Session
from twisted.internet.defer import inlineCallbacks

from softswitch.edge.media.metrics import RelayMetrics
from softswitch.media.rtcp import ReceiverReport, ReportBlock
from softswitch.media.srtp import MAX_SENT_SSRCS
from softswitch.sdp import parse_sdp
from softswitch.sdp.crypto import CryptoAttribute
from softswitch.services.media_control import MediaRejected

from test_rtp_relay import LOCAL, RelayTestCase, phone_sdp, relay_port, rtp

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "AES_CM_128_HMAC_SHA1_32": (Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 30),
    "AEAD_AES_128_GCM": (Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
}


def srtp_sdp(host, port, cryptos, proto="RTP/SAVP"):
    """A phone's SDP with its a=crypto lines ((tag, suite, key) triples)."""
    body = phone_sdp(host, port, rtcp_port=port).decode().replace("RTP/AVP", proto)
    extra = "".join(f"a=crypto:{tag} {suite} inline:{base64.b64encode(key).decode()}\r\n"
                    for tag, suite, key in cryptos)
    return (body + extra).encode()


def cryptos_of(body: bytes) -> list[CryptoAttribute]:
    return [CryptoAttribute.parse(v) for v in parse_sdp(body).media[0].attribute_values("crypto")]


class SrtpPeer:
    """A phone's own libsrtp: its key protects what it sends, the relay's key (from
    the SDP it received) unprotects what it gets."""

    def __init__(self, suite, own_key, relay_key):
        profile = PROFILES[suite][0]
        self.tx = Session(Policy(key=own_key, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                                 srtp_profile=profile))
        self.rx = Session(Policy(key=relay_key, ssrc_type=Policy.SSRC_ANY_INBOUND,
                                 srtp_profile=profile))

    def decrypt(self, received):
        return [self.rx.unprotect(data) for data, _ in received]


def rtcp_rr(ssrc=0xB0B):
    return bytes(ReceiverReport(ssrc, [ReportBlock(0xA, 0, 0, 9, 20, 0, 0)]))


class SrtpRelayTests(RelayTestCase):
    @inlineCallbacks
    def srtp_caller(self, suite, call_id="call-1", secure=True, encryption=None):
        """Alice offers SRTP (over TLS when `secure`), Bob is a plain phone."""
        alice, alice_port = self.phone()
        bob, bob_port = self.phone()
        alice_key = os.urandom(PROFILES[suite][1])
        offer = yield self.relay.offer(
            call_id, "alice-tag", srtp_sdp(LOCAL, alice_port, [(5, suite, alice_key)]),
            secure=secure, encryption=encryption)
        answer = yield self.relay.answer(call_id, "alice-tag", "bob-tag",
                                         phone_sdp(LOCAL, bob_port, rtcp_port=bob_port))
        return alice, bob, alice_key, offer, answer

    @inlineCallbacks
    def check_srtp_caller_with_plain_callee(self, suite):
        alice, bob, alice_key, offer, answer = yield self.srtp_caller(suite)
        # Bob's offer is plain and carries nothing of Alice's key.
        self.assertIn(b"m=audio", offer)
        self.assertEqual(parse_sdp(offer).media[0].proto, "RTP/AVP")
        self.assertNotIn(b"crypto", offer)
        # Alice's answer: her profile, her tag and suite, a key of the relay's own.
        self.assertEqual(parse_sdp(answer).media[0].proto, "RTP/SAVP")
        [ours] = cryptos_of(answer)
        self.assertEqual((ours.tag, ours.suite), (5, suite))
        self.assertNotEqual(ours.key, alice_key)
        peer = SrtpPeer(suite, alice_key, ours.key)
        a_port, b_port = relay_port(answer), relay_port(offer)
        sent_by_alice = [rtp(seq, ssrc=0xA, payload=os.urandom(160)) for seq in range(20)]
        sent_by_bob = [rtp(500 + seq, ssrc=0xB, payload=os.urandom(160)) for seq in range(20)]
        for a, b in zip(sent_by_alice, sent_by_bob):
            alice.send(peer.tx.protect(a), LOCAL, a_port)
            bob.send(b, LOCAL, b_port)
        # SRTCP from Alice, RTCP from Bob (each phone's a=rtcp names its one socket)
        alice.send(peer.tx.protect_rtcp(rtcp_rr(0xA)), LOCAL, a_port + 1)
        bob.send(rtcp_rr(), LOCAL, b_port + 1)
        yield self.until(lambda: len(bob.received) == 21 and len(alice.received) == 21)

        def by_port(phone, port):
            return [(d, a) for d, a in phone.received if a[1] == port]
        self.assertEqual([d for d, _ in by_port(bob, b_port)], sent_by_alice)
        self.assertEqual(peer.decrypt(by_port(alice, a_port)), sent_by_bob)
        self.assertEqual([d for d, _ in by_port(bob, b_port + 1)], [rtcp_rr(0xA)])
        [(srtcp, _)] = by_port(alice, a_port + 1)
        self.assertEqual(peer.rx.unprotect_rtcp(srtcp), rtcp_rr())
        stats = yield self.relay.query("call-1")
        caller, callee = stats.caller.streams[0], stats.callee.streams[0]
        self.assertEqual((caller.srtp, callee.srtp), (suite, None))
        self.assertEqual((caller.rtp.packets, caller.rtp.expected, caller.rtp.ssrc), (20, 20, 0xA))
        self.assertEqual(caller.rtcp_packets, 1)
        self.assertEqual(caller.srtp_dropped, 0)

    def test_srtp_caller_plain_callee_aes_cm_80(self):
        return self.check_srtp_caller_with_plain_callee("AES_CM_128_HMAC_SHA1_80")

    def test_srtp_caller_plain_callee_aes_cm_32(self):
        return self.check_srtp_caller_with_plain_callee("AES_CM_128_HMAC_SHA1_32")

    def test_srtp_caller_plain_callee_aead_gcm(self):
        return self.check_srtp_caller_with_plain_callee("AEAD_AES_128_GCM")

    @inlineCallbacks
    def test_replayed_tampered_and_foreign_srtp_is_dropped(self):
        suite = "AES_CM_128_HMAC_SHA1_80"
        alice, bob, alice_key, offer, answer = yield self.srtp_caller(suite)
        [ours] = cryptos_of(answer)
        peer = SrtpPeer(suite, alice_key, ours.key)
        a_port = relay_port(answer)
        first = peer.tx.protect(rtp(1, ssrc=0xA))
        alice.send(first, LOCAL, a_port)
        yield self.until(lambda: len(bob.received) == 1)
        alice.send(first, LOCAL, a_port)  # replayed
        tampered = bytearray(peer.tx.protect(rtp(2, ssrc=0xA)))
        tampered[20] ^= 1
        alice.send(bytes(tampered), LOCAL, a_port)
        alice.send(rtp(3, ssrc=0xA), LOCAL, a_port)  # plain RTP on an SRTP leg
        mallory, _ = self.phone("127.0.0.4")
        forged = Session(Policy(key=os.urandom(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                                srtp_profile=PROFILES[suite][0]))
        mallory.send(forged.protect(rtp(4, ssrc=0xBAD)), LOCAL, a_port)
        alice.send(peer.tx.protect(rtp(5, ssrc=0xA)), LOCAL, a_port)
        yield self.until(lambda: len(bob.received) == 2)
        yield self.settle()
        self.assertEqual(bob.payloads, [rtp(1, ssrc=0xA), rtp(5, ssrc=0xA)])
        stats = yield self.relay.query("call-1")
        self.assertEqual(stats.caller.streams[0].srtp_dropped, 4)
        registry = CollectorRegistry()
        registry.register(RelayMetrics(self.relay))
        self.assertEqual(registry.get_sample_value(
            "softswitch_relay_packets_dropped_total", {"region": "local", "reason": "srtp"}), 4)
        self.assertEqual(stats.caller.streams[0].peer, (LOCAL, self.alice_port_of(offer)))

    def alice_port_of(self, offer):
        return self.relay.live_calls()[0].caller.streams[0].rtp.peer[1]

    @inlineCallbacks
    def test_sdes_toward_the_callee_with_a_plain_caller(self):
        alice, alice_port = self.phone()
        bob, bob_port = self.phone()
        offer = yield self.relay.offer("call-1", "alice-tag", phone_sdp(LOCAL, alice_port),
                                       encryption="sdes")
        self.assertEqual(parse_sdp(offer).media[0].proto, "RTP/SAVP")
        offered = cryptos_of(offer)
        self.assertEqual([(c.tag, c.suite) for c in offered],
                         [(1, "AES_CM_128_HMAC_SHA1_80"), (2, "AES_CM_128_HMAC_SHA1_32"),
                          (3, "AEAD_AES_128_GCM")])
        self.assertEqual(len({c.key for c in offered}), 3)
        bob_key = os.urandom(30)
        answer = yield self.relay.answer(
            "call-1", "alice-tag", "bob-tag",
            srtp_sdp(LOCAL, bob_port, [(2, "AES_CM_128_HMAC_SHA1_32", bob_key)]))
        self.assertEqual(parse_sdp(answer).media[0].proto, "RTP/AVP")
        self.assertNotIn(b"crypto", answer)
        peer = SrtpPeer("AES_CM_128_HMAC_SHA1_32", bob_key, offered[1].key)
        a_port, b_port = relay_port(answer), relay_port(offer)
        from_alice = [rtp(seq, ssrc=0xA, payload=os.urandom(160)) for seq in range(10)]
        from_bob = [rtp(seq, ssrc=0xB, payload=os.urandom(160)) for seq in range(10)]
        for a, b in zip(from_alice, from_bob):
            alice.send(a, LOCAL, a_port)
            bob.send(peer.tx.protect(b), LOCAL, b_port)
        yield self.until(lambda: len(bob.received) == 10 and len(alice.received) == 10)
        self.assertEqual(peer.decrypt(bob.received), from_alice)
        self.assertEqual(alice.payloads, from_bob)

    @inlineCallbacks
    def test_both_legs_srtp_with_their_own_keys(self):
        suite = "AEAD_AES_128_GCM"
        alice, alice_port = self.phone()
        bob, bob_port = self.phone()
        alice_key, bob_key = os.urandom(28), os.urandom(28)
        offer = yield self.relay.offer(
            "call-1", "alice-tag", srtp_sdp(LOCAL, alice_port, [(1, suite, alice_key)]),
            secure=True, encryption="sdes")
        [to_bob] = [c for c in cryptos_of(offer) if c.suite == suite]
        self.assertNotEqual(to_bob.key, alice_key)
        answer = yield self.relay.answer(
            "call-1", "alice-tag", "bob-tag",
            srtp_sdp(LOCAL, bob_port, [(to_bob.tag, suite, bob_key)]))
        [to_alice] = cryptos_of(answer)
        self.assertNotIn(to_alice.key, (to_bob.key, alice_key, bob_key))
        alice_peer = SrtpPeer(suite, alice_key, to_alice.key)
        bob_peer = SrtpPeer(suite, bob_key, to_bob.key)
        a_port, b_port = relay_port(answer), relay_port(offer)
        sent = [rtp(seq, ssrc=0xA, payload=os.urandom(160)) for seq in range(10)]
        back = [rtp(seq, ssrc=0xB, payload=os.urandom(160)) for seq in range(10)]
        for a, b in zip(sent, back):
            alice.send(alice_peer.tx.protect(a), LOCAL, a_port)
            bob.send(bob_peer.tx.protect(b), LOCAL, b_port)
        yield self.until(lambda: len(bob.received) == 10 and len(alice.received) == 10)
        self.assertEqual(bob_peer.decrypt(bob.received), sent)
        self.assertEqual(alice_peer.decrypt(alice.received), back)
        # A re-offer with the same key keeps the contexts (and their replay state).
        yield self.relay.offer("call-1", "alice-tag", srtp_sdp(
            LOCAL, alice_port, [(1, suite, alice_key)]), secure=True)
        again = yield self.relay.answer("call-1", "alice-tag", "bob-tag", srtp_sdp(
            LOCAL, bob_port, [(to_bob.tag, suite, bob_key)]))
        self.assertEqual(cryptos_of(again)[0].key, to_alice.key)
        alice.send(alice_peer.tx.protect(rtp(10, ssrc=0xA)), LOCAL, a_port)
        yield self.until(lambda: len(bob.received) == 11)
        self.assertEqual(bob_peer.rx.unprotect(bob.received[-1][0]), rtp(10, ssrc=0xA))

    @inlineCallbacks
    def test_a_plain_answer_where_srtp_is_required_is_refused(self):
        alice, alice_port = self.phone()
        yield self.relay.offer("call-1", "alice-tag", phone_sdp(LOCAL, alice_port),
                               encryption="sdes")
        with self.assertRaises(MediaRejected):
            yield self.relay.answer("call-1", "alice-tag", "bob-tag", phone_sdp(LOCAL, 4000))
        # ...and "optional" takes it plain.
        yield self.relay.offer("call-2", "alice-tag", phone_sdp(LOCAL, alice_port),
                               encryption="optional")
        answer = yield self.relay.answer("call-2", "alice-tag", "bob-tag",
                                         phone_sdp(LOCAL, 4000))
        self.assertNotIn(b"crypto", answer)
        with self.assertRaises(MediaRejected):  # a tag that was never offered
            yield self.relay.offer("call-3", "alice-tag", phone_sdp(LOCAL, alice_port),
                                   encryption="optional")
            yield self.relay.answer("call-3", "alice-tag", "bob-tag", srtp_sdp(
                LOCAL, 4000, [(9, "AES_CM_128_HMAC_SHA1_80", os.urandom(30))]))

    @inlineCallbacks
    def test_keys_over_plain_signalling_are_refused_unless_allowed(self):
        suite = "AES_CM_128_HMAC_SHA1_80"
        body = srtp_sdp(LOCAL, 4000, [(1, suite, os.urandom(30))])
        with self.assertRaises(MediaRejected) as caught:
            yield self.relay.offer("call-1", "alice-tag", body, secure=False)
        self.assertEqual(caught.exception.status_hint, 488)
        self.assertIn("TLS", str(caught.exception))
        self.assertEqual(self.relay.calls, 0)
        self.assertEqual(self.relay.port_pairs_in_use("local"), 0)
        # Best-effort keys on RTP/AVP over plain signalling: answered as plain RTP.
        best_effort = srtp_sdp(LOCAL, 4000, [(1, suite, os.urandom(30))], proto="RTP/AVP")
        yield self.relay.offer("call-2", "alice-tag", best_effort, secure=False)
        answer = yield self.relay.answer("call-2", "alice-tag", "bob-tag",
                                         phone_sdp(LOCAL, 4002))
        self.assertNotIn(b"crypto", answer)
        self.assertEqual(parse_sdp(answer).media[0].proto, "RTP/AVP")
        relay = self.make_relay({"local": self.region}, "local", allow_sdes_over_insecure=True)
        yield relay.offer("call-3", "alice-tag", body, secure=False)
        answer = yield relay.answer("call-3", "alice-tag", "bob-tag", phone_sdp(LOCAL, 4004))
        self.assertEqual(cryptos_of(answer)[0].suite, suite)

    @inlineCallbacks
    def test_a_side_that_requires_srtp_must_offer_keys(self):
        with self.assertRaises(MediaRejected) as caught:
            yield self.relay.offer("call-1", "alice-tag", phone_sdp(LOCAL, 4000),
                                   secure=True, require_srtp=True)
        self.assertEqual(caught.exception.status_hint, 488)
        self.assertEqual(self.relay.calls, 0)
        suite = "AES_CM_128_HMAC_SHA1_80"
        offer = yield self.relay.offer("call-1", "alice-tag", srtp_sdp(
            LOCAL, 4000, [(1, suite, os.urandom(30))], proto="RTP/AVP"), secure=True,
            require_srtp=True)
        answer = yield self.relay.answer("call-1", "alice-tag", "bob-tag",
                                         phone_sdp(LOCAL, 4002))
        self.assertNotIn(b"crypto", offer)
        self.assertEqual(cryptos_of(answer)[0].suite, suite)

    @inlineCallbacks
    def test_hostile_crypto_lines_give_488(self):
        good = base64.b64encode(os.urandom(30)).decode()
        for lines in (["1 AES_CM_128_HMAC_SHA1_80 inline:@@@@"],
                      [f"1 AES_CM_128_HMAC_SHA1_80 inline:{good[:-4]}"],
                      [f"1 AES_CM_128_HMAC_SHA1_80 inline:{good}|2^20|1:4"],
                      [f"{i} AES_CM_128_HMAC_SHA1_80 inline:AAAA" for i in range(1000)]):
            body = phone_sdp(LOCAL, 4000).decode().replace("RTP/AVP", "RTP/SAVP") + \
                "".join(f"a=crypto:{line}\r\n" for line in lines)
            with self.assertRaises(MediaRejected) as caught:
                yield self.relay.offer("call-1", "alice-tag", body.encode(), secure=True)
            self.assertEqual(caught.exception.status_hint, 488)
        self.assertEqual(self.relay.calls, 0)

    @inlineCallbacks
    def test_ssrcs_protected_toward_an_srtp_leg_are_bounded(self):
        suite = "AES_CM_128_HMAC_SHA1_80"
        alice, bob, alice_key, offer, answer = yield self.srtp_caller(suite)
        peer = SrtpPeer(suite, alice_key, cryptos_of(answer)[0].key)
        b_port = relay_port(offer)
        for ssrc in range(1, 3 * MAX_SENT_SSRCS + 1):
            bob.send(rtp(ssrc, ssrc=ssrc), LOCAL, b_port)
        yield self.until(lambda: len(alice.received) == MAX_SENT_SSRCS)
        yield self.settle()
        self.assertEqual(len(alice.received), MAX_SENT_SSRCS)
        self.assertEqual(peer.decrypt(alice.received),
                         [rtp(ssrc, ssrc=ssrc) for ssrc in range(1, MAX_SENT_SSRCS + 1)])
        stats = yield self.relay.query("call-1")
        self.assertEqual(stats.caller.streams[0].srtp_dropped, 2 * MAX_SENT_SSRCS)

    @inlineCallbacks
    def test_keys_end_with_the_call(self):
        suite = "AES_CM_128_HMAC_SHA1_80"
        alice, bob, alice_key, offer, answer = yield self.srtp_caller(suite)
        call = self.relay.live_calls()[0]
        self.assertIsNotNone(call.caller.streams[0].rtp.srtp)
        stats = yield self.relay.delete("call-1")
        self.assertEqual(stats.caller.streams[0].srtp, suite)
        self.assertEqual(self.relay.calls, 0)
        peer = SrtpPeer(suite, alice_key, cryptos_of(answer)[0].key)
        alice.send(peer.tx.protect(rtp(1, ssrc=0xA)), LOCAL, relay_port(answer))
        yield self.settle()
        self.assertEqual(bob.received, [])
        with self.assertRaises(Error):
            peer.rx.unprotect(rtp(1))
