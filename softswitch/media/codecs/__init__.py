"""Wideband codecs for SIP legs, each a thin stateful wrapper over a well-kept library:
G.722 (`g722.py`, the `G722` package's C implementation) and Opus (`opus.py`, libopus
through `opuslib`). Both take and give int16 numpy samples at the codec's own audio
rate. Their SDP facts (G.722's 8000 Hz RTP clock, RFC 3551 §4.5.2; Opus's
opus/48000/2, RFC 7587) are in `sdp/agent_answer.py`."""

OPUS_DEFAULT_PT = 111  # Opus's dynamic payload type when no negotiated one is given
