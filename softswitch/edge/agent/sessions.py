"""Agent sessions at the edge (services.calls.agent_leg.AgentSessions): for each agent call,
the agent's WebSocket and a local media leg on the relay of the agent's region are
opened together; then an AgentBridge (pure) is driven by the socket, the caller's RTP
and a per-call timer at the bridge's deadlines, and its output is written out.

The relay's local leg (`relay.open_local`) terminates the caller's RTP in this
process: it answers the caller's SDP offer (PCMU or PCMA, telephone-event), latches
to the caller, hands each packet to a receiver and sends our datagrams to the caller.

An INVITE without SDP (delayed offer) opens the media as an outbound call does (our
offer, `answer_sdp`, goes in the 200); the caller's answer in the ACK is `take_answer`.

Outbound calls (`open_outbound`): the media leg is opened first (its SDP is the
INVITE's offer) and the session is handed over without a socket; `connect()` opens
the agent's socket (the call service does so while the far end rings), `take_answer`
takes the far end's SDP, and `begin` starts the bridge exactly as for inbound calls.

Answering-machine detection (outbound calls, docs/amd.md): `begin(..., amd=options,
on_amd=callback)` feeds the far end's packets to an `agent.amd_watch.AmdWatch` from
the answer on; each event goes to the agent (`AgentBridge.report`) and to `on_amd`
(the call's record, a hang-up on machines). In "wait" mode the bridge starts gated and
is released with what answered; a timer at the detection timeout decides if the far
end's stream stops.

Transfers: `end_agent` says goodbye to the agent and closes its socket while the
bridge keeps the caller's RTP going (what the agent had queued, then silence);
`ring_caller` (a cold transfer dialling) turns that silence into ringback, and
`early_media` makes way for the human's (`edge.media.ringback.TransferRingback`);
`release_media` detaches the local leg from the relay so the caller's audio goes to
the human answered on the relay's other side; `stop` then closes what is left and
does not delete the relay call; `transfer_failed` tells the agent (its profile's
documented message) that a warm transfer did not go through.
"""

import dataclasses
import os
import time
from time import perf_counter

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from ...agent.amd_watch import AmdWatch, reported
from ...agent.bridge import AgentBridge, Hangup, Record, Transfer
from ...agent.bridge_output import Handoff
from ...agent.events import CallEnded, CallInfo, TransferFailed
from ...agent.codec import is_wideband
from ...agent.profiles import make_agent_profile
from ...sdp.agent_answer import DEFAULT_PREFERENCE
from ...agent.twilio_compat import SIGNATURE_HEADER, signature
from ...media.rtp import payload_of
from ..media.ringback import TransferRingback, prepare_ringback
from ..media.slot_ticker import SlotTicker
from ..polling.read_group import ReadGroup
from .handoff import SessionHandoffs
from .media import AgentMedia
from .metrics import AgentMediaMetrics
from .recording_source import BridgeSource
from .websocket import connect_agent

log = Logger()
RECONNECT_TIMEOUT = 2.0  # a dropped socket gets one quick try before the call ends
AMD_TIMER_GRACE = 0.5  # s after the detection timeout: packets still in flight count
NORMAL_CLOSURE = 1000  # RFC 6455 §7.4.1; anything else (1006: no close frame) is a drop


