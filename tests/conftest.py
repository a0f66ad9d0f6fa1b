"""Suite-wide settings: where the test PostgreSQL is (written by .ci/setup)."""

import os
import sys
from pathlib import Path

# Shared test helpers (tests/support) are importable from every test directory.
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

_PG_URL_FILE = Path(__file__).resolve().parents[1] / "var" / "test-postgres-url"

if "SOFTSWITCH_TEST_PG_URL" not in os.environ and _PG_URL_FILE.exists():
    os.environ["SOFTSWITCH_TEST_PG_URL"] = _PG_URL_FILE.read_text().strip()
