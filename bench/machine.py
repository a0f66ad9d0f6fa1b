"""What the benchmarks read off the machine: CPU time (a process's, the whole box's),
kernel UDP drops, the load, CPU pinning, SIPp's elapsed times and py-spy summaries.
Linux /proc only; shared by the bench_*.py scripts."""

import collections
import os
import socket
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def busy_cpu_seconds() -> float:
    """CPU time spent busy by the whole machine (all processes, all cores)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def udp_receive_drops() -> int:
    """Datagrams the kernel dropped on full receive buffers, all sockets (RcvbufErrors)."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()
             if line.startswith("Udp:")]
    header, values = lines[0], lines[1]
    return int(values[header.index("RcvbufErrors")])


def socket_drops(ip: str, port: int) -> int:
    """Datagrams the kernel dropped for one UDP socket (the drops column of
    /proc/net/udp) since it was opened."""
    wanted = f"{socket.inet_aton(ip)[::-1].hex().upper()}:{port:04X}"
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted:
            return int(fields[-1])
    return 0


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def pin(pid: int, cpu: int | None) -> None:
    """Put every thread of `pid` on one CPU (None or a missing CPU: leave it)."""
    if cpu is None or cpu >= (os.cpu_count() or 1):
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), {cpu})
        except (ProcessLookupError, PermissionError):
            pass


def parse_elapsed(text: str) -> float:
    """SIPp's 'HH:MM:SS:micro' (or 'HH:MM:SS') elapsed time, in seconds."""
    parts = text.strip().split(":")
    hours, minutes, seconds = (int(p) for p in parts[:3])
    micro = int(parts[3]) if len(parts) > 3 else 0
    return hours * 3600 + minutes * 60 + seconds + micro / 1e6


def _function(frame: str) -> str:
    """'name (path/file.py:123)' -> 'name (path/file.py)'."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else frame


def summarise_profile(path: Path, top: int = 15) -> str:
    """Top entries of a py-spy raw (collapsed stacks) file: own samples by function,
    and samples with callees by switch function (softswitch/ frames only)."""
    own, total = collections.Counter(), collections.Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        count = int(count)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        samples += count
        own[_function(frames[-1])] += count
        for function in {_function(f) for f in frames if "softswitch/" in f}:
            total[function] += count
    if not samples:
        return "(no samples)"
    lines = [f"{samples} samples; own time (where the sample was taken):"]
    lines += [f"  {100 * n / samples:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines.append("switch functions with their callees:")
    lines += [f"  {100 * n / samples:5.1f}%  {function}"
              for function, n in total.most_common(top)]
    return "\n".join(lines)
