"""Fixtures for the end-to-end tests: the real switch as a child process, and SIPp.

- `sipp`: the SIPp binary. Missing SIPp fails the tests when CI is set and skips them
  loudly otherwise.
- `baresip_binary`: Debian's baresip, likewise.
- `switch`: one switch shared by a test module (users from USERS are created before it
  starts); tests use their own users so they do not see each other's bindings.
- `make_switch`: a factory for a fresh switch with its own settings and database, for
  tests that stop, restart or reconfigure it.
- `sipp_dir`: where a test's SIPp logs go.

When a test fails, the tail of every involved switch's output is added to its report.
"""

import pytest

from e2e_baresip import BARESIP_MISSING, baresip_path
from e2e_sipp import SIPP_MISSING, in_ci, sipp_path
from e2e_switch import SwitchProcess

# Users of the shared switch, one or more per test: username -> password.
USERS = {
    "alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dave": "dave-pw",
    "erin": "erin-pw", "frank": "frank-pw", "grace": "grace-pw", "heidi": "heidi-pw",
    "ivan": "ivan-pw", "judy": "judy-pw", "csv1": "csv1-pw", "csv2": "csv2-pw",
    "csv3": "csv3-pw",
}

_skipped_for_sipp = []
_skipped_for_baresip = []


@pytest.fixture(scope="session")
def sipp(request):
    path = sipp_path()
    if path is None:
        if in_ci():
            pytest.fail(f"{SIPP_MISSING} CI is set, so this is a failure, not a skip.",
                        pytrace=False)
        _skipped_for_sipp.append(request.node)
        pytest.skip(f"!!! {SIPP_MISSING} End-to-end SIPp tests SKIPPED. !!!")
    return path


@pytest.fixture(scope="session")
def baresip_binary(request):
    path = baresip_path()
    if path is None:
        if in_ci():
            pytest.fail(f"{BARESIP_MISSING} CI is set, so this is a failure, not a skip.",
                        pytrace=False)
        _skipped_for_baresip.append(request.node)
        pytest.skip(f"!!! {BARESIP_MISSING} The baresip end-to-end tests are SKIPPED. !!!")
    return path


@pytest.fixture(scope="module")
def switch(tmp_path_factory):
    process = SwitchProcess(tmp_path_factory.mktemp("switch"))
    for username, password in USERS.items():
        process.add_user(username, password)
    process.start()
    yield process
    process.close()


class SwitchFactory:
    def __init__(self, tmp_path):
        self._tmp_path = tmp_path
        self.switches: list[SwitchProcess] = []

    def __call__(self, users: dict[str, str] | None = None, **settings) -> SwitchProcess:
        process = SwitchProcess(self._tmp_path / f"switch{len(self.switches) + 1}", **settings)
        self.switches.append(process)
        for username, password in (users or {}).items():
            process.add_user(username, password)
        process.start()
        return process

    def close(self) -> None:
        errors = []
        for process in self.switches:
            try:
                process.close()
            except AssertionError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.fixture
def make_switch(tmp_path):
    factory = SwitchFactory(tmp_path)
    yield factory
    factory.close()


@pytest.fixture
def sipp_dir(tmp_path):
    return tmp_path / "sipp"


def _switches_of(item) -> list[SwitchProcess]:
    found = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, SwitchProcess):
            found.append(value)
        elif isinstance(value, SwitchFactory):
            found.extend(value.switches)
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for process in _switches_of(item):
            report.sections.append(
                (f"softswitch output ({process.workdir.name}, {report.when})", process.output()))


def pytest_terminal_summary(terminalreporter):
    if _skipped_for_sipp:
        terminalreporter.write_sep(
            "!", f"SIPp is missing: the end-to-end SIPp tests were SKIPPED. {SIPP_MISSING}",
            red=True, bold=True)
    if _skipped_for_baresip:
        terminalreporter.write_sep(
            "!", f"baresip is missing: the end-to-end baresip tests were SKIPPED. "
                 f"{BARESIP_MISSING}", red=True, bold=True)
