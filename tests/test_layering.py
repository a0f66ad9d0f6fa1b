"""Imports point inward (DESIGN.md, docs/call-control.md). Every package of softswitch
belongs to a ring, and each ring names what it may import:

- core (sip, sdp, media, agent): the standard library, numpy/soxr, pylibsrtp, the codec
  libraries (G722, opuslib) and the core;
  no sockets, no Twisted, no wall clock (it takes `now`);
- services: the core and Twisted's interfaces (an injected clock, Deferreds); no
  edge, store, admin, config, metrics or tap, no sockets or SQL, no wall clock;
- metrics: the core and prometheus_client; store: no other softswitch package;
- stir (STIR/SHAKEN): the standard library, cryptography, PyJWT and pyasn1 only, no
  wall clock; services use it;
- config: the core, services and the store's secret box;
- admin: the core, services, store, config and metrics (and the SIP guard whose bans
  it shows);
- edge: anything but admin's CLI and tap; its subpackages import each other only as
  listed in EDGE_ALLOWED, and only edge/twisted_internals.py reads Twisted's private
  attributes;
- tap.py, the composition root, imports anything, and alone imports the global reactor;
  compose, the parts it builds one area a module, imports as tap does.
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "softswitch"
CORE = ("sip", "sdp", "media", "agent")
CORE_ALLOWED_THIRD_PARTY = {"numpy", "soxr", "pylibsrtp",  # pylibsrtp: libsrtp in media.srtp
                            "G722", "opuslib"}  # codec libraries in media.codecs

# ring -> the softswitch packages it may import (besides itself)
ALLOWED = {
    "sip": set(CORE), "sdp": set(CORE), "media": set(CORE), "agent": set(CORE),
    "services": {*CORE, "stir"},
    "stir": set(),
    "metrics": {*CORE},
    "store": set(),
    "config": {*CORE, "services", "store"},
    "admin": {*CORE, "services", "store", "config", "metrics", "edge"},
    "edge": {*CORE, "services", "store", "config", "metrics", "admin", "stir"},
    "tap": {*CORE, "services", "store", "config", "metrics", "admin", "edge", "stir", "compose"},
    "compose": {*CORE, "services", "store", "config", "metrics", "admin", "edge", "stir"},
}
THIRD_PARTY = {
    "services": {"twisted"},
    "metrics": {"prometheus_client"},
    "stir": {"cryptography", "jwt", "pyasn1"},
    "store": {"sqlalchemy", "alembic", "cryptography", "twisted"},
    "config": set(),
}
# admin shows and lifts the SIP guard's bans: the one edge module it may import.
ADMIN_EDGE_MODULES = {"softswitch.edge.sip.guard"}
# edge subpackage -> the edge subpackages it may import (twisted_internals: all)
EDGE_ALLOWED = {
    "sip": set(), "polling": set(), "admin": set(), "storage": set(),
    "media": {"polling"}, "agent": {"media", "polling"}, "stir": set(),
}
# Reads of the wall clock: the core and services take `now` or an injected clock.
CLOCK_CALLS = {"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter",
               "perf_counter_ns", "process_time", "clock_gettime", "now", "utcnow", "today",
               "localtime", "gmtime", "ctime"}


def imports_of(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-node.level]
                module = ".".join(base + ((node.module,) if node.module else ()))
                names.append(module)
                names += [f"{module}.{alias.name}" for alias in node.names]
            else:
                names.append(node.module)
                names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def ring_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def modules(*subpackages):
    for sub in subpackages:
        yield from sorted((PACKAGE / sub).rglob("*.py"))


def all_modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"
                  or p.parent != PACKAGE)


def test_every_package_belongs_to_a_ring():
    rings = {ring_of(p) for p in all_modules()}
    assert rings <= set(ALLOWED), f"packages without a ring: {rings - set(ALLOWED)}"
    edge = {p.relative_to(PACKAGE / "edge").parts[0] for p in modules("edge")
            if p.parent != PACKAGE / "edge"}
    assert edge == set(EDGE_ALLOWED)


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_inward(path):
    ring = ring_of(path)
    for name in imports_of(path):
        parts = name.split(".")
        if parts[0] == "softswitch":
            if len(parts) == 1:
                continue  # `from . import name` in a top-level module
            target = parts[1]
            if target == ring:
                continue
            assert target in ALLOWED[ring], f"{ring} module {path.name} imports {name}"
            if ring == "admin" and target == "edge":
                assert ".".join(parts[:4]) in ADMIN_EDGE_MODULES, f"{path.name} imports {name}"
        elif ring in CORE:
            assert parts[0] in sys.stdlib_module_names or parts[0] in CORE_ALLOWED_THIRD_PARTY, \
                f"{path.name} imports {name}"
        elif ring in THIRD_PARTY:
            assert parts[0] in sys.stdlib_module_names or parts[0] in THIRD_PARTY[ring], \
                f"{path.name} imports {name}"
        if ring in (*CORE, "services", "config", "metrics"):
            assert parts[0] not in ("socket", "sqlalchemy"), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", list(modules("edge")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_edge_subpackages_import_each_other_only_as_listed(path):
    inner = path.relative_to(PACKAGE / "edge").parts
    mine = inner[0] if len(inner) > 1 else None
    for name in imports_of(path):
        parts = name.split(".")
        if parts[:2] != ["softswitch", "edge"] or len(parts) < 3:
            continue
        target = parts[2]
        if mine is None or target in (mine, "twisted_internals"):
            continue
        assert target in EDGE_ALLOWED[mine], f"edge.{mine} module {path.name} imports {name}"


def test_only_tap_imports_the_global_reactor():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "tap.py":
            continue
        source = path.read_text()
        names = imports_of(path)
        if "twisted.internet.reactor" in names or "from twisted.internet import reactor" in source:
            offenders.append(str(path))
    assert offenders == []


@pytest.mark.parametrize("path", list(modules(*CORE, "services", "stir")),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_core_and_services_read_no_wall_clock(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert "time" not in [a.name for a in node.names], f"{path.name} imports time"
        elif isinstance(node, ast.ImportFrom) and node.module in ("time", "datetime"):
            clocks = {a.name for a in node.names} & (CLOCK_CALLS | {"time"})
            assert node.module != "time", f"{path.name} imports from time"
            assert not clocks, f"{path.name} imports {clocks} from {node.module}"
        elif isinstance(node, ast.Attribute) and node.attr in CLOCK_CALLS \
                and isinstance(node.value, (ast.Name, ast.Attribute)):
            base = node.value.attr if isinstance(node.value, ast.Attribute) else node.value.id
            assert base not in ("time", "datetime", "date"), \
                f"{path.name}:{node.lineno} reads the wall clock ({ast.unparse(node)})"


@pytest.mark.parametrize("path", [p for p in modules("edge") if p.name != "twisted_internals.py"],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_twisted_internals_reads_private_attributes_of_other_objects(path):
    """`x._name` with x not self/cls (Twisted's objects, mostly), or getattr(x, "_name"),
    belongs in edge/twisted_internals.py, whose test checks it against Twisted."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            owner = node.value
            assert isinstance(owner, ast.Name) and owner.id in ("self", "cls"), \
                f"{path.name}:{node.lineno} reads {ast.unparse(node)}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "setattr", "hasattr") and len(node.args) > 1 \
                and isinstance(node.args[1], ast.Constant) \
                and str(node.args[1].value).startswith("_"):
            raise AssertionError(f"{path.name}:{node.lineno} reads {ast.unparse(node)}")


def test_the_plugin_directory_has_no_init():
    plugins = PACKAGE.parent / "twisted" / "plugins"
    assert (plugins / "softswitch_plugin.py").exists()
    assert not (plugins / "__init__.py").exists()
    assert not (plugins.parent / "__init__.py").exists()
