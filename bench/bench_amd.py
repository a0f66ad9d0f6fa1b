"""Answering-machine detection on the generated case set (tests/support/amd_cases.py):
per case what was decided and when, then the confusion matrix and the figures.

    python bench/bench_amd.py

Needs espeak-ng (apt package `espeak-ng`). The same set is asserted by
tests/media/test_amd_cases.py (>= 90 % correct, humans decided within 3.5 s).
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from softswitch.media.amd import AnsweringMachineDetector  # noqa: E402
from softswitch.media.g711 import ulaw_decode  # noqa: E402
from tests.support.amd_cases import (  # noqa: E402
    CASES,
    confusion,
    espeak_path,
    format_confusion,
    run_case,
    synthesise,
)


def cost_per_frame(cache: dict) -> tuple[int, float]:
    """(frames, µs per frame) of the detector alone, each case until it is done."""
    frames = []
    for case in CASES:
        audio = synthesise(case, cache)
        frames.append([ulaw_decode(audio[k:k + 160]) for k in range(0, len(audio), 160)])
    count, started = 0, time.perf_counter()
    for case_frames in frames:
        detector = AnsweringMachineDetector()
        for k, frame in enumerate(case_frames):
            detector.push(frame, k * 20)
            count += 1
            if detector.done:
                break
    return count, (time.perf_counter() - started) / count * 1e6


def main() -> int:
    if espeak_path() is None:
        print("espeak-ng is not installed (apt-get install espeak-ng)", file=sys.stderr)
        return 2
    cache: dict = {}
    started = time.perf_counter()
    results = [run_case(case, cache=cache) for case in CASES]
    elapsed = time.perf_counter() - started
    for r in results:
        mark = "" if r.correct else "   WRONG"
        end = f" end={r.end}@{r.end_ms}ms" if r.end else ""
        print(f"{r.case.name:<20} expected={r.case.expected:<8} got={r.result or '-':<8} "
              f"at={r.decided_ms}ms ({r.reason}){end}{mark}")
    print()
    print(format_confusion(confusion(results)))
    correct = sum(r.correct for r in results)
    humans = [r.decided_ms for r in results if r.case.expected == "human" and r.correct]
    machines = [r.decided_ms for r in results if r.case.expected == "machine" and r.correct]
    ends = [r for r in results if r.case.expected_end is not None]
    ends_right = sum(r.end == r.case.expected_end for r in ends)
    print(f"\ncorrect: {correct}/{len(results)} ({100 * correct / len(results):.1f} %)")
    if humans:
        print(f"human decided at: max {max(humans)} ms, mean {sum(humans) / len(humans):.0f} ms")
    if machines:
        print(f"machine decided at: max {max(machines)} ms, "
              f"mean {sum(machines) / len(machines):.0f} ms")
    print(f"machine end (beep / silence) right: {ends_right}/{len(ends)}")
    print(f"({elapsed:.2f} s for synthesis and detection)")
    count, micros = cost_per_frame(cache)
    print(f"detector cost: {micros:.1f} µs per 20 ms frame over {count} frames "
          f"({micros / 200:.2f} % of one core per call while it listens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
