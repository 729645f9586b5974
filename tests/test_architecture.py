"""The shape of the code base, checked: importing the core configures nothing, the order service
is the only writer of orders (every write audited), and the project's packages import each other in
one direction only (no circle)."""

from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parent.parent


def test_importing_any_core_module_creates_no_files_and_reads_no_settings(tmp_path):
    """A fresh process in an empty folder imports every core and api module (piccolo's
    configuration module included): no database file, no var folder, no secret key appears."""
    modules = ["core." + m.name for m in pkgutil.iter_modules(core.__path__)] + [
        "core.builtins.hotline", "api.app", "api.cli", "api.routes", "api.web.routes"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUYING_", "PICCOLO_"))}
    env.update(PICCOLO_CONF="core.piccolo_conf", PYTHONPATH=str(ROOT))
    script = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    done = subprocess.run([sys.executable, "-c", script, *modules], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_database_module_does_not_import_piccolos_configuration():
    """``core.db`` and ``core.piccolo_conf`` no longer import each other in a circle."""
    source = (ROOT / "core" / "db.py").read_text()
    assert "piccolo_conf" not in source
    conf = (ROOT / "core" / "piccolo_conf.py").read_text()
    assert "\nfrom core" not in conf and "\nimport core" not in conf  # only inside functions, on use


async def test_migrations_run_on_the_engine_they_are_given(tmp_path):
    """Two databases migrated side by side in one process, each by its own engine."""
    from piccolo.querystring import QueryString

    from core.db import make_engine
    from core.migrations import migrate
    from core.tables import Order

    first, second = (make_engine(f"sqlite:///{tmp_path / name}") for name in ("a.sqlite3", "b.sqlite3"))
    await migrate(first)
    assert (tmp_path / "a.sqlite3").exists() and not (tmp_path / "b.sqlite3").exists()
    await migrate(second)
    for engine in (first, second):
        rows = await engine.run_querystring(
            QueryString("SELECT name FROM sqlite_master WHERE name = {}", Order._meta.tablename))
        assert rows, engine
        await engine.close_idle()


# -- the import graph ---------------------------------------------------------------------------------

PACKAGES = ("core", "api", "plugins")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module → the project modules it imports, read from the source with ``ast``: imports at the top,
    inside functions and inside ``try`` alike (an import hidden in a function still runs, and still
    ties the two modules together). Only what runs is counted: the body of ``if TYPE_CHECKING:``
    never does, so an import there (a name used in annotations only) is no arrow. ``from a import b``
    is an arrow to ``a.b`` when that is a module, else to ``a``. Migrations are left out: piccolo
    loads them by file, and no module imports one."""
    files = {_module_name(p, root): p for package in PACKAGES for p in (root / package).rglob("*.py")
             if "piccolo_migrations" not in p.parts}

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        arrows: set[str] = set()
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]

        def visit(node: ast.AST) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_type_checking(child):
                    for other in child.orelse:
                        visit_one(other)
                    continue
                visit_one(child)

        def visit_one(node: ast.AST) -> None:
            if isinstance(node, ast.Import):
                arrows.update(filter(None, (known(alias.name) for alias in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    base = ".".join(parts + ([node.module] if node.module else []))
                for alias in node.names:
                    target = f"{base}.{alias.name}" if base else alias.name
                    found = target if target in files else known(base)
                    if found:
                        arrows.add(found)
            visit(node)

        visit(ast.parse(path.read_text(), str(path)))
        arrows.discard(module)
        graph[module] = arrows
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle through each knot (strongly connected set) of the graph, as the modules in order,
    the first repeated at the end: ``a → b → a``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    knots: list[set[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            knot = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                knot.add(w)
                if w == v:
                    break
            if len(knot) > 1:
                knots.append(knot)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    found = []
    for knot in knots:  # a shortest way back to the first module, within the knot
        start = min(knot)
        paths = {start: [start]}
        queue = [start]
        while queue:
            v = queue.pop(0)
            for w in sorted(graph[v] & knot):
                if w == start:
                    queue = []
                    found.append(paths[v] + [start])
                    break
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    queue.append(w)
    return found


def test_the_import_graph_finds_a_circle_and_names_it(tmp_path):
    """The check itself: a circle made of a top-level import and one hidden in a function is found
    and named; an import under ``if TYPE_CHECKING:`` is no arrow."""
    (tmp_path / "core").mkdir()
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "core" / "a.py").write_text("from core.b import thing\n")
    (tmp_path / "core" / "b.py").write_text("def thing():\n    from core import a\n    return a\n")
    (tmp_path / "core" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                             "    from core.d import D\n")
    (tmp_path / "core" / "d.py").write_text("from core import c\n")
    graph = import_graph(tmp_path)
    assert graph["core.b"] == {"core.a"} and graph["core.c"] == set()
    assert circles(graph) == [["core.a", "core.b", "core.a"]]


def test_no_module_of_the_project_imports_itself_in_a_circle():
    """The core, the API and the plugins import in one direction (docs/architecture.md): a circle
    means two modules that cannot be understood, tested or moved apart, and it is what pushes imports
    into functions. Break one by moving the shared piece to the module it belongs to."""
    found = circles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" → ".join(c) for c in found)


def test_the_core_does_not_import_the_api_or_a_plugin():
    """The direction of the layers: the API and the plugins use the core, never the other way; a
    built-in (``core.builtins``) learns of the core through hooks and the core never imports one. The
    plugin host (``core.plugins``) finds the bundled plugins by walking the ``plugins`` package, by name."""
    graph = import_graph()
    wrong = sorted(f"{m} → {t}" for m, targets in graph.items() if m.startswith("core.")
                   and not m.startswith("core.builtins") for t in targets
                   if t.startswith(("api", "plugins", "core.builtins")) and (m, t) != ("core.plugins", "plugins"))
    assert not wrong, wrong


# the rows of the core as docs/architecture.md draws them, foundations first; a module not named is
# "around the orders" (row 3). A module imports only its own row or the rows before it.
CORE_LAYERS = (
    ("core.clock", "core.errors", "core.model", "core.db", "core.sqlite_engine", "core.tables", "core.storage",
     "core.confidential", "core.calendar", "core.channels", "core.hookspecs", "core.outbox", "core.notices"),
    ("core.settings", "core.attachments", "core.lifecycle", "core.joint", "core.difficult", "core.callbacks",
     "core.department_names", "core.areas", "core.routing", "core.sla_rules", "core.sla", "core.calendar_admin", "core.visibility", "core.search", "core.duplicates",
     "core.knowledge", "core.services", "core.reports.kpis", "core.reports.facts", "core.reports.dialect",
     "core.reports.periods", "core.reports.tables"),
    ("core.intake", "core.actions", "core.queries", "core.order_filter", "core.listing", "core.orders",
     "core.reference", "core.sources"),
    (),
    ("core.plugins", "core.platform", "core.migrations", "core.piccolo_conf", "core.healthcheck", "core.inspections"),
    ("core.plugin_api",),
)


def _layer(module: str) -> int:
    for row, names in enumerate(CORE_LAYERS):
        if module in names:
            return row
    return 3


def test_the_cores_modules_import_only_their_own_layer_or_those_below():
    """Foundations, the order domain's declarations, the order service, what is around the orders,
    the assembly, the plugins' face (docs/architecture.md): a foundation that reads the lifecycle,
    or the lifecycle that reads the order service, is a layer turned upside down."""
    graph = import_graph()
    upward = sorted(f"{m} → {t}" for m, targets in graph.items() if m.startswith("core.")
                    and not m.startswith("core.builtins") for t in targets
                    if t.startswith("core.") and _layer(t) > _layer(m))
    assert not upward, upward
