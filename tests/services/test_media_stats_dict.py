"""Call records take the relay's statistics as plain data: `to_dict` must give exactly
what `dataclasses.asdict` gives (it is spelled out for speed), for every field."""

import dataclasses

from softswitch.media.stats import StreamStats
from softswitch.services.media_control import CallMediaStats, LegMediaStats, StreamMediaStats


def _distinct(cls, **given):
    """An instance whose every field not given holds a value of its own."""
    values = {}
    for n, field in enumerate(dataclasses.fields(cls), start=1):
        if field.name not in given:
            values[field.name] = n + 0.5 if "float" in str(field.type) else n
    return cls(**{**values, **given})


def _stats() -> CallMediaStats:
    rtp = _distinct(StreamStats, ssrc=0x1234ABCD, reported_fraction_lost=0.25)
    streams = (_distinct(StreamMediaStats, media="audio", advertised=("192.0.2.1", 4000),
                         peer=("198.51.100.7", 4002), rtp=rtp),
               _distinct(StreamMediaStats, media="video", advertised=None, peer=None,
                         rtp=StreamStats()))
    return CallMediaStats("c1@example.com", "eu", LegMediaStats("caller-tag", streams),
                          LegMediaStats(None, ()), 10.5, None, 12.25)


def test_stream_stats_to_dict_is_asdict():
    stats = _distinct(StreamStats)
    assert stats.to_dict() == dataclasses.asdict(stats)
    assert list(stats.to_dict()) == [f.name for f in dataclasses.fields(StreamStats)]


def test_call_media_stats_to_dict_is_asdict():
    stats = _stats()
    plain = stats.to_dict()
    assert plain == dataclasses.asdict(stats)
    assert type(plain["caller"]["streams"]) is tuple  # as asdict keeps a tuple's type
    assert plain["caller"]["streams"][0]["rtp"]["ssrc"] == 0x1234ABCD


def test_every_field_is_in_the_plain_data():
    # A field added to one of the dataclasses must be added to its to_dict too.
    for cls in (StreamMediaStats, LegMediaStats, CallMediaStats):
        instance = {StreamMediaStats: _stats().caller.streams[0],
                    LegMediaStats: _stats().caller, CallMediaStats: _stats()}[cls]
        assert set(instance.to_dict()) == {f.name for f in dataclasses.fields(cls)}
