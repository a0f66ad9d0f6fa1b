"""Imports point inward (DESIGN.md): the pure core imports no Twisted, sockets or
SQL; services import no edge or store; only tap.py imports the global reactor."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "softswitch"
CORE = ("sip", "sdp", "media", "agent")
CORE_ALLOWED_THIRD_PARTY = {"numpy", "soxr"}


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


def modules(*subpackages):
    for sub in subpackages:
        yield from sorted((PACKAGE / sub).rglob("*.py"))


@pytest.mark.parametrize("path", list(modules(*[c for c in CORE if (PACKAGE / c).exists()])),
                         ids=str)
def test_core_imports_only_stdlib_and_core(path):
    import sys
    for name in imports_of(path):
        top = name.split(".")[0]
        if top == "softswitch":
            assert name.split(".")[1] in CORE, f"{path.name} imports {name}"
        else:
            assert top in sys.stdlib_module_names or top in CORE_ALLOWED_THIRD_PARTY, \
                f"{path.name} imports {name}"
        assert top != "socket", f"{path.name} imports socket"


@pytest.mark.parametrize("path", list(modules("services")), ids=str)
def test_services_do_not_import_the_edge_or_the_store(path):
    for name in imports_of(path):
        parts = name.split(".")
        if parts[0] == "softswitch":
            assert parts[1] not in ("edge", "store", "tap"), f"{path.name} imports {name}"
        assert name != "twisted.internet.reactor", f"{path.name} imports the reactor"
        assert parts[0] not in ("sqlalchemy", "socket"), f"{path.name} imports {name}"


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


def test_the_plugin_directory_has_no_init():
    plugins = PACKAGE.parent / "twisted" / "plugins"
    assert (plugins / "softswitch_plugin.py").exists()
    assert not (plugins / "__init__.py").exists()
    assert not (plugins.parent / "__init__.py").exists()
