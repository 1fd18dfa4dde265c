"""The import rules of docs/architecture.md, checked on the source text (nothing is imported).

Every module under ``src/afterfit`` is parsed; an import counts wherever it stands (at the top
of a module or inside a function: a lazy import is still an edge of the graph), except under
``if TYPE_CHECKING:``, which never runs. The rules:

- the core packages (the steps and what they stand on) never import the CLI, the report or
  the deploy layer (exporters, bundle, serving, monitoring);
- inside the deploy layer imports point down: exporters < bundle < serving < monitoring, none
  of them imports the report or the CLI, and monitoring reads the prediction log without the
  server;
- the ground floor (errors, io, jsonsafe, plots...) imports only the ground floor;
- the report never imports the CLI;
- no two modules import each other, directly or through others, except the circles listed
  in :data:`KNOWN_CYCLES` (none since the second phase of issue 19): a new circle fails;
- no name the package root exports is also the name of one of its modules or subpackages
  (``afterfit.saliency`` is the subpackage, never a function that shadows it).
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: Packages and modules (first name under ``afterfit``) that hold the steps and what they
#: stand on.
CORE = (
    "calibration", "comparison", "data", "evaluation", "explain", "metrics", "models",
    "predictions", "saliency", "selection", "slices", "thresholds", "training",
)  # fmt: skip
#: Shared helpers everything may import; they import nothing above them.
GROUND = (
    "_version", "display", "documents", "errors", "io", "jsonsafe", "outdir", "parallel",
    "plots", "progress",
)  # fmt: skip
#: The HTTP server and its parts: the ``serving`` package, less the prediction log (monitoring
#: reads it) and the batch path (no HTTP).
SERVING_EXCEPT = ("afterfit.serving", "afterfit.serving.predlog", "afterfit.serving.batch")
#: The deploy layer (layer 4), one package per concept, and what each may not import:
#: exporters < bundle < serving < monitoring, and none of them the report or the CLI.
DEPLOY_FORBIDDEN = {
    "exporters": ("bundle", "serving", "monitoring", "report", "cli", "gate"),
    "bundle": ("serving", "monitoring", "report", "cli", "gate"),
    "serving": ("monitoring", "report", "cli", "gate"),
    "monitoring": ("report", "cli", "gate"),
}
#: The one module of a forbidden package that a deploy package may import.
DEPLOY_ALLOWED = {
    "monitoring": ("afterfit.serving.predlog",),
}


def is_server(module: str) -> bool:
    """A module of the HTTP server (``serving`` less the log and the batch path)."""
    return module.startswith("afterfit.serving.") and module not in SERVING_EXCEPT


#: Import circles tolerated for now (none since the second phase of issue 19,
#: docs/architecture.md): each entry is a set of module-name patterns
#: (``fnmatch``); a circle whose modules all match one entry is known. Remove an entry when
#: its circle is gone.
KNOWN_CYCLES: tuple[tuple[str, ...], ...] = ()


def _known(cycle: frozenset[str], entry: tuple[str, ...]) -> bool:
    return all(any(fnmatch.fnmatchcase(m, pattern) for pattern in entry) for m in cycle)


def module_names(root: Path) -> dict[str, tuple[Path, bool]]:
    """``dotted name -> (file, is a package)`` for every module under ``root/afterfit``."""
    out = {}
    for path in sorted((root / "afterfit").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, package)
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree``, at any depth, outside ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    walk(ast.Module(body=[stmt], type_ignores=[]))
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            walk(child)

    walk(tree)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """``module -> modules it imports`` among the modules under ``root/afterfit``.

    ``from package import name`` points at ``package.name`` when that is a module, at
    ``package`` otherwise (its ``__init__`` runs); ``import a.b.c`` points at ``a.b.c``.
    """
    modules = module_names(root)

    def resolve(name: str) -> str | None:
        parts = name.split(".")
        while parts:
            if ".".join(parts) in modules:
                return ".".join(parts)
            parts.pop()
        return None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, package) in modules.items():
        here = name if package else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                    base = ".".join(up) + (f".{base}" if base else "")
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for target in targets:
                if target.split(".")[0] != "afterfit":
                    continue
                found = resolve(target)
                if found is not None and found != name:
                    graph[name].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(frozenset(component))
    return out


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(SRC)


def _edges(graph: dict[str, set[str]], source: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(a, b) for a in sorted(graph) if _top(a) in source for b in sorted(graph[a])]


def test_the_graph_sees_the_package(graph):
    # Guards the checks below against passing on an empty or broken graph.
    assert len(graph) > 150
    assert "afterfit.evaluation.evaluate" in graph["afterfit.evaluation"]
    assert "afterfit.report.run" in graph["afterfit.cli.run"]
    # a function-level import counts: the results call their plots lazily
    assert "afterfit.training.plots" in graph["afterfit.training.results"]
    # an import under TYPE_CHECKING does not
    assert "afterfit.training.results" not in graph["afterfit.training.plots"]


def test_core_never_imports_cli_report_or_serving(graph):
    # the notebook renderer too: results reach it through afterfit.display's registry
    bad = [
        f"{a} -> {b}"
        for a, b in _edges(graph, CORE)
        if _top(b) in ("cli", "report", "notebook", "gate", *DEPLOY_FORBIDDEN)
    ]
    assert not bad, "core packages import the CLI, the report or the deploy layer:\n" + "\n".join(
        bad
    )


def test_deploy_packages_import_only_down(graph):
    bad = [
        f"{a} -> {b}"
        for package, forbidden in DEPLOY_FORBIDDEN.items()
        for a, b in _edges(graph, (package,))
        if _top(b) in forbidden and b not in DEPLOY_ALLOWED.get(package, ())
    ]
    assert not bad, "a deploy package imports one above it:\n" + "\n".join(bad)


def test_monitoring_reads_the_log_without_the_server(graph):
    bad = [f"{a} -> {b}" for a, b in _edges(graph, ("monitoring",)) if is_server(b)]
    assert not bad, "monitoring imports the server:\n" + "\n".join(bad)


def test_ground_floor_imports_only_the_ground_floor(graph):
    bad = [f"{a} -> {b}" for a, b in _edges(graph, GROUND) if _top(b) not in GROUND]
    assert not bad, "the ground floor imports a package above it:\n" + "\n".join(bad)


def test_report_never_imports_the_cli(graph):
    bad = [f"{a} -> {b}" for a, b in _edges(graph, ("report",)) if _top(b) == "cli"]
    assert not bad, "the report imports the CLI:\n" + "\n".join(bad)


def test_no_new_import_cycles(graph):
    found = cycles(graph)
    new = [sorted(c) for c in found if not any(_known(c, entry) for entry in KNOWN_CYCLES)]
    assert not new, "modules that import each other (directly or through others):\n" + "\n".join(
        " <-> ".join(c) for c in new
    )
    gone = [entry for entry in KNOWN_CYCLES if not any(_known(c, entry) for c in found)]
    assert not gone, f"these known circles are gone: remove them from KNOWN_CYCLES: {gone}"


def test_cycle_finder_catches_a_lazy_circle_and_ignores_type_checking(tmp_path):
    pkg = tmp_path / "afterfit"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "results.py").write_text(
        "def plot():\n    from afterfit.sub.plots import draw\n    return draw()\n"
    )
    (pkg / "sub" / "plots.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from afterfit.sub.results import Result\n"
    )
    (pkg / "sub" / "a.py").write_text("from . import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    import afterfit.sub.a\n")
    found = cycles(import_graph(tmp_path))
    assert found == [frozenset({"afterfit.sub.a", "afterfit.sub.b"})]
    # a known entry covers only circles made of its own modules
    entry = ("afterfit.cli._app", "afterfit.cli._inputs")
    assert _known(frozenset({"afterfit.cli._app", "afterfit.cli._inputs"}), entry)
    assert not _known(frozenset({"afterfit.cli._app", "afterfit.cli.run"}), entry)


def test_no_export_shadows_a_module():
    init = SRC / "afterfit" / "__init__.py"
    exported = set()
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            exported = set(ast.literal_eval(node.value))
    assert len(exported) > 30
    children = {name.split(".")[1] for name in module_names(SRC) if name.count(".") >= 1}
    clash = sorted(exported & children)
    assert not clash, f"afterfit exports names that are also its modules: {clash}"
