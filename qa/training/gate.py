"""The gate: whether a reply answers at all, a question-level call fitted on held-out articles.

P is fitted sentence by sentence; whether to answer is a call on the question. The gate is small
gradient-boosted trees over logit(P) of the best candidate, the reader's best logit over the first
``TOP`` candidates in the reply's order, and the first candidate's own columns (``GATE_FEATURES``).
The reading separates a question whose paragraph is missing from one whose paragraph is there about
as well as P does, and differently (docs/evaluation.md); the first candidate's columns keep what
the reader does not see, a swapped name. The gate rises with P and with the reading (LightGBM's
monotone constraints), so when it clears its threshold at the lowest reading, or misses it at the
highest, the reader need not run (``qa.answer.decide.Gate``).

Every question of every kind is read by the reader of the fold that held its article out
(``qa.training.reader.fold_graph``), with P and the reply's order held out the same way; the gate
is fitted on the other folds' articles and judged on the fold's own, its threshold chosen on the
held-out scores of SQuAD's four kinds by P's own rule (``judge.choose_threshold``), the vetoes kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from qa.answer.decide import Trees
from qa.answer.features import FEATURES
from qa.answer.reader import logit

TOP = 3  # the first candidates read, in the reply's order: the reader's own
GATE_FEATURES = ("logit_p", "best_reading", *(f"first_{name}" for name in FEATURES))
PARAMS = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 7, "min_data_in_leaf": 40,
          "monotone_constraints": [1, 1] + [0] * len(FEATURES),  # rises with logit(P) and with the reading
          "deterministic": True, "force_row_wise": True, "num_threads": 2, "verbose": -1}
ROUNDS = 200


def group(row: dict) -> str:
    """A row's group: ``squad`` or ``user`` (a user-worded question, or a near miss or same-topic
    question made of one), and its kind."""
    from qa.training.examples import USER_WORDED_SUFFIX

    return f"{'user' if USER_WORDED_SUFFIX in row['id'] else 'squad'} {row['kind']}"


def questions(rows: list[dict], q: np.ndarray, p: np.ndarray, keys: np.ndarray, fold_of: dict[str, int],
              outcome: list[dict], vetoes: set[str]) -> list[dict]:
    """One record a question with candidates: its group, article, fold, logit of the best P, the
    first candidate's columns, the first ``TOP`` candidates' texts in the reply's order, whether the
    first is right and whether a veto fired on it (``outcome``: ``judge.questions`` of the same)."""
    out = []
    starts, ends = np.searchsorted(q, np.arange(len(rows))), np.searchsorted(q, np.arange(len(rows)), side="right")
    for i, (r, o) in enumerate(zip(rows, outcome)):
        a, b = int(starts[i]), int(ends[i])
        if a == b:
            continue  # nothing retrieved: never answered
        top = np.argsort(-keys[a:b], kind="stable")[:TOP]
        out.append({"group": group(r), "article": r["article"], "fold": fold_of[r["article"]],
                    "question": r["question"], "lp": float(logit(p[a:b].max())), "first": r["features"][top[0]],
                    "texts": [r["texts"][j] for j in top], "right": bool(o["right"]),
                    "vetoed": bool(o["fired"] & vetoes)})
    return out


def read(records: list[dict], work: Path, folds: int) -> np.ndarray:
    """Each record's best reading of its first candidates, by the reader of the fold that held its article out."""
    from qa.answer.reader import Reader
    from qa.config import BUNDLED_MODEL
    from qa.embed import model_path
    from qa.training.reader import fold_graph

    tokenizer = model_path(BUNDLED_MODEL) / "tokenizer.json"
    best = np.zeros(len(records))
    for k in range(folds):
        mine = [i for i, r in enumerate(records) if r["fold"] == k]
        print(f"gate: reading the {len(mine)} questions of fold {k + 1} of {folds}", file=sys.stderr)
        reader = Reader(fold_graph(work, k), tokenizer, top=TOP, weight=0.0, margin=0.0)
        for i in mine:
            best[i] = float(reader.logits(records[i]["question"], records[i]["texts"]).max())
    return best


def matrix(records: list[dict], readings: np.ndarray) -> np.ndarray:
    """``GATE_FEATURES``, one row a record."""
    return np.c_[[r["lp"] for r in records], readings, np.stack([r["first"] for r in records])].astype(np.float64)


