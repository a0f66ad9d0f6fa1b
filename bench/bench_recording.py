"""Micro-benchmark: the CPU cost of recording N concurrent agent calls.

    python bench/bench_recording.py [--calls 300] [--seconds 20] [--dir DIR]

Recording costs a call, every 20 ms slot, two frame copies on the reactor thread (the
bridge's tap into `media.recording.SlotRecorder`), and once a second the hand-over of
a 1 s chunk to the writer; on the writer's thread, the G.711 decode of both channels
to stereo PCM and the append to the call's WAV file. This runs exactly that code (the
recorder, `edge.storage.recording_writer`'s file and decode), for N calls interleaved
slot by slot, `--seconds` of audio each, writing real files under `--dir` (default: a
temporary directory, deleted after), and reports the CPU time of each side as a share
of one core for N calls in real time. Times are the process's CPU time (best of 3),
so other processes on a shared machine disturb them only through the caches; the
writer side includes the kernel's page-cache writes, not the disk's own flushing.

The bridge without recording costs ~8.8 us per call-slot (bench_agent_bridge.py,
pcmu/twilio): compare the `tap` column with it.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from softswitch.edge.storage.recording_writer import _WavFile  # noqa: E402
from softswitch.media.recording import CALLER, OTHER, SlotRecorder  # noqa: E402


def run(calls: int, seconds: float, directory: Path) -> tuple[float, float, int]:
    """(tap CPU s, writer CPU s, bytes written) for `calls` x `seconds` of audio."""
    slots = int(seconds * 50)
    chunks: list = []
    recorders = [SlotRecorder(0, chunks.append) for _ in range(calls)]
    caller = bytes(range(40, 200))
    agent = bytes(range(60, 220))
    files = [_WavFile(str(directory / f"call{n}.wav"), "PCMU") for n in range(calls)]
    tap = writer = 0.0
    for second in range(0, slots, 50):
        began = time.process_time()
        for slot in range(second, min(second + 50, slots)):
            for recorder in recorders:  # the bridge's tick: one write per direction
                recorder.write(CALLER, slot, caller)
                recorder.write(OTHER, slot, agent)
        tap += time.process_time() - began
        ready, chunks[:] = list(chunks), []
        began = time.process_time()
        for n, chunk in enumerate(ready):  # (one call's chunk after another's)
            files[n % calls].append(chunk)
        writer += time.process_time() - began
    began = time.process_time()
    for recorder in recorders:
        recorder.stop(slots)
    for n, chunk in enumerate(chunks):
        files[n % calls].append(chunk)
    size = 0
    for wav in files:
        wav.close()
        size += os.path.getsize(wav.path)
    writer += time.process_time() - began
    return tap, writer, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--dir", help="where the files go (default: a temporary directory)")
    args = parser.parse_args()
    best = None
    for attempt in range(3):
        directory = Path(args.dir or tempfile.mkdtemp(prefix="bench-recording-")) / str(attempt)
        directory.mkdir(parents=True)
        try:
            result = run(args.calls, args.seconds, directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        best = result if best is None or sum(result[:2]) < sum(best[:2]) else best
    tap, writer, size = best
    call_slots = args.calls * args.seconds * 50
    audio = args.seconds  # wall seconds the calls would have taken
    print(f"{args.calls} calls x {args.seconds:g} s of audio, {size / 1e6:.1f} MB of WAV")
    print(f"tap (reactor thread): {tap / call_slots * 1e6:.2f} us per call-slot, "
          f"{tap / audio * 100:.2f} % of one core for {args.calls} calls")
    print(f"writer thread:        {writer / call_slots * 1e6:.2f} us per call-slot, "
          f"{writer / audio * 100:.2f} % of one core for {args.calls} calls")
    print(f"total:                {(tap + writer) / audio * 100:.2f} % of one core")


if __name__ == "__main__":
    main()
