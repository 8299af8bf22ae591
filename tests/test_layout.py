"""Layout: every import in qa/ (at the top or inside a function) points down the pipeline, and none closes a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qa"

# The pipeline, lowest first: a module may import its own layer and the ones before it.
LAYERS = [
    ["qa.config", "qa.schema", "qa.text", "qa.swap"],  # swap: whole-or-nothing writes, for every stage
    ["qa.ingest", "qa.formats", "qa.office", "qa.passages"],
    ["qa.onnx_graph", "qa.embed", "qa.lexical", "qa.fusion"],
    ["qa.storage", "qa.distributed", "qa.milvus_store"],  # an index's files, the Ray encoder, a Milvus store
    # Two kinds of index, each loaded by qa.index: its own files, or a Milvus store (which
    # searches itself, fusing as qa.retrieve does).
    ["qa.index", "qa.milvus_index"],
    ["qa.build"],
    ["qa.retrieve"],
    # the answer stage (qa/answer/), in the order a question passes through it
    ["qa.answer.patterns", "qa.answer.names"],
    ["qa.answer.intent"],
    ["qa.answer.checks"],
    ["qa.answer.rank"],
    ["qa.answer.features"],
    ["qa.answer.reader"],  # the cross-encoder that the fitted decision carries
    ["qa.answer.decide", "qa.answer.baseline"],
    ["qa.answer.select"],
    ["qa.answer.compose", "qa.answer"],
    ["qa.api"],
    ["qa.chat", "qa.evaluation"],  # the interfaces over ask(); neither imports the other
    ["qa.training"],  # qa train fits the answer decision, asking through the whole pipeline
    ["qa.cli", "qa.__main__", "qa"],
]

# Known exceptions to the layers, each waiting for a change to a file that another engineer is
# rewriting (none today): ("importer", "imported").
ALLOWED: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def reexports(path: Path) -> dict[str, str]:
    """Names an ``__init__.py`` takes from its submodules: ``from qa.config import __version__``."""
    return {alias.asname or alias.name: node.module
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
            for alias in node.names}


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The qa modules ``path`` imports, wherever in the file the import statement is."""
    found = set()
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "qa"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "qa":
                continue
            for alias in node.names:
                name = f"{base}.{alias.name}"
                if name in known:  # from qa import milvus_store
                    found.add(name)
                elif base in known and known[base].name == "__init__.py":
                    # from qa import __version__: the module the package took the name from
                    found.add(reexports(known[base]).get(alias.name, base))
                else:
                    found.add(base)
    return found - {here}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) for name, path in known.items()}


def layer(name: str) -> int:
    for i, members in enumerate(LAYERS):
        if name in members or any(name.startswith(m + ".") for m in members if m != "qa"):
            return i
    raise AssertionError(f"{name} has no layer: add it to LAYERS in tests/test_layout.py")


def test_every_module_has_a_layer_and_a_one_line_docstring():
    for name, path in modules().items():
        layer(name)
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False)
        assert doc and doc.strip(), f"{path} has no docstring saying what it owns"


def test_the_import_reader_sees_imports_inside_functions_and_re_exports():
    edges = graph()
    assert "qa.chat.app" in edges["qa.cli"]  # `qa chat` imports the app lazily, inside a function
    assert "qa.config" in edges["qa.build"]  # `from qa import __version__` reads qa.config's
    assert "qa.milvus_index" in edges["qa.index"]  # `from qa import milvus_index`, in a function
    assert "qa.chat.uploads" in edges["qa.chat.app"]


def test_no_import_points_up_the_pipeline():
    upward = sorted(f"{a} -> {b}" for a, targets in graph().items() for b in targets
                    if layer(b) > layer(a) and (a, b) not in ALLOWED)
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_the_interfaces_do_not_import_each_other():
    def interface(name: str) -> str | None:
        return next((i for i in ("qa.chat", "qa.evaluation") if name == i or name.startswith(i + ".")), None)

    crossing = sorted(f"{a} -> {b}" for a, targets in graph().items() for b in targets
                      if interface(a) and interface(b) and interface(a) != interface(b))
    assert not crossing, crossing


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    edges = {a: {b for b in targets if (a, b) not in ALLOWED} for a, targets in graph().items()}
    assert cycles(edges) == []


def test_the_allowed_edges_are_still_needed():
    edges = graph()
    stale = sorted(f"{a} -> {b}" for a, b in ALLOWED if b not in edges.get(a, set()))
    assert not stale, f"these exceptions no longer happen; remove them from ALLOWED: {stale}"


@pytest.mark.parametrize("edges, expected", [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_the_cycle_finder_finds_cycles(edges, expected):
    assert cycles(edges) == expected
