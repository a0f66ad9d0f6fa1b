"""Suite-wide settings: where the test PostgreSQL is (written by .ci/setup)."""

import os
from pathlib import Path

_PG_URL_FILE = Path(__file__).resolve().parents[1] / "var" / "test-postgres-url"

if "SOFTSWITCH_TEST_PG_URL" not in os.environ and _PG_URL_FILE.exists():
    os.environ["SOFTSWITCH_TEST_PG_URL"] = _PG_URL_FILE.read_text().strip()