class AgentSessionFactory:
    def __init__(self, reactor, relay, *, connect_timeout: float = 5.0, metrics=None,
                 account: str = "ACsoftswitch", ticker: SlotTicker | None = None,
                 jitter_min_ms: float = 20, jitter_target_ms: float = 60,
                 jitter_max_ms: float = 200, max_burst: int = 3, ringback: str = "us",
                 trust_root=None, close_drain_timeout: float = 5.0, recordings=None,
                 record_policy=None, codecs: tuple[str, ...] = DEFAULT_PREFERENCE):
        self._reactor = reactor
        # services.recordings.Recordings, and record_policy(agent, info) -> bool (the
        # number's or the agent's `record`): calls are announced to it when they begin.
        self._recording = (recordings, record_policy or (lambda agent, info: False))
        self._close_drain = close_drain_timeout  # [agents] close_drain_timeout
        self._trust_root = trust_root  # wss:// agents' authorities (None: the system's)
        # Every call's AgentBridge gets these ([agents] in the configuration).
        self.bridge_options = {"min_delay_ms": jitter_min_ms, "target_ms": jitter_target_ms,
                               "max_delay_ms": jitter_max_ms, "max_burst": max_burst}
        # (tap.py shares one ticker with the relay, whose reads it interleaves too)
        self._ticker = ticker if ticker is not None else slot_ticker(reactor, jitter_min_ms)
        self._reads = ReadGroup(reactor, between_reads=self._ticker.run_due)
        self._media = AgentMedia(relay, codecs)  # [agents] codecs
        self._connect_timeout = connect_timeout
        self._metrics = metrics
        self.media_metrics = AgentMediaMetrics()
        if metrics is not None:
            metrics.registry.register(self.media_metrics)
        self._account = account
        prepare_ringback(ringback)
        self._ringback = ringback  # [agents] transfer_ringback

    def open(self, call_id: str, agent, info: dict, offer_sdp: bytes):
        connect = self._connector(agent)
        started = time.perf_counter()
        socket = connect(self._connect_timeout)
        if offer_sdp:
            media = self._media.open_local(call_id, offer_sdp, agent.region,
                                           secure=info.get("secure"),
                                           require_srtp=bool(info.get("require_srtp")))
        else:  # delayed offer: ours goes in the 200, the caller answers in the ACK
            media = self._media.open_local_offer(call_id, agent.region)
        both = defer.DeferredList([socket, media], fireOnOneErrback=True, consumeErrors=True)

        def ready(results):
            (_, ws), (_, leg) = results
            if self._metrics is not None:
                self._metrics.agent_connect_seconds.observe(time.perf_counter() - started)
            return LiveAgentSession(self._reactor, self._ticker, agent,
                                    self._call_info(call_id, agent, info), ws, leg,
                                    self._metrics, self.media_metrics, connect,
                                    self._connect_timeout, self.bridge_options,
                                    ringback=self._ringback,
                                    close_drain=self._close_drain,
                                    recording=self._recording_of(agent, info)).with_handoffs(
                                        self._connector, info)

        def failed(failure):
            # Whatever did open is closed again; the caller's route moves on.
            for d in (socket, media):
                d.addCallbacks(_close_opened, lambda f: None)
            if self._metrics is not None:
                self._metrics.agent_socket_failures.labels("connect").inc()
            error = failure.value.subFailure if hasattr(failure.value, "subFailure") else failure
            return error

        return both.addCallbacks(ready, failed)

    def open_outbound(self, call_id: str, agent, info: dict):
        """A Deferred session whose media is open (`offer_sdp`, our SDP offer) and
        whose agent socket is not: `connect()` opens it."""
        connect = self._connector(agent)
        media = self._media.open_local_offer(call_id, agent.region)

        def ready(leg):
            return LiveAgentSession(self._reactor, self._ticker, agent,
                                    self._call_info(call_id, agent, info), None, leg,
                                    self._metrics, self.media_metrics, connect,
                                    self._connect_timeout, self.bridge_options,
                                    ringback=self._ringback,
                                    close_drain=self._close_drain,
                                    recording=self._recording_of(agent, info)).with_handoffs(
                                        self._connector, info)

        return media.addCallback(ready)

    def _recording_of(self, agent, info: dict):
        recordings, policy = self._recording
        return None if recordings is None else (recordings, policy(agent, info))

    def _connector(self, agent):
        """connect(timeout): a Deferred open AgentSocket to `agent`."""
        headers = {**dict(agent.headers), **dict(agent.secret_headers)}
        if agent.auth_token:  # as Twilio signs its requests (RequestValidator checks it)
            headers = {name: value for name, value in headers.items()
                       if name.lower() != SIGNATURE_HEADER.lower()}
            headers[SIGNATURE_HEADER] = signature(agent.auth_token, agent.url)

        def connect(timeout: float):
            return connect_agent(self._reactor, agent.url, headers, timeout, self._reads,
                                 self._trust_root)
        return connect

    def _call_info(self, call_id: str, agent, info: dict) -> CallInfo:
        return CallInfo(call_id=call_id, stream_id="MZ" + os.urandom(16).hex(),
                        account=agent.account_sid or self._account, caller=info.get("caller") or "",
                        callee=info.get("callee") or "", did=info.get("did"),
                        direction=info.get("direction") or "inbound",
                        verstat=info.get("verstat"), attestation=info.get("attestation"),
                        custom_parameters={**dict(agent.custom_parameters),
                                           **dict(info.get("custom_parameters") or {})},
                        sip_headers=dict(info.get("sip_headers") or {}))


def slot_ticker(reactor, jitter_min_ms: float) -> SlotTicker:
    """The agent calls' slot ticker: slots go ahead of reads while they are late by
    less than half the jitter buffer's smallest delay ([agents] jitter_min_ms)."""
    return SlotTicker(reactor, preempt_within=jitter_min_ms / 2000)


