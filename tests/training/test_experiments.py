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


def test_user_worded_spans_point_at_their_answer():
    import sys

    sys.path.insert(0, str(EXPERIMENTS))
    try:
        from user_worded import SUFFIX, asked
    finally:
        sys.path.remove(str(EXPERIMENTS))
    from qa.training.examples import article_files

    data = {"data": [{"paragraphs": [{"context": "Warsaw lies on the Vistula."},
                                     {"context": "It had 1.7 million people in 2014; 1.7 million is many."}]}]}
    lines = [{"id": "f0-000-00", "article": "f0/000", "question": "How many lived there?", "answerable": True,
              "paragraph": 1, "answer": "1.7 million"},
             {"id": "f0-000-01", "article": "f0/000", "question": "Who founded it?", "answerable": False},
             {"id": "f0-000-02", "article": "f0/000", "question": "Which river?", "answerable": True,
              "paragraph": 1, "answer": "Vistula"},  # not in its paragraph: dropped
             {"id": "f1-000-00", "article": "f1/000", "question": "Another file's", "answerable": False}]
    out = asked(data, "f0", lines)
    text = article_files(data)["a000.txt"]
    assert [q.id for q in out] == [f"f0-000-00{SUFFIX}", f"f0-000-01{SUFFIX}"]
    assert [q.kind for q in out] == ["answerable", "unanswerable"]
    assert [text[s:e] for _, s, e in out[0].answers] == ["1.7 million", "1.7 million"]
    assert len({s for _, s, _ in out[0].answers}) == 2 and out[1].answers == ()
