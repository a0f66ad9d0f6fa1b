"""Call recording end to end: SIPp is the caller (playing a µ-law sweep from a pcap), a
`websockets` agent answers with a sweep of its own, and the switch records the call.
The WAV downloaded over /v1/recordings is checked sample by sample against what was
sent on each channel (caller left, agent right), decoded with the test's own µ-law
decoder; a pause over the API leaves silence in its place; the recordings are listed,
named by the call record, downloaded and deleted.

A call the switch proxies to a trunk, its media through the relay, is recorded too
when its number says so: the caller's sweep on the left, the far end's on the right.

Addresses: 127.0.0.1 the switch and the agent server; 127.0.0.2 the carrier; 127.0.0.3
the PBX a number is routed to (a SIPp UAS that answers and plays its own sweep).
"""

import asyncio
import io
import threading
import time
import urllib.request
import wave
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from ws_agent_server import AgentServer

from agents_support import (
    AgentRow,
    AgentScripts,
    caller_media,
    chirp_frames,
    seed_agents,
    ulaw_decode,
    write_audio_pcap,
)
from calls_support import (
    CARRIER_IP,
    GATEWAY_A_IP,
    CallSwitch,
    GatewayRow,
    NumberRow,
    Routing,
    TrunkRow,
    call_id_of,
    free_udp_port,
    run_call,
    seed_routing,
)
from e2e_switch import wait_until
from far_end_support import AdminApi, MediaCallee, create_api_token
from softswitch.store.database import Database
from softswitch.store.tables import agents as agents_table
from softswitch.store.tables import numbers as numbers_table


def sipp_test(function):
    """An end-to-end test with SIPp (missing SIPp: a failure in CI, a loud skip else)."""
    return pytest.mark.sipp(pytest.mark.usefixtures("sipp")(function))


NO_PROBES = 86400.0
CALLER = "+12125550123"
RECORDED_DID = "+14155550140"  # -> agent recorded (record: true)
CONTROLLED_DID = "+14155550141"  # -> agent controlled (recorded on request only)
RELAYED_DID = "+14155550142"  # -> trunk pbx through the relay (number record: true)
PBX_FRAMES = chirp_frames(60, 3200, 600, amplitude=7000)  # 1.2 s the PBX's side says
CALLER_FRAMES = chirp_frames(75)  # 1.5 s, 300 -> 3000 Hz
LONG_CALLER_FRAMES = chirp_frames(150, 400, 3400)  # 3 s
AGENT_FRAMES = chirp_frames(50, 2500, 500, amplitude=6000)  # 1 s the agent says
AGENT_DELAY = 0.2


async def talk(agent):
    """Says one second (in uneven chunks) 0.2 s after its start message."""
    await asyncio.sleep(AGENT_DELAY)
    await agent.media(b"".join(AGENT_FRAMES))


@dataclass
class Lab:
    switch: CallSwitch
    api: AdminApi
    token: str
    scripts: AgentScripts
    directory: Path
    pbx_port: int


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    scripts = AgentScripts()
    scripts.scripts.update({"/recorded": talk, "/controlled": talk})
    workdir = tmp_path_factory.mktemp("recording")
    directory = workdir / "recordings"
    with AgentServer(scripts) as server:
        switch = CallSwitch(workdir, database={"reload_interval": 0.5},
                            sections={"agents": {"connect_timeout": 2.0},
                                      "trunks": {"probe_interval": NO_PROBES},
                                      "recording": {"directory": str(directory),
                                                    "retention_days": 30}})
        pbx_port = free_udp_port(GATEWAY_A_IP)
        seed_routing(switch.db_url, Routing(trunks=[
            TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                     allowed_sources=(CARRIER_IP,), number_format="nanp"),
            TrunkRow("pbx", (GatewayRow(GATEWAY_A_IP, pbx_port),))],
            numbers=[NumberRow(RELAYED_DID, (("trunk", "pbx"),))]))
        seed_agents(switch.db_url, [
            AgentRow("recorded", f"ws://127.0.0.1:{server.port}/recorded"),
            AgentRow("controlled", f"ws://127.0.0.1:{server.port}/controlled"),
        ], [(RECORDED_DID, (("agent", "recorded"),)),
            (CONTROLLED_DID, (("agent", "controlled"),))])
        database = Database(switch.db_url, reactor=None)
        try:
            database.run_sync(lambda conn: conn.execute(
                agents_table.update().where(agents_table.c.name == "recorded")
                .values(record=True)))
            database.run_sync(lambda conn: conn.execute(
                numbers_table.update().where(numbers_table.c.number == RELAYED_DID)
                .values(record=True)))
        finally:
            database.engine.dispose()
        switch.start()
        try:
            token = create_api_token(switch.db_url)
            yield Lab(switch, AdminApi(switch, token), token, scripts, directory, pbx_port)
        finally:
            switch.close()


