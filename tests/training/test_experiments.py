"""The experiment scripts in docs/experiments still find every name of ``qa`` they use.

They run for minutes to hours and no test runs them, so a change to ``qa`` can break one
unseen (the split of qa/training/train.py left five reading ``train.FEATURES``). Each script's
``import qa.x as m`` / ``from qa import x`` modules are imported here and every ``m.name``
the script reads is looked up, as are the names it imports ``from qa.x``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "docs" / "experiments"


def _used(tree: ast.Module) -> list[tuple[str, str]]:
    """(module, name) for every name of ``qa`` the script imports or reads off a ``qa`` module."""
    aliases: dict[str, str] = {}
    used = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("qa.") and a.asname:
                    aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "qa":
            for a in node.names:
                full = f"{node.module}.{a.name}"
                try:
                    importlib.import_module(full)
                    aliases[a.asname or a.name] = full  # a module: its attributes are checked below
                except ModuleNotFoundError:
                    used.append((node.module, a.name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            used.append((aliases[node.value.id], node.attr))
    return used


@pytest.mark.parametrize("script", sorted(EXPERIMENTS.glob("*.py")), ids=lambda p: p.name)
def test_experiment_finds_its_names(script: Path):
    missing = [f"{module}.{name}" for module, name in _used(ast.parse(script.read_text(encoding="utf-8")))
               if not hasattr(importlib.import_module(module), name)]
    assert not missing, f"{script.name} uses names qa no longer has: {missing}"


def test_a_missing_name_is_caught(tmp_path: Path):
    tree = ast.parse("from qa.training import train\nimport qa.answer.compose as compose\n"
                     "train.FEATURES\ncompose.featurize\nfrom qa.answer.features import NOPE\n")
    missing = {f"{m}.{n}" for m, n in _used(tree) if not hasattr(importlib.import_module(m), n)}
    assert missing == {"qa.training.train.FEATURES", "qa.answer.features.NOPE"}

