"""schemathesis against the live admin API: no 5xx, no answer outside the document,
and the document's constraints equal to the server's checks both ways.

The API runs in its own process (tests/admin/live_server.py) on a fresh SQLite
database with a bootstrap token; schemathesis reads /v1/openapi.json from it
and sends generated valid and invalid requests with that token (positive and
negative modes). Data the document calls invalid must be refused
(negative_data_rejection); data it calls valid must not be, except for the rules a
JSON Schema cannot state (schemathesis_hooks.positive_data_accepted). Revoking
tokens is left out: a fuzzer that revokes its own token tests nothing after.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TOKEN = "schemathesis-token-0123456789abcdefgh"
MAX_EXAMPLES = 5
BUDGET_SECONDS = 240  # the coverage phase alone is ~1 minute on a busy 2-core machine
CHECKS = ("not_a_server_error", "response_schema_conformance", "content_type_conformance",
          "negative_data_rejection", "positive_data_accepted")


@pytest.fixture
def live_api(tmp_path):
    server = subprocess.Popen(
        [sys.executable, str(HERE / "live_server.py"),
         "--db-url", f"sqlite:///{tmp_path / 'api.sqlite3'}", "--token", TOKEN],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = server.stdout.readline()
        assert line.startswith("listening on "), line + server.stdout.read()
        yield f"http://127.0.0.1:{int(line.split()[-1])}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def schemathesis_command() -> list[str]:
    found = shutil.which("schemathesis") or shutil.which("st")
    if found is None:
        pytest.fail("schemathesis is not installed: pip install -e '.[test]'", pytrace=False)
    return [found]


@pytest.mark.schemathesis
@pytest.mark.timeout(BUDGET_SECONDS + 30)
def test_the_live_api_keeps_to_its_document(live_api, tmp_path):
    command = schemathesis_command() + [
        "run", f"{live_api}/v1/openapi.json",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--checks", ",".join(CHECKS),
        "--mode", "all",
        "--max-examples", str(MAX_EXAMPLES),
        "--exclude-operation-id", "revoke_token",
        "--phases", "examples,coverage,fuzzing",
        # E.164 and URL patterns make slow, often-filtered data: that is not a failure.
        "--suppress-health-check", "too_slow,filter_too_much",
        "--seed", "1",
        "--no-color",
        "--report-dir", str(tmp_path / "report"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
                                 "PYTHONPATH": os.pathsep.join(
                                     filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))},
                            timeout=BUDGET_SECONDS + 20)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Authentication failed" not in output, output[-3000:]
    assert " passed" in output, output[-3000:]
