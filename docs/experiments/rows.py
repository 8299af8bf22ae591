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
        print(f"| {key} | " + " | ".join(str(r.get(key, "–")) for r in results.values()) + " |")


def fit_as_shipped(plain: list[dict], judged: list[dict], fitted: list[dict]) -> tuple[dict, dict]:
    """``train.fit_and_judge`` as ``qa train --fit-user-worded`` runs it (no reader), but each fold's
    trees and ranker add ``fitted``'s rows of the other folds' articles (instead of ``judged``'s), and
    every row of ``judged`` is read by the fold that holds its article out. The report, and for
    ``judged``'s rows: each candidate's question number, held-out P and reply-order key (``q``,
    ``p``, ``keys``) and each question's outcome (``judge.questions``)."""
    from qa.training import train
    from qa.training.judge import questions

    base, got = train._Judged, {}

    class Judged(base):
        def __init__(self, rows):
            super().__init__(rows)
            self.fitting = base(fitted)

        def joined(self, articles, x, y, q):
            return self.fitting.joined(articles, x, y, q)

        def outcome(self, held_out_articles, per_fold):
            keys = self.keys(held_out_articles, per_fold)
            got.update(q=self.q, p=self.p, keys=keys, outcome=questions(self.rows, self.q, self.p, keys))
            return got["outcome"]

    train._Judged = Judged
    try:
        report = train.fit_and_judge(plain, seed=train.SEED, judged=judged, fit_judged=True)
    finally:
        train._Judged = base
    return report, got
