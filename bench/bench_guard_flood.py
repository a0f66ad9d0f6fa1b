"""A flood from one address while phones carry on from others: does the guard keep them?

    python bench/bench_guard_flood.py [--seconds 60] [--flood register,invite]
                                      [--flood-rate 50000] [--no-guard]

For each flood kind, a fresh `twistd -n softswitch` (the end-to-end harness's
SwitchProcess, default [guard] settings) with one SIP user. Then, at the same time:
- the flooder, a SIPp on 127.0.0.1 sending REGISTERs (or INVITEs) without credentials
  as fast as it can (`-r FLOOD_RATE`, tests/e2e/scenarios/flood_*.xml, no waiting for
  answers) for --seconds;
- a phone, SIPp on 127.0.0.2, registering with digest (REGISTER, 401, REGISTER with
  credentials, 200: register.xml) 10 times a second;
- a monitor, SIPp on 127.0.0.3, sending OPTIONS twice a second (options.xml).

Per flood it prints: the messages the flooder sent (its calls), the requests the switch
parsed and those the guard dropped (banned, over budget), the share of legitimate
REGISTERs and OPTIONS that succeeded and the retransmissions they needed, the time from
the flood's start to its ban (the ban's `banned_at` in /v1/bans minus the flooder's
start), and the switch's RSS before and after. `--no-guard`
runs the same with `[guard] enabled = false`, the switch as it was before the guard.
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from e2e_sipp import SCENARIOS  # noqa: E402
from e2e_switch import SwitchProcess, free_port  # noqa: E402
from far_end_support import AdminApi, create_api_token  # noqa: E402

FLOODER, PHONE, MONITOR = "127.0.0.1", "127.0.0.2", "127.0.0.3"
USER, PASSWORD = "legit", "legit-password"
SCENARIO = {"register": "flood_register.xml", "invite": "flood_invite.xml"}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sipp(switch, scenario: str, ip: str, rate: float, calls: int, timeout: float,
         workdir: Path, name: str, *extra: str) -> tuple[subprocess.Popen, Path]:
    stats = workdir / f"{name}.stats.csv"
    command = [shutil.which("sipp"), switch.sip_target, "-sf", str(SCENARIOS / scenario),
               "-t", "u1", "-i", ip, "-p", str(free_port()), "-r", f"{rate:g}", "-rp", "1000",
               "-m", str(calls), "-timeout", f"{timeout:g}s", "-nostdin", "-nd",
               "-key", "user_name", USER, "-key", "domain", switch.domain,
               "-trace_stat", "-stf", str(stats), "-fd", "1", *extra]
    process = subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, stats


def outcome(stats: Path) -> tuple[int, int]:
    """(successful calls, retransmissions) from a SIPp statistics file's last row."""
    if not stats.exists():
        return 0, 0
    with stats.open(newline="") as f:
        rows = [row for row in csv.DictReader(f, delimiter=";") if row]
    last = rows[-1] if rows else {}
    return (int(last.get("SuccessfulCall(C)", 0) or 0),
            int(last.get("Retransmissions(C)", 0) or 0))


def created(stats: Path) -> int:
    if not stats.exists():
        return 0
    with stats.open(newline="") as f:
        rows = [row for row in csv.DictReader(f, delimiter=";") if row]
    return int(rows[-1].get("TotalCallCreated", 0) or 0) if rows else 0


def run(kind: str, seconds: float, flood_rate: int, guard: bool, workdir: Path) -> dict:
    switch = SwitchProcess(workdir / f"switch-{kind}", guard={"enabled": guard})
    switch.add_user(USER, PASSWORD)
    switch.start()
    try:
        api = AdminApi(switch, create_api_token(switch.db_url))
        time.sleep(1.0)
        rss_before = rss_mb(switch.pid)
        calls = int(10 * seconds)
        phone, phone_stats = sipp(switch, "register.xml", PHONE, 10, calls, seconds + 10, workdir,
                                  f"{kind}-phone", "-au", USER, "-ap", PASSWORD,
                                  "-key", "contact", f"<sip:{USER}@{PHONE}:5999>",
                                  "-key", "expires", "300")
        monitor, monitor_stats = sipp(switch, "options.xml", MONITOR, 2, int(2 * seconds),
                                      seconds + 10, workdir, f"{kind}-options")
        time.sleep(0.5)
        started = time.time()
        flood, flood_stats = sipp(switch, SCENARIO[kind], FLOODER, flood_rate,
                                  int(flood_rate * seconds), seconds, workdir, f"{kind}-flood")
        banned_at = None
        deadline = time.monotonic() + seconds + 30
        while any(p.poll() is None for p in (phone, monitor, flood)):
            if banned_at is None and guard:
                reply = api.get(f"/v1/bans/{FLOODER}")
                if reply.status == 200:
                    # RFC 3339, as every time in the API
                    banned_at = datetime.fromisoformat(reply.json["banned_at"]).timestamp()
            if time.monotonic() > deadline:
                for p in (phone, monitor, flood):
                    p.kill()
            time.sleep(0.05)
        rss_after = rss_mb(switch.pid)
        counters = api.get("/v1/guard").json
        requests = sum(v for (name, _), v in switch.metrics().items()
                       if name == "softswitch_sip_requests_total")
        phone_ok, phone_retrans = outcome(phone_stats)
        options_ok, options_retrans = outcome(monitor_stats)
        return {
            "kind": kind, "guard": guard, "flood_sent": created(flood_stats),
            "parsed": int(requests), "dropped": counters["dropped"],
            "register_ok": phone_ok, "register_calls": calls,
            "retrans": phone_retrans + options_retrans,
            "options_ok": options_ok, "options_calls": int(2 * seconds),
            "to_ban": None if banned_at is None else banned_at - started,
            "rss_before": rss_before, "rss_after": rss_after,
        }
    finally:
        switch.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--flood", default="register,invite")
    parser.add_argument("--flood-rate", type=int, default=50000,
                        help="SIPp -r for the flooder (it sends as fast as it can below it)")
    parser.add_argument("--no-guard", action="store_true")
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        sys.exit("sipp is not installed (apt-get install sip-tester)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-guard-flood-"))
    print(f"{os.cpu_count()} CPUs shared by the switch and three SIPps; {args.seconds:g} s per "
          f"flood; guard {'off' if args.no_guard else 'on (default settings)'}")
    print(f"{'flood':>8} {'sent':>8} {'parsed':>7} {'banned':>8} {'rate':>6} "
          f"{'REGISTER ok':>13} {'OPTIONS ok':>12} {'retrans':>7} {'to ban':>7} {'RSS MB':>13}")
    for kind in args.flood.split(","):
        r = run(kind, args.seconds, args.flood_rate, not args.no_guard, workdir)
        ban = "never" if r["to_ban"] is None else f"{r['to_ban']:.2f}s"
        print(f"{kind:>8} {r['flood_sent']:>8} {r['parsed']:>7} {r['dropped']['banned']:>8} "
              f"{r['dropped']['rate']:>6} "
              f"{100 * r['register_ok'] / r['register_calls']:>12.1f}% "
              f"{100 * r['options_ok'] / r['options_calls']:>11.1f}% {r['retrans']:>7} {ban:>7} "
              f"{r['rss_before']:>5.0f} -> {r['rss_after']:<4.0f}", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
