"""Say loudly when the admin API's PostgreSQL cases were skipped."""

import admin_harness


def pytest_terminal_summary(terminalreporter):
    if admin_harness.skipped_postgresql:
        terminalreporter.write_sep("!", admin_harness.NOT_RUN_MESSAGE, yellow=True, bold=True)
