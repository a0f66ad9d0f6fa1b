"""Regenerate the readable DDL in sql/ddl/ from the Alembic scripts.

Run after adding or editing a migration:  python sql/render_ddl.py
A test fails while the committed files differ from what this renders.
"""

import sys
from pathlib import Path

# Run as a script, sys.path starts at sql/; the package lives one level up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from softswitch.store.migrate import DDL_DIR, render_ddl  # noqa: E402


def main() -> None:
    DDL_DIR.mkdir(exist_ok=True)
    for path, text in render_ddl().items():
        path.write_text(text)
        sys.stdout.write(f"wrote {path.relative_to(DDL_DIR.parent.parent)}\n")


if __name__ == "__main__":
    main()