def _close_opened(opened) -> None:
    close = getattr(opened, "close", None)
    if close is not None:
        d = close()
        if isinstance(d, defer.Deferred):
            d.addErrback(lambda f: None)


class LiveAgentSession(SessionHandoffs):
    """A connected agent call (services.calls.agent_leg.AgentSession)."""

    def __init__(self, reactor, ticker, agent, info: CallInfo, socket, leg, metrics,
                 media_metrics, connect, connect_timeout: float,
                 bridge_options: dict | None = None, ringback: str = "us",
                 close_drain: float = 5.0, recording=None):
        self._reactor = reactor
        self._recording = recording  # (services.recordings.Recordings, record from the answer)
        self._close_drain = close_drain  # seconds the queue may play after a close
        self._drain_timer = None
        self._bridge_options = bridge_options or {}  # AgentBridge's jitter and burst
        self._ticker = ticker
        self._agent = agent
        self._info = info
        self._socket = socket
        self._leg = leg
        self._metrics = metrics
        self._media_metrics = media_metrics
        self._connect = connect
        self._connect_timeout = connect_timeout
        self.answer_sdp = leg.answer_sdp
        self.offer_sdp = leg.answer_sdp  # (outbound calls: the INVITE's offer)
        self.media_id = leg.relay_call_id
        self._bridge = None
        self._passive = True  # no bridge yet, stopping, or the agent is gone: no input
        self._on_end = self._on_transfer = None
        # SIP headers the agent set (agent.sip_headers): on its hang-up's BYE and on
        # its last transfer's INVITE.
        self.bye_headers: tuple = ()
        self.transfer_headers: tuple = ()
        self._stopping = False
        self._reconnected = False
        self._agent_gone = False  # end_agent: the socket is closed, the RTP goes on
        self._connecting = None
        self._waiting: list[defer.Deferred] = []  # connect() callers
        self._ringback = ringback
        self._ringing: TransferRingback | None = None
        self._amd: AmdWatch | None = None  # answering-machine detection, while it runs
        self._on_amd = None
        self._amd_timer = None
        self._handing_off = False  # edge.agent.handoff: a new agent is being connected
        self._old_lost = False  # the current socket dropped (no goodbye to send)
        self._reconnect_timeout = RECONNECT_TIMEOUT
        self.handoffs: list[dict] = []  # for the call record's agent statistics

    def with_handoffs(self, connector_for, info: dict) -> "LiveAgentSession":
        """Handoffs open sockets through `connector_for(agent)`; `info` names the
        route's backup agent and the call's own custom parameters."""
        self.connector_for = connector_for
        self.backup = info.get("backup_agent")
        self.call_parameters = dict(info.get("custom_parameters") or {})
        return self

    # -- outbound calls -------------------------------------------------------------
    def connect(self):
        """Open the agent's socket (once); a Deferred that fires when it is up."""
        if self._socket is not None:
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiting.append(d)
        if self._connecting is None:
            started = time.perf_counter()
            self._connecting = self._connect(self._connect_timeout)

            def opened(socket):
                if self._stopping:
                    socket.close()
                    raise defer.CancelledError("the call ended while connecting")
                self._socket = socket
                if self._metrics is not None:
                    self._metrics.agent_connect_seconds.observe(time.perf_counter() - started)

            def failed(failure):
                self._connecting = None
                if self._metrics is not None:
                    self._metrics.agent_socket_failures.labels("connect").inc()
                return failure

            self._connecting.addCallbacks(opened, failed).addBoth(self._connected)
        return d

    def _connected(self, result) -> None:
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(None)

    def take_answer(self, sdp: bytes, **srtp):
        """The far end answered our offer (outbound calls): a Deferred. `srtp`:
        agent.media.LocalMediaLeg.take_answer's secure, require_srtp, keyed."""
        return self._leg.take_answer(sdp, **srtp)

    def offer_for(self, encryption: str):
        """Our offer remade for a trunk's SRTP (outbound calls): a Deferred of it."""
        def made(sdp):
            self.offer_sdp = self.answer_sdp = sdp
            return sdp
        return self._leg.offer_for(encryption).addCallback(made)

    # -- AgentSession ---------------------------------------------------------------
    def begin(self, on_end, on_transfer, amd=None, on_amd=None) -> None:
        """`amd` (agent.amd_watch.AmdOptions): detect what answered, telling the
        agent and `on_amd(event)`; in "wait" mode the agent starts with the result."""
        self._on_end, self._on_transfer = on_end, on_transfer
        now = self._ticker.align(self._reactor.seconds())
        profile = self._new_profile()
        self._bridge = AgentBridge(profile, self._info, codec=self._leg.codec,
                                   payload_type=self._leg.payload_type,
                                   rtp_event_pt=self._leg.event_pt, ssrc=_random32(),
                                   initial_seq=_random32() & 0xFFFF,
                                   initial_timestamp=_random32(), now=now,
                                   **self._bridge_options)
        self._socket.listener = self
        self._passive = False
        self._media_metrics.begun(self._bridge)
        if amd is not None:
            self._amd, self._on_amd = AmdWatch(amd), on_amd
            self._amd_timer = self._reactor.callLater(amd.params.timeout + AMD_TIMER_GRACE,
                                                      self._amd_expired)
        self._leg.set_receiver(self._rtp_received)
        self._apply(self._bridge.start(now, gated=amd is not None and amd.mode == "wait"))
        if self._recording is not None:
            self._recording[0].call_began(self._info.call_id, BridgeSource(self._bridge),
                                          record=self._recording[1])
        self._schedule(self._bridge.next_deadline())

    def _new_profile(self):
        # The agent's custom parameters, then the call's (openai-realtime: instructions, voice).
        return make_agent_profile(self._agent.profile, self._agent.sample_rate,
                                  self._info.custom_parameters,
                                  wideband=is_wideband(self._leg.codec))

    def dtmf(self, digit: str) -> None:
        if self._bridge is not None:
            self._apply(self._bridge.info_dtmf(digit, self._reactor.seconds()))

    def hold(self, held: bool) -> None:
        if self._bridge is not None:
            self._apply(self._bridge.hold(held, self._reactor.seconds()))

    def reoffer(self, sdp: bytes):
        return self._leg.reoffer(sdp)

    def stop(self, reason: str):
        self._stopping = self._passive = True
        self._ticker.cancel(self)
        if self._drain_timer is not None and self._drain_timer.active():
            self._drain_timer.cancel()
        self._amd_stop()
        stats = {}
        if self._bridge is not None and self._recording is not None:
            self._recording[0].call_ended(self._info.call_id)
        if self._bridge is not None:
            out = self._bridge.stop(reason, self._reactor.seconds())
            self._send_ws(out.ws)
            self._media_metrics.ended(self._bridge)
            stats = self._bridge.stats().to_dict()
            if self.handoffs or self._bridge.held_dropped:
                stats["handoffs"] = list(self.handoffs)
                stats["handoff_dropped_frames"] = self._bridge.held_dropped
        if self._socket is not None:  # (a socket still connecting is closed on arrival)
            self._socket.close()
        d = self._leg.close()
        d.addCallbacks(lambda media: {**stats, "media": media.to_dict()} if media else stats,
                       lambda f: stats)
        return d

    # -- transfers --------------------------------------------------------------------
    def end_agent(self, reason: str) -> None:
        if self._agent_gone:
            return
        self._agent_gone = self._passive = True
        if self._bridge is not None and self._socket is not None:
            self._socket.send_frames(self._bridge.profile.encode(CallEnded(reason)))
        if self._socket is not None:
            self._socket.close()

    def ring_caller(self) -> None:
        if self._transfer_tone() is not None:
            self._ringing.ring()

    def early_media(self):
        if self._transfer_tone() is None:
            return defer.succeed(None)
        return self._ringing.early_media()

    def _transfer_tone(self) -> TransferRingback | None:
        if self._bridge is None or self._stopping or self._leg.released:
            return None
        if self._ringing is None:
            self._ringing = TransferRingback(self._ticker, self, self._bridge, self._leg,
                                             self._ringback)
        return self._ringing

    def release_media(self) -> None:
        self._ticker.cancel(self)
        self._leg.detach()

    def transfer_failed(self, target: str, code: int, outcome: str) -> None:
        if self._bridge is not None and not self._agent_gone and not self._stopping:
            self._send_ws(self._bridge.profile.encode(TransferFailed(target, code, outcome)))

    # -- inputs -----------------------------------------------------------------------
    def _rtp_received(self, data, first, second, seq, timestamp, now) -> None:
        # The hot path (edge.media.relay_port.LocalLeg.receive_with): one packet from the caller.
        if self._passive:
            return
        payload = payload_of(data, first)
        if payload is None:
            return
        if self._amd is not None:
            self._amd_events(self._amd.rtp(second & 0x7F, timestamp, payload))
        out = self._bridge.rtp_received(second & 0x7F, seq, timestamp, second & 0x80,
                                        payload, now)
        if out.ws or out.actions or out.errors:
            self._apply(out)

    def _amd_expired(self) -> None:
        self._amd_timer = None
        if self._amd is not None:
            self._amd_events(self._amd.expire())

    def _amd_events(self, events) -> None:
        if not events or self._stopping:
            return
        options, now = self._amd.options, self._reactor.seconds()
        if self._amd.done:
            self._amd_stop()
        for event in events:
            told = reported(event)
            self._apply(self._bridge.report(told, now))
            if self._bridge.gated and options.releases(event):
                info = dataclasses.replace(self._info, answered_by=told.answered_by)
                self._apply(self._bridge.release(info, (), now))
            self._media_metrics.amd_event(event)
            if self._on_amd is not None:
                self._on_amd(event)

    def _amd_stop(self) -> None:
        self._amd = None
        if self._amd_timer is not None and self._amd_timer.active():
            self._amd_timer.cancel()
        self._amd_timer = None

    def text_received(self, text: str) -> None:
        if not self._passive:
            self._apply(self._bridge.ws_text(text, self._reactor.seconds()))

    def binary_received(self, data: bytes) -> None:
        if not self._passive:
            self._apply(self._bridge.ws_binary(data, self._reactor.seconds()))

    def closed(self, code: int, reason: str) -> None:
        if self._stopping or self._agent_gone:
            return
        if self._drain_timer is not None:  # it asked to end: no reconnect, play on
            self._agent_gone = self._passive = True
            return
        if code == NORMAL_CLOSURE:  # the agent closed on purpose: the call is over
            self._drain_then_end("agent-closed", gone=True)
            return
        if self._metrics is not None:
            self._metrics.agent_socket_failures.labels("dropped").inc()
        self._dropped()  # (edge.agent.handoff: reconnect, then the backup agent)

    def finish(self, reason: str) -> bool:
        """The agent asked to end the call (the Twilio-compatible REST API): as after
        a close, what it queued plays first; its socket stays open until the stop.
        False if the bridge has not begun (nothing queued to play)."""
        if self._bridge is None or self._stopping or self._on_end is None:
            return False
        self._drain_then_end(reason)
        return True

    @property
    def agent_left(self) -> bool:
        """The agent is no longer on the call (a transfer took it off, or it closed)."""
        return self._agent_gone

    def _drain_then_end(self, reason: str, gone: bool = False) -> None:
        """What the agent queued (its last words, often sent just before closing or
        asking to hang up) still plays, for at most `close_drain` seconds; then BYE.
        `gone`: the socket is closed, nothing more comes from or goes to it."""
        if gone:
            self._agent_gone = self._passive = True
        if self._drain_timer is not None:  # already playing out
            return
        if self._bridge is None or self._close_drain <= 0:
            self._end(reason)
            return
        self._drain_timer = self._reactor.callLater(self._close_drain, self._end, reason)
        self._apply(self._bridge.finish(reason, self._reactor.seconds()))

    # -- outputs ----------------------------------------------------------------------
    def slot_due(self, now: float) -> None:
        """The ticker: this call's next 20 ms slot is due."""
        if self._bridge is None or self._stopping or self._leg.released:
            return
        started = perf_counter()
        out = self._bridge.tick(now)
        self._apply(out)
        self._media_metrics.slot_seconds.observe(perf_counter() - started)
        self._schedule(out.next_deadline)

    def _apply(self, out) -> None:
        self._send_ws(out.ws)
        if out.rtp:
            self._leg.send_packets(out.rtp)
        for action in out.actions:
            if isinstance(action, Hangup):
                self.bye_headers = action.headers
                self._end(action.reason)
            elif isinstance(action, Transfer) and self._on_transfer is not None:
                if self._metrics is not None:
                    self._metrics.agent_transfers.inc()
                self.transfer_headers = action.headers
                self._on_transfer(action.target, action.warm, action.mode, action.headers)
            elif isinstance(action, Record) and self._recording is not None:
                refused = self._recording[0].control(self._info.call_id, action.action)
                if refused:
                    log.info("agent {agent}: recording {action}: {error}",
                             agent=self._agent.name, action=action.action, error=refused)
            elif isinstance(action, Handoff):
                self._handoff_requested(action.agent, action.reason)
        for error in out.errors[:3]:
            log.info("agent {agent}: {error}", agent=self._agent.name, error=error)

    def _send_ws(self, frames) -> None:
        if frames and not self._agent_gone and self._socket is not None:
            self._socket.send_frames(frames)

    def _schedule(self, deadline: float | None) -> None:
        if deadline is not None and not self._stopping and not self._leg.released:
            self._ticker.schedule(self, deadline)

    def _end(self, reason: str) -> None:
        if not self._stopping and self._on_end is not None:
            self._on_end(reason)


def _random32() -> int:
    return int.from_bytes(os.urandom(4), "big")

