"""genguard uses its dependencies through their public APIs only.

A private attribute (``_name``) of aiohttp, aiolimiter, pybreaker, OpenTelemetry,
structlog, redis or prometheus_client can change or vanish in any release, so
src/ must never read, write, override or name one. The check reads the source
(AST), so it covers code paths no test runs:

- imports of a private module or name (``from opentelemetry.metrics import _internal``);
- a private attribute reached from a name bound to a dependency
  (``trace._TRACER_PROVIDER``, ``getattr(trace, "_TRACER_PROVIDER")``);
- in a subclass of a dependency's class, a private attribute that class has
  (``self._level`` in a subclass of ``AsyncLimiter``);
- on any other object, a private attribute name the dependencies define and
  genguard itself never does (``session._connector``);
- a string naming one of the dependencies' private classes (``"_ProxyMeterProvider"``).
"""

from __future__ import annotations

import ast
import collections
import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "genguard"
DEPENDENCIES = (
    "aiohttp",
    "aiolimiter",
    "pybreaker",
    "opentelemetry",
    "structlog",
    "redis",
    "prometheus_client",
)
_SELF_ATTR = re.compile(r"self\.(_[A-Za-z]\w*)\s*[:=]")
#: Underscored but public: the named tuple API (``_replace``, ``_asdict``...).
_STDLIB_PUBLIC = frozenset(dir(collections.namedtuple("T", "a")))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _dependency(module: str) -> bool:
    return module.split(".")[0] in DEPENDENCIES


def _loaded_dependency_modules() -> list[object]:
    for name in DEPENDENCIES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    return [m for n, m in list(sys.modules.items()) if _dependency(n) and m is not None]


@cache
def dependency_privates() -> tuple[frozenset[str], frozenset[str]]:
    """(private attribute names the dependencies' classes define, their private class names)."""
    attributes: set[str] = set()
    classes: set[str] = set()
    for module in _loaded_dependency_modules():
        for name, value in list(vars(module).items()):
            if not inspect.isclass(value) or not _dependency(getattr(value, "__module__", "")):
                continue
            if _private(name) and len(name) > 3:
                classes.add(name)
            attributes.update(n for n in dir(value) if _private(n))
        try:
            source = inspect.getsource(module)  # type: ignore[arg-type]
        except (OSError, TypeError):
            continue
        attributes.update(_SELF_ATTR.findall(source))
    return frozenset(attributes - _STDLIB_PUBLIC), frozenset(classes)


def _source_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


@cache
def genguard_privates() -> frozenset[str]:
    """Private names genguard defines itself (its own ``self._x``, methods, slots)."""
    names: set[str] = set()
    for path in _source_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)  # __slots__ entries
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return frozenset(n for n in names if _private(n))


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


