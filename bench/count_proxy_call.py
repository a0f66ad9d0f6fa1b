"""What one proxied call costs the switch, counted rather than timed: figures that other
work on a shared box does not move.

    python bench/count_proxy_call.py [--tree PATH] [--tool callgrind|cprofile]
                                     [--rate N] [--seconds S] [--no-anchor] [--out FILE]

The set-up is `bench_proxy_cps.py`'s (its `Bench`: a SIPp caller on a carrier trunk,
the switch, a SIPp UAS behind a gateway trunk, media anchored unless `--no-anchor`);
one step of `--rate` calls a second for `--seconds` is counted:

- `--tool callgrind` (default): the switch runs under `valgrind --tool=callgrind`,
  counting only during the step (`callgrind_control --instr=on/off`). Prints the
  instructions the switch executed per successful call, every thread included (the
  call records' database thread too). Needs valgrind. The switch runs some 50 times
  slower, so keep the rate at a few calls a second (the default 2) or SIP timers fire.
- `--tool cprofile`: the switch runs natively with `cProfile` on its reactor thread
  during the step (switched on and off by signals from a `sitecustomize`), and the
  functions' call counts per call are printed, most frequent first, and saved with
  `--out` as pstats. Call counts do not depend on the machine's load: two trees
  compared this way show which functions a change calls more often, and how much more.

`--tree` runs another checkout's switch and bench harness (for example the commit
before a change) the same way. Periodic work (OPTIONS probes of the gateway, the
routing snapshot's reload) falls in the window too; at 60 calls or more it is a small
share, equal for both trees.
"""

import argparse
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

PROFILE_PROBE = """
import cProfile, os, signal
_profile = cProfile.Profile()
def _on(signum, frame):
    _profile.enable()
def _off(signum, frame):
    _profile.disable()
    _profile.dump_stats(os.environ["SOFTSWITCH_BENCH_PROFILE_FILE"])
signal.signal(signal.SIGUSR1, _on)
signal.signal(signal.SIGUSR2, _off)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", default=str(HERE),
                        help="the checkout whose switch and bench harness run")
    parser.add_argument("--tool", choices=("callgrind", "cprofile"), default="callgrind")
    parser.add_argument("--rate", type=int, default=2, help="calls per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the step")
    parser.add_argument("--no-anchor", action="store_true", help="[media] anchor = false")
    parser.add_argument("--top", type=int, default=60, help="cprofile: functions listed")
    parser.add_argument("--out", help="keep callgrind's output or the pstats file here")
    args = parser.parse_args()
    sipp = shutil.which("sipp")
    if sipp is None:
        sys.exit("sipp is not installed (apt-get install sip-tester)")
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    if args.tool == "callgrind" and (valgrind is None or control is None):
        sys.exit("valgrind is not installed (apt-get install valgrind)")

    tree = Path(args.tree).resolve()
    sys.path[:0] = [str(tree / "bench"), str(tree)]
    import bench_proxy_cps
    import e2e_switch  # (as the harness imports it: tests/e2e is on its path)

    workdir = Path(tempfile.mkdtemp(prefix="count-proxy-call-"))
    callgrind_out = workdir / "callgrind.out"
    profile_out = workdir / "profile.pstats"
    saved_path = os.environ.get("PYTHONPATH")
    if args.tool == "callgrind":
        wrapper = workdir / "python-under-callgrind"
        wrapper.write_text(
            "#!/bin/sh\n"
            f"exec {valgrind} --tool=callgrind --instr-atstart=no "
            f"--callgrind-out-file={callgrind_out} {sys.executable} \"$@\"\n")
        wrapper.chmod(0o755)
        # The harness spawns `sys.executable -c TWISTD ...`; under valgrind it starts slowly.
        spawn_sys = type(sys)("sys")
        spawn_sys.executable = str(wrapper)
        e2e_switch.sys = spawn_sys
        e2e_switch.STARTUP_TIMEOUT = 300.0
        os.environ["PYTHONPATH"] = str(tree)
    else:
        # The bench's own sitecustomize (its GC probe) gains the profiler's switches.
        bench_proxy_cps.GC_PROBE += PROFILE_PROBE
        os.environ["PYTHONPATH"] = str(tree)
        os.environ["SOFTSWITCH_BENCH_PROFILE_FILE"] = str(profile_out)

    bench = bench_proxy_cps.Bench(workdir, sipp, anchor=not args.no_anchor, pinned=False,
                                  lifetime=args.seconds + 400)
    try:
        bench.start()
    finally:
        if saved_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_path
    try:
        time.sleep(3)  # start-up work (first probes, first reload) settles
        pid = bench.switch.pid
        if args.tool == "callgrind":
            subprocess.run([control, "--instr=on", str(pid)], check=True,
                           stdout=subprocess.DEVNULL)
        else:
            os.kill(pid, signal.SIGUSR1)
        result = bench.step(args.rate, args.seconds)
        if args.tool == "callgrind":
            subprocess.run([control, "--instr=off", str(pid)], check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([control, "--dump", str(pid)], check=True,
                           stdout=subprocess.DEVNULL)
        else:
            os.kill(pid, signal.SIGUSR2)
            time.sleep(1)
    finally:
        bench.stop()

    calls = result["ok"]
    print(f"tree {tree} ({'no anchoring' if args.no_anchor else 'media anchored'}), "
          f"{args.rate} calls/s for {args.seconds:g} s ({args.tool}): {calls} calls ok, "
          f"{result['failed']} failed, {result['retrans']} retransmissions")
    if args.tool == "callgrind":
        dumps = list(workdir.glob("callgrind.out*"))
        totals = [int(m.group(1)) for d in dumps
                  for m in [re.search(rb"^totals: (\d+)", d.read_bytes(), re.M)] if m]
        total = max(totals, default=0)
        if calls:
            print(f"switch instructions per call: {total / calls / 1e6:.2f} M "
                  f"({total / 1e6:.0f} M in the window)")
        if args.out and dumps:
            shutil.copy(max(dumps, key=lambda p: p.stat().st_size), args.out)
    elif profile_out.exists() and calls:
        stats = pstats.Stats(str(profile_out))
        rows = sorted(stats.stats.items(), key=lambda item: -item[1][1])
        print(f"{'calls/call':>10} {'own us/call':>11}  function (reactor thread)")
        for (path, line, name), (_, ncalls, own, _, _) in rows[:args.top]:
            where = path.split("site-packages/")[-1].split(str(tree) + "/")[-1]
            print(f"{ncalls / calls:>10.2f} {1e6 * own / calls:>11.2f}  {name} ({where}:{line})")
        total = sum(v[1] for v in stats.stats.values())
        print(f"{total / calls:>10.1f} function calls per SIP call in all")
        if args.out:
            shutil.copy(profile_out, args.out)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
