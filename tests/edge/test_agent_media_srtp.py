"""The agent leg's SRTP on the in-process relay (edge.agent.media): an outbound call's
offer made for its trunk's media_encryption, the far end's answer taken as "sdes"
(a key required) or "optional" (plain taken, the stand-in key dropped), and a
caller's new key in a re-offer followed (RFC 4568 §7.1.4)."""

import base64
import os

from twisted.internet import defer, reactor
from twisted.trial import unittest

from softswitch.edge.agent.media import AgentMedia
from softswitch.edge.media.relay import RtpRelay
from softswitch.sdp import parse_sdp
from softswitch.sdp.crypto import choose_crypto
from softswitch.services.media_control import MediaRejected, RegionConfig

SUITE = "AES_CM_128_HMAC_SHA1_80"


def sdp(proto="RTP/SAVP", key=None, tag=1, port=40000):
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.9", "s=-", "c=IN IP4 127.0.0.9", "t=0 0",
             f"m=audio {port} {proto} 0", "a=rtpmap:0 PCMU/8000"]
    if key is not None:
        lines.append(f"a=crypto:{tag} {SUITE} inline:{base64.b64encode(key).decode()}")
    return ("\r\n".join(lines) + "\r\n").encode()


class AgentMediaSrtpTests(unittest.TestCase):
    def setUp(self):
        self.relay = RtpRelay(reactor, {"default": RegionConfig(
            "default", "127.0.0.1", "127.0.0.1", 36400, 36500)}, "default")
        self.addCleanup(self.relay.close)

    def caller_srtp(self):
        [call] = self.relay.live_calls()
        return call.caller.streams[0].rtp.srtp

    @defer.inlineCallbacks
    def test_an_sdes_offer_carries_one_key_and_a_plain_answer_is_refused(self):
        leg = yield AgentMedia(self.relay).open_local_offer("out-1", None)
        self.assertIn(b"RTP/AVP", leg.answer_sdp)
        offer = yield leg.offer_for("sdes")
        media = parse_sdp(offer).media[0]
        self.assertEqual((media.proto, choose_crypto(media).suite), ("RTP/SAVP", SUITE))
        self.assertEqual(offer.count(b"a=crypto:"), 1)
        with self.assertRaises(MediaRejected):
            yield leg.take_answer(sdp("RTP/AVP"), require_srtp=True, keyed=True)

    @defer.inlineCallbacks
    def test_the_far_ends_key_answers_our_offer(self):
        leg = yield AgentMedia(self.relay).open_local_offer("out-2", None)
        offer = yield leg.offer_for("sdes")
        ours = choose_crypto(parse_sdp(offer).media[0])
        theirs = os.urandom(30)
        yield leg.take_answer(sdp(key=theirs, tag=ours.tag), secure=True, require_srtp=True,
                              keyed=True)
        srtp = self.caller_srtp()
        self.assertEqual((srtp.their_key, srtp.our_key), (theirs, ours.key))

    @defer.inlineCallbacks
    def test_an_optional_offer_answered_plain_is_plain_rtp(self):
        leg = yield AgentMedia(self.relay).open_local_offer("out-3", None)
        offer = yield leg.offer_for("optional")
        self.assertIn(b"RTP/AVP", offer)
        self.assertIn(b"a=crypto:1 ", offer)
        yield leg.take_answer(sdp("RTP/AVP"), keyed=True)
        self.assertIsNone(self.caller_srtp())  # the stand-in's key is gone

    @defer.inlineCallbacks
    def test_a_callers_new_key_in_a_reoffer_is_followed_ours_stays(self):
        first, second = os.urandom(30), os.urandom(30)
        leg = yield AgentMedia(self.relay).open_local("in-1", sdp(key=first, tag=7), None)
        ours = choose_crypto(parse_sdp(leg.answer_sdp).media[0]).key
        self.assertEqual(self.caller_srtp().their_key, first)
        yield leg.reoffer(sdp(key=second, tag=7))
        self.assertEqual((self.caller_srtp().their_key, self.caller_srtp().our_key),
                         (second, ours))

    @defer.inlineCallbacks
    def test_a_reoffer_changing_the_tag_keeps_the_first_key(self):
        first = os.urandom(30)
        leg = yield AgentMedia(self.relay).open_local("in-2", sdp(key=first, tag=7), None)
        yield leg.reoffer(sdp(key=os.urandom(30), tag=3))
        self.assertEqual(self.caller_srtp().their_key, first)