class _Checker(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.bound: dict[str, str] = {}  # local name -> dependency module/object path
        self.findings: list[Finding] = []
        self.base_privates: list[frozenset[str]] = []
        self.attributes, self.classes = dependency_privates()
        self.own = genguard_privates()

    def report(self, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 0), what))

    # -- imports ---------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not _dependency(alias.name):
                continue
            if any(_private(part) for part in alias.name.split(".")):
                self.report(node, f"imports private module {alias.name}")
            local = alias.asname or alias.name.split(".")[0]
            self.bound[local] = alias.name if alias.asname else local

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or not _dependency(module):
            return
        if any(_private(part) for part in module.split(".")):
            self.report(node, f"imports from private module {module}")
        for alias in node.names:
            if _private(alias.name):
                self.report(node, f"imports private name {module}.{alias.name}")
            self.bound[alias.asname or alias.name] = f"{module}.{alias.name}"

    # -- attribute access ---------------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _private(node.attr):
            root = _root(node)
            if isinstance(root, ast.Name) and root.id in self.bound:
                self.report(node, f"private attribute {node.attr} of {self.bound[root.id]}")
            elif isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                for names in self.base_privates:
                    if node.attr in names:
                        self.report(node, f"private attribute {node.attr} of a dependency's class")
            elif node.attr in self.attributes and node.attr not in self.own:
                self.report(node, f"private attribute {node.attr} that a dependency defines")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Name)
            and func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            name = node.args[1].value
            root = _root(node.args[0])
            if isinstance(root, ast.Name) and root.id in self.bound:
                self.report(node, f"{func.id} of private {name} of {self.bound[root.id]}")
            elif name in self.attributes and name not in self.own:
                self.report(node, f"{func.id} of private {name} that a dependency defines")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value in self.classes:
            self.report(node, f"names the dependency's private class {node.value}")

    # -- subclasses of a dependency's classes -----------------------------------------------
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        privates: set[str] = set()
        for base in node.bases:
            target = self._resolve(base)
            if target is None:
                continue
            for klass in inspect.getmro(target):
                if _dependency(klass.__module__):
                    privates.update(n for n in dir(klass) if _private(n))
                    privates.update(_SELF_ATTR.findall(_class_source(klass)))
        self.base_privates.append(frozenset(privates))
        for item in node.body:
            defined = (
                [item.name] if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) else []
            )
            for name in defined:
                if name in privates:
                    self.report(item, f"overrides private {name} of a dependency's class")
        self.generic_visit(node)
        self.base_privates.pop()

    def _resolve(self, base: ast.expr) -> type | None:
        parts: list[str] = []
        node = base
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.bound:
            return None
        dotted = ".".join([self.bound[node.id], *reversed(parts)])
        module, _, attr = dotted.rpartition(".")
        try:
            value = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            try:
                value = importlib.import_module(dotted)
            except ImportError:
                return None
        return value if inspect.isclass(value) else None


def _class_source(klass: type) -> str:
    try:
        return inspect.getsource(klass)
    except (OSError, TypeError):
        return ""


def check_source(text: str, path: str = "<snippet>") -> list[Finding]:
    checker = _Checker(path)
    checker.visit(ast.parse(text, path))
    return checker.findings


def findings() -> Iterator[Finding]:
    for path in _source_files():
        yield from check_source(path.read_text(), str(path.relative_to(SRC.parents[1])))


def test_src_touches_no_private_attribute_of_a_dependency() -> None:
    found = [str(f) for f in findings()]
    assert found == [], "\n".join(found)


# -- the check itself finds what it is meant to find -------------------------------------------

BAD = {
    "aiolimiter subclass state": (
        "from aiolimiter import AsyncLimiter\n"
        "class B(AsyncLimiter):\n"
        "    def level(self):\n"
        "        self._leak()\n"
        "        return self._level\n"
    ),
    "aiolimiter override": (
        "from aiolimiter import AsyncLimiter\n"
        "class B(AsyncLimiter):\n"
        "    @property\n"
        "    def _loop(self):\n"
        "        return None\n"
    ),
    "otel private module": "from opentelemetry.metrics import _internal as m\n",
    "otel private global": "from opentelemetry import trace\nx = trace._TRACER_PROVIDER\n",
    "otel getattr": "from opentelemetry import trace\nx = getattr(trace, '_TRACER_PROVIDER', 1)\n",
    "otel private class by name": "ok = type(p).__name__ == '_ProxyMeterProvider'\n",
    "aiohttp session internals": "def f(session):\n    return session._connector\n",
    "pybreaker storage internals": "def f(breaker):\n    return breaker._state_storage\n",
    "redis pool internals": "def f(pool):\n    return pool._available_connections\n",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_check_catches(case: str) -> None:
    assert check_source(BAD[case]), f"{case} went unnoticed"


def test_the_check_leaves_public_use_and_genguard_privates_alone() -> None:
    good = (
        "from opentelemetry import trace\n"
        "from aiolimiter import AsyncLimiter\n"
        "class Mine:\n"
        "    __slots__ = ('_clock',)\n"
        "    def __init__(self, clock):\n"
        "        self._clock = clock\n"
        "        self.limiter = AsyncLimiter(1, 1)\n"
        "    def now(self):\n"
        "        return self._clock.now(), trace.get_tracer_provider()\n"
    )
    assert check_source(good) == []