def place_call(lab: Lab, workdir: Path, did: str, frames: list[bytes], talk_ms: int):
    workdir.mkdir(parents=True, exist_ok=True)
    write_audio_pcap(workdir / "caller.pcap", frames)
    base, sink = caller_media(CARRIER_IP)
    keys = {"dialled": did.removeprefix("+1"), "domain": lab.switch.domain, "caller": CALLER}
    try:
        result = run_call(lab.switch.sip_target, "agent_uac_talk.xml", workdir, ip=CARRIER_IP,
                          keys=keys, timeout=15, extra=("-d", talk_ms, "-mi", CARRIER_IP,
                                                        "-mp", base))
    finally:
        sink.close()
    assert result.ok, result.describe()
    return call_id_of(result), sink


def download(lab: Lab, recording_id: str) -> np.ndarray:
    request = urllib.request.Request(
        f"http://127.0.0.1:{lab.switch.admin_port}/v1/recordings/{recording_id}/audio",
        headers={"Authorization": f"Bearer {lab.token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "audio/wav"
        assert response.headers["Content-Disposition"] == \
            f'attachment; filename="{recording_id}.wav"'
        body = response.read()
    with wave.open(io.BytesIO(body), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)


def pcm(frames: list[bytes]) -> np.ndarray:
    """The test's own µ-law decode (agents_support), not the switch's tables."""
    return np.array(ulaw_decode(b"".join(frames)), dtype="<i2")


def find(channel: np.ndarray, expected: np.ndarray) -> int:
    """Where `expected` lies whole in `channel`, in samples (-1: nowhere)."""
    at = channel.tobytes().find(expected.tobytes())
    return -1 if at < 0 or at % 2 else at // 2


def completed(lab: Lab, recording_id: str) -> dict:
    def done():
        reply = lab.api.get(f"/v1/recordings/{recording_id}")
        assert reply.status == 200, reply
        return reply.json if reply.json["state"] == "completed" else None
    return wait_until(done, 5.0, message=f"recording {recording_id} to complete")


@pytest.fixture(scope="module")
def recorded(lab, sipp, tmp_path_factory):
    """A call to an agent with `record: true`: 1.5 s of caller sweep, 2.5 s long."""
    call_id, sink = place_call(lab, tmp_path_factory.mktemp("recorded"), RECORDED_DID,
                               CALLER_FRAMES, 2500)
    record = lab.api.cdr(call_id)
    assert record["recording_id"], record
    return call_id, record, completed(lab, record["recording_id"]), sink


@sipp_test
def test_both_channels_hold_what_each_side_sent_sample_for_sample(lab, recorded):
    call_id, record, meta, sink = recorded
    assert meta["call_id"] == call_id
    assert (meta["format"], meta["channels"], meta["sample_rate"]) == ("wav", 2, 8000)
    audio = download(lab, meta["id"])
    assert meta["size"] == 44 + audio.nbytes
    assert len(audio) == round(meta["duration"] * 8000)
    answered = record["duration"]  # seconds from the answer to the end
    assert abs(meta["duration"] - answered) < 0.25, (meta["duration"], answered)

    left, right = audio[:, 0].copy(), audio[:, 1].copy()
    slots = len(audio) // 160

    # Left: slot k is exactly the k-th 20 ms frame the agent got (the caller's audio
    # after the jitter buffer, silence before it), for every slot of the recording.
    heard = lab.scripts.only_call("/recorded").caller_audio()
    assert abs(len(heard) - slots) <= 2, (len(heard), slots)
    for k, frame in enumerate(heard[:slots]):
        assert left[k * 160:(k + 1) * 160].tolist() == ulaw_decode(frame), k
    # ... and the caller's sweep is there in order at its own pace (no drift):
    # every frame of it, but those the jitter buffer had to conceal on a busy box.
    sent = {pcm([frame]).tobytes(): i for i, frame in enumerate(CALLER_FRAMES)}
    found = [(k, sent[left[k * 160:(k + 1) * 160].tobytes()]) for k in range(slots)
             if left[k * 160:(k + 1) * 160].tobytes() in sent]
    # (the adaptive jitter buffer may change its hold by a frame or two meanwhile)
    offsets = [k - i for k, i in found]
    assert [i for _, i in found] == sorted({i for _, i in found}), found
    assert max(offsets) - min(offsets) <= 4, found
    assert len(found) >= len(CALLER_FRAMES) - record["agent_stats"]["concealed"] - 3
    assert 1 <= offsets[0] <= 20  # from the answer + the buffer's hold

    # Right: slot k is exactly the RTP packet the caller got for slot k (by its
    # timestamp), and the agent's second is there whole, from 0.2 s after its start.
    packets = sink.audio()
    assert packets
    first = packets[0].timestamp
    checked = 0
    for packet in packets:
        k = ((packet.timestamp - first) % 2**32) // 160
        if k < slots:
            assert right[k * 160:(k + 1) * 160].tolist() == ulaw_decode(packet.payload), k
            checked += 1
    assert checked >= slots - 3, (checked, slots)
    agent_at = find(right, pcm(AGENT_FRAMES))
    assert agent_at >= 0 and agent_at % 160 == 0, "the agent's second is not whole"
    assert AGENT_DELAY <= agent_at / 8000 <= AGENT_DELAY + 0.4, agent_at / 8000
    assert not right[:agent_at].any()
    assert not right[agent_at + len(AGENT_FRAMES) * 160:].any()


@sipp_test
def test_the_recording_is_listed_by_call_and_deleted_with_its_file(lab, recorded):
    call_id, record, meta, sink = recorded
    listed = lab.api.get(f"/v1/recordings?call_id={quote(call_id)}")
    assert listed.status == 200 and [r["id"] for r in listed.json["items"]] == [meta["id"]]
    assert listed.json["items"][0]["audio_url"] == f"/v1/recordings/{meta['id']}/audio"
    files = list(lab.directory.rglob(f"{meta['id']}.wav"))
    assert len(files) == 1
    assert lab.api.delete(f"/v1/recordings/{meta['id']}").status == 204
    assert not files[0].exists()
    assert lab.api.get(f"/v1/recordings/{meta['id']}").status == 404
    assert lab.api.get(f"/v1/recordings/{meta['id']}/audio").status == 404


@sipp_test
def test_a_pause_over_the_api_leaves_silence_where_the_caller_spoke(lab, sipp,
                                                                      tmp_path_factory):
    """Recording is started, paused and resumed over the API during a 3.5 s call."""
    outcome = {}

    def caller():
        outcome["call_id"], _ = place_call(lab, tmp_path_factory.mktemp("paused"),
                                        CONTROLLED_DID, LONG_CALLER_FRAMES, 3500)

    thread = threading.Thread(target=caller)
    thread.start()
    try:
        def live():
            reply = lab.api.get("/v1/calls")
            ours = [c for c in reply.json["items"] if c.get("agent") == "controlled"]
            return ours[0]["call_id"] if ours else None
        call_id = wait_until(live, 5.0, interval=0.02, message="the call to be answered")
        path = f"/v1/calls/{quote(call_id, safe='')}/recording"
        assert lab.api.post(path, {"action": "pause"}).status == 409  # nothing to pause
        started = lab.api.post(path, {"action": "start"})
        assert started.status == 200 and started.json["state"] == "recording", started
        assert lab.api.post(path, {"action": "start"}).status == 409
        time.sleep(0.8)
        assert lab.api.post(path, {"action": "pause"}).json["state"] == "paused"
        time.sleep(0.8)
        assert lab.api.post(path, {"action": "resume"}).json["state"] == "recording"
    finally:
        thread.join(20)
    assert outcome.get("call_id") == call_id
    assert lab.api.post(path, {"action": "stop"}).status == 404  # the call is over
    record = lab.api.cdr(call_id)
    meta = completed(lab, started.json["id"])
    assert record["recording_id"] == meta["id"]
    [(paused_from, paused_to)] = meta["pauses"]
    assert 0.7 <= paused_from <= 1.0 and 0.7 <= paused_to - paused_from <= 1.0, meta["pauses"]
    audio = download(lab, meta["id"])
    left = audio[:, 0]
    gap = slice(round(paused_from * 8000), round(paused_to * 8000))
    assert not audio[gap].any(), "audio was written while paused"

    # Every other 20 ms of the left channel is one of the caller's frames, in order:
    # some before the pause, the ones sent during it missing, then the rest.
    sent = [pcm([frame]).tobytes() for frame in LONG_CALLER_FRAMES]
    heard = []
    for slot in range(len(left) // 160):
        piece = left[slot * 160:(slot + 1) * 160]
        if piece.any() and piece.tobytes() in sent:
            heard.append((slot, sent.index(piece.tobytes())))
    indexes = [i for _, i in heard]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    before = [i for slot, i in heard if slot * 160 < gap.start]
    after = [i for slot, i in heard if slot * 160 >= gap.stop]
    assert len(before) >= 30 and len(after) >= 15, (len(before), len(after))
    skipped = after[0] - before[-1] - 1
    assert abs(skipped - (paused_to - paused_from) / 0.02) <= 3, skipped
    # (a frame the jitter buffer concealed on this shared box is not the one sent)
    assert before[-1] - before[0] + 1 - len(before) <= 3, before
    assert after[-1] - after[0] + 1 - len(after) <= 3, after
    # The agent's second, said from 0.2 s after the answer, is on the right channel
    # up to the pause at least (its start came before the recording did).
    assert np.abs(audio[:gap.start, 1]).max() > 1000


@sipp_test
def test_a_relayed_call_to_a_recorded_number_has_each_sides_audio_whole(lab, sipp,
                                                                         tmp_path):
    """The carrier's caller plays 1.5 s of sweep to a number routed to a PBX trunk
    through the relay; the PBX answers and plays 1.2 s of its own. The relay does not
    re-time audio: each side's frames are in the file whole, where their RTP
    timestamps put them."""
    pbx = MediaCallee(tmp_path / "pbx", ip=GATEWAY_A_IP, port=lab.pbx_port,
                      frames=PBX_FRAMES)
    try:
        call_id, _ = place_call(lab, tmp_path / "caller", RELAYED_DID, CALLER_FRAMES, 2500)
    finally:
        pbx.finish()
    record = lab.api.cdr(call_id)
    assert record["route_kind"] == "trunk" and record["recording_id"], record
    meta = completed(lab, record["recording_id"])
    assert abs(meta["duration"] - record["duration"]) < 0.25, (meta, record["duration"])
    audio = download(lab, meta["id"])
    left, right = audio[:, 0].copy(), audio[:, 1].copy()
    caller_at = find(left, pcm(CALLER_FRAMES))
    pbx_at = find(right, pcm(PBX_FRAMES))
    assert caller_at >= 0, "the caller's sweep is not on the left channel, whole"
    assert pbx_at >= 0, "the PBX's sweep is not on the right channel, whole"
    # Both start playing at the answer (the caller after its ACK): near the start.
    assert caller_at % 160 == 0 and pbx_at % 160 == 0
    assert caller_at / 8000 <= 0.4 and pbx_at / 8000 <= 0.4, (caller_at, pbx_at)
    assert not left[:caller_at].any() and not left[caller_at + len(CALLER_FRAMES) * 160:].any()
    assert not right[:pbx_at].any() and not right[pbx_at + len(PBX_FRAMES) * 160:].any()
    listed = lab.api.get(f"/v1/recordings?call_id={quote(call_id)}")
    assert [r["id"] for r in listed.json["items"]] == [meta["id"]]
