"""Runs the fuzz target over the whole SIP stack (fuzz_sip_stack.py) for a bounded
time, seeded with the torture corpus and tests/fuzz/seeds: any crash, leak, reflection or amplification it
finds fails the test with the input that caused it.

SOFTSWITCH_FUZZ_SECONDS sets the time (default 20 s). atheris missing fails the test
when CI is set and skips it loudly otherwise.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TORTURE = HERE.parent / "fixtures" / "torture"
SECONDS = int(os.environ.get("SOFTSWITCH_FUZZ_SECONDS", "20"))


def test_fuzz_the_sip_stack_for_a_bounded_time(tmp_path):
    if importlib.util.find_spec("atheris") is None:
        message = "atheris is not installed (pip install -e '.[test]')."
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message} CI is set, so this is a failure, not a skip.",
                        pytrace=False)
        pytest.skip(f"!!! {message} The SIP stack fuzz test is SKIPPED. !!!")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted(TORTURE.rglob("*.dat")):
        if "archive-raw" not in path.parts:
            shutil.copy(path, corpus / path.name)
    for path in sorted((HERE / "seeds").iterdir()):  # the calls the proxy routes
        shutil.copy(path, corpus / path.name)
    result = subprocess.run(
        [sys.executable, str(HERE / "fuzz_sip_stack.py"), str(corpus),
         f"-max_total_time={SECONDS}", "-timeout=10", "-rss_limit_mb=1024",
         f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"],
        capture_output=True, text=True, timeout=SECONDS + 60, cwd=tmp_path)
    output = result.stdout + result.stderr
    tail = "\n".join(line for line in output.splitlines()
                     if not line.startswith("INFO: Instrumenting"))[-6000:]
    assert result.returncode == 0, f"the fuzz target found a failure:\n{tail}"
    runs = re.search(r"Done (\d+) runs", output)
    assert runs and int(runs.group(1)) >= 1000, tail
