"""Rows the experiments gather as `qa train` does: kept on disk between runs, and their tables."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np


def kept(rows: list[dict], width: int, out: Path) -> list[dict]:
    """``rows`` with every question that had no candidate given a ``width``-column feature matrix
    (so columns can be cut alike), pickled to ``out``."""
    for r in rows:
        if r["features"].size == 0:
            r["features"] = np.zeros((0, width), np.float32)
    out.write_bytes(pickle.dumps(rows))
    return rows


def load_or_gather(path: Path, gather: Callable[..., list[dict]], *args) -> list[dict]:
    """The rows an earlier run kept at ``path``, or ``gather(path, *args)``'s (which keeps them there)."""
    return pickle.loads(path.read_bytes()) if path.exists() else gather(path, *args)


def print_table(results: dict[str, dict]) -> None:
    """One markdown row per key of the judged models' results, one column per model."""
    print("| held out by article | " + " | ".join(results) + " |\n|---|" + "---|" * len(results))
    for key in next(iter(results.values())):
        print(f"| {key} | " + " | ".join(str(r[key]) for r in results.values()) + " |")