def weights(groups: np.ndarray, answerable: np.ndarray) -> np.ndarray:
    """Each group of questions the corpus cannot answer weighs as much in the fit as any other (each
    kind of mistake counts alike, however many of it were made), and all of them together as much as
    they number; the answerable ones weigh 1 each."""
    w = np.ones(len(groups))
    kinds = sorted(set(groups[~answerable]))
    for g in kinds:
        at = groups == g
        w[at] = (~answerable).sum() / len(kinds) / at.sum()
    return w


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, *, seed: int, monotone: bool = True):
    import lightgbm

    params = {**PARAMS, "seed": seed} if monotone else {**PARAMS, "seed": seed, "monotone_constraints": None}
    params = {k: v for k, v in params.items() if v is not None}
    return lightgbm.train(params, lightgbm.Dataset(x, y.astype(int), weight=w), ROUNDS)


def fit_and_judge(records: list[dict], readings: np.ndarray, *, folds: int, seed: int, p_threshold: float) -> dict:
    """The gate held out by fold, its threshold, its held-out table against P's (at ``p_threshold``,
    ``qa train``'s), and the final gate."""
    x = matrix(records, readings)
    groups = np.array([r["group"] for r in records])
    y = np.array([g.endswith(" answerable") for g in groups])
    w = weights(groups, y)
    held, at_low, at_high = cross_fit(records, x, y, w, range(folds), seed=seed)
    threshold = squad_threshold(groups, held)
    final = Trees.from_lightgbm(fit(x, y, w, seed=seed).dump_model())
    table = heldout_table(records, held, threshold, float(logit(p_threshold)))
    known = (at_low >= threshold) | (at_high < threshold)
    table["read_only_for"] = round(float(1 - known.mean()), 4)
    return {"trees": final, "threshold": float(threshold), "heldout": table}


def cross_fit(records: list[dict], x: np.ndarray, y: np.ndarray, w: np.ndarray, folds, *, seed: int,
              monotone: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each record's margin by the gate fitted on the other ``folds``' records (its ``fold``), and
    that gate's margins at the lowest and the highest reading."""
    fold = np.array([r["fold"] for r in records])
    held, low, high = np.zeros(len(y)), np.zeros(len(y)), np.zeros(len(y))
    for k in folds:
        mine = fold == k
        model = Trees.from_lightgbm(fit(x[~mine], y[~mine], w[~mine], seed=seed, monotone=monotone).dump_model())
        held[mine] = model.margin(x[mine])
        low[mine], high[mine] = (model.margin(with_reading(x[mine], v)) for v in (-UNREAD, UNREAD))
    return held, low, high


def squad_threshold(groups: np.ndarray, margins: np.ndarray) -> float:
    """P's rule (``judge.choose_threshold``) on the gate's margins of SQuAD's four kinds of question."""
    from qa.training.judge import choose_threshold

    squad = np.array([g.startswith("squad ") and g != "squad same_topic" for g in groups])
    return choose_threshold([{"p": float(s), "kind": g.split(" ", 1)[1]}
                             for s, g in zip(margins[squad], groups[squad])])


UNREAD = 1e6  # a reading past every split of the gate's: its lowest and highest


def with_reading(x: np.ndarray, value: float) -> np.ndarray:
    out = x.copy()
    out[:, 1] = value
    return out


def heldout_table(records: list[dict], score: np.ndarray, threshold: float, p_threshold: float) -> dict:
    """Per group, held out: the gate's and P's answered (and answered right) or refused shares at
    their thresholds (the vetoed never answered), and their AUROC against the group's answerable."""
    from sklearn.metrics import roc_auc_score

    groups = np.array([r["group"] for r in records])
    vetoed = np.array([r["vetoed"] for r in records])
    right = np.array([r["right"] for r in records])
    lp = np.array([r["lp"] for r in records])
    table = {}
    for name, s, t in (("gate", score, threshold), ("p", lp, p_threshold)):
        answered = (s >= t) & ~vetoed
        row = {}
        for g in sorted(set(groups)):
            at = groups == g
            if g.endswith(" answerable"):
                row[g] = {"questions": int(at.sum()), "answered": round(float(answered[at].mean()), 4),
                          "right_and_answered": round(float((answered & right)[at].mean()), 4)}
            else:
                pos = groups == g.split(" ")[0] + " answerable"
                auroc = roc_auc_score(np.r_[np.ones(pos.sum()), np.zeros(at.sum())], np.r_[s[pos], s[at]])
                row[g] = {"questions": int(at.sum()), "refused": round(float(1 - answered[at].mean()), 4),
                          "auroc": round(float(auroc), 4)}
        table[name] = row
    return table
