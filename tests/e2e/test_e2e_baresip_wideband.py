"""Debian's baresip as a wideband phone: with only its g722 (or opus) codec module
loaded and the account's audio_codecs limited to it, it registers, calls the built-in
echo agent, the switch answers in that codec (baresip's own coders on the far side:
spandsp's G.722, libopus in stereo), audio flows both ways, and the call record
says which codec the caller leg used.
Missing baresip fails under CI=true and is a loud skip elsewhere (`baresip_binary`)."""

import time
import wave
from pathlib import Path

import numpy as np
import pytest

from calls_support import wait_cdr
from e2e_baresip import MODULES, Baresip
from e2e_switch import wait_until
from far_end_support import AdminApi, create_api_token

ECHO_NUMBER = "+10000000000"  # [agents] echo_number's default
USER, PASSWORD = "phone1", "phone1-secret-pw"
# baresip's module, the account's codec list, the codec the switch records
# and its "microphone" (baresip's aufile takes the codec's own rate and channels)
CODECS = {"g722": ("g722", "G722/16000/1", "G722", 16000, 1),
          "opus": ("opus", "opus/48000/2", "OPUS", 48000, 2)}


def write_wav(path: Path, rate: int, channels: int, seconds: float = 3.0) -> None:
    """A 440 Hz tone, 16-bit, the same in every channel."""
    t = np.arange(int(seconds * rate)) / rate
    mono = np.rint(8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(mono, channels).tobytes())


@pytest.mark.parametrize("name", sorted(CODECS))
def test_baresip_calls_the_echo_agent_in_a_wideband_codec(baresip_binary, make_switch,
                                                          tmp_path, name):
    module, audio_codecs, recorded, rate, channels = CODECS[name]
    assert Path(MODULES, f"{module}.so").exists(), f"baresip has no {module} module"
    switch = make_switch(users={USER: PASSWORD})
    api = AdminApi(switch, create_api_token(switch.db_url))
    phone = Baresip(tmp_path / "baresip", switch, USER, PASSWORD,
                    f";audio_codecs={audio_codecs}", extra_modules=(module,))
    write_wav(tmp_path / "baresip" / "tone.wav", rate, channels)
    try:
        phone.start()
        wait_until(lambda: api.get(f"/v1/registrations?aor={phone.aor}").json["items"],
                   10.0, message=lambda: f"baresip's binding\n{phone.output()}")
        assert phone.command("dial", f"sip:{ECHO_NUMBER}@{switch.domain}")["ok"]
        phone.wait_event("CALL_ESTABLISHED")
        phone.wait_event("CALL_RTPESTAB")  # the switch's audio reached the phone
        [call] = api.get("/v1/calls").json["items"]
        time.sleep(1.0)  # a second of the phone's tone through the echo agent and back
        assert phone.command("hangup")["ok"]
        phone.wait_event("CALL_CLOSED")
        record = wait_cdr(switch, call["call_id"])
    finally:
        phone.close()
    stats = record["agent_stats"]
    assert stats["caller_codec"] == recorded, stats
    assert stats["caller_frames"] >= 25 and stats["agent_frames_sent"] > 0, stats
    assert stats["rtp_ignored"] == 0, stats  # every packet of the phone was its codec
