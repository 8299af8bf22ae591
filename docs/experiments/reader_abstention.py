"""Experiment (not shipped): the reader's reading as a signal for whether to answer at all.

The reader re-reads the trees' first three sentences to reorder them; whether to answer is
decided on the trees' P alone. A cross-encoder reads a reworded question against its sentence
better than term coverage does, and most of the seed set's false abstentions reword their
sentence. Does its reading of the first sentences separate the questions the corpus answers
from those it does not, beside P?

One of ``qa train``'s folds of articles: the reader fitted on the other folds' answerable
questions as ``qa train`` fits it (``--negatives``: also on the first three sentences of their
unanswerable, out-of-corpus and near-miss questions, every one labelled wrong), exported to
int8 and run as ``ask()`` runs it on the first three sentences of every question of the fold.
The fold's articles are then split in two, by article; on each half a logistic regression over
logit(P) and the readings is fitted and the threshold chosen (``qa.training.train``'s rule), and
both are judged on the other half, against P alone with its threshold chosen the same way.

    python docs/experiments/reader_abstention.py --rows rows.pkl [--fold 0] [--negatives] [--steps N] [--blend trees]

``--rows``: the examples ``qa train`` gathers, pickled (made if the file is missing; the rows
``soft_coverage.py`` keeps serve, their extra columns dropped).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from qa.answer.features import FEATURES  # noqa: E402

KINDS = ("unanswerable", "out_of_corpus", "near_miss")


def main() -> None:
    from qa.training import reader, train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--negatives", action="store_true", help="fit the reader on negative questions too")
    parser.add_argument("--steps", type=int, default=None, help="stop the reader's fit after N batches")
    parser.add_argument("--readings", type=Path, default=None, help="keep (or reuse) the fold's readings here")
    parser.add_argument("--blend", choices=("linear", "trees"), default="linear",
                        help="a logistic regression over the three (default), or small boosted trees")
    args = parser.parse_args()

    if args.rows.exists():
        rows = pickle.loads(args.rows.read_bytes())
    else:
        rows = train.gather([train.SHARED_DATA / n for n in train.DATA], articles=None, seed=train.SEED)
        args.rows.write_bytes(pickle.dumps(rows))
    width = len(FEATURES)
    rows = [{**r, "features": r["features"][:, :width]} for r in rows]
    report = train.fit_and_judge(rows, seed=train.SEED)
    q, oof, keys = report["q"], report["oof"], report["keys"]
    held = report["held_out_articles"][args.fold]

    every = reader.items(rows, q, keys, kinds=("answerable", *KINDS))
    test = [e for e in every if e["article"] in held]
    fit_on = [e for e in every if e["article"] not in held
              and (args.negatives or rows[e["row"]]["kind"] == "answerable")]
    readings = fold_readings(fit_on, test, fold=args.fold, steps=args.steps, keep=args.readings)
    judge(rows, q, oof, test, readings, blend=args.blend)


def fold_readings(fit_on: list[dict], test: list[dict], *, fold: int, steps: int | None,
                  keep: Path | None) -> list[np.ndarray]:
    """The reader fitted on ``fit_on`` as ``qa train`` fits it, exported to int8 and run as
    ``ask()`` runs it on each of ``test``'s first sentences; kept in ``keep`` (and read back from
    it when it exists)."""
    from qa.config import BUNDLED_MODEL
    from qa.embed import model_path
    from qa.training import reader, train

    if keep and keep.exists():
        return reader.load_readings(keep)[1]
    print(f"reader: fold {fold}, fitted on {len(fit_on)} questions, reads {len(test)}", file=sys.stderr)
    base = model_path(BUNDLED_MODEL)
    model, tokenizer = reader.fit(fit_on, base, seed=train.SEED, steps=steps)
    with tempfile.TemporaryDirectory() as tmp:
        runtime = reader.Reader(reader.export(model, tokenizer, Path(tmp) / "fold.onnx"), base / "tokenizer.json",
                                top=reader.TOP, weight=0.0, margin=0.0)
        readings = [runtime.logits(e["question"], e["texts"]) for e in test]
    if keep:
        reader.save_readings(keep, test, readings, np.full(len(test), fold))
    return readings


def _blender(kind: str):
    from sklearn.linear_model import LogisticRegression

    if kind == "linear":
        return LogisticRegression(C=1.0, max_iter=1000)
    from lightgbm import LGBMClassifier

    return LGBMClassifier(n_estimators=100, learning_rate=0.05, num_leaves=7, min_child_samples=40,
                          random_state=0, n_jobs=2, verbose=-1)


def judge(rows, q, oof, test, readings, *, blend: str = "linear") -> None:
    from sklearn.metrics import roc_auc_score

    from qa.answer.reader import logit
    from qa.training.judge import choose_threshold

    coverage = FEATURES.index("coverage")
    outcome = []
    for e, r in zip(test, readings):
        i = e["row"]
        p = float(oof[q == i].max())
        gold = rows[i]["features"][rows[i]["labels"], coverage]
        outcome.append({"kind": rows[i]["kind"], "article": e["article"], "p": p, "right": bool(e["labels"][0]),
                        "x": [float(logit(np.array([p]))[0]), float(r[0]), float(r.max())],
                        "coverage": float(gold.max()) if len(gold) else None})
    articles = sorted({o["article"] for o in outcome})
    halves = [set(articles[0::2]), set(articles[1::2])]
    judged = []
    for k in (0, 1):
        fit = [o for o in outcome if o["article"] in halves[1 - k]]
        on = [o for o in outcome if o["article"] in halves[k]]
        lr = _blender(blend).fit(np.array([o["x"] for o in fit]), [o["kind"] == "answerable" for o in fit])
        for group in (fit, on):
            s = lr.predict_proba(np.array([o["x"] for o in group]))[:, 1]
            for o, v in zip(group, s):
                o["with_reader"] = float(v)
        cut = {"p": choose_threshold(fit),
               "with_reader": choose_threshold([{**o, "p": o["with_reader"]} for o in fit])}
        judged += [{**o, "answered": {m: o[m] >= cut[m] for m in cut}} for o in on]
        coef = lr.coef_[0].round(3).tolist() if blend == "linear" else "(trees)"
        print(f"half {k}: fitted on {len(fit)} questions, coefficients (logit P, reading of the first, best "
              f"reading) {coef}, thresholds {cut}", file=sys.stderr)

    answerable = [o for o in judged if o["kind"] == "answerable"]
    low_cut = np.quantile([o["coverage"] for o in answerable if o["coverage"] is not None], 0.25)
    low = [o for o in answerable if o["coverage"] is not None and o["coverage"] <= low_cut]
    counts = ", ".join(f"{k} {sum(o['kind'] == k for o in judged)}" for k in ("answerable", *KINDS))
    print(f"fold's questions judged: {len(judged)} ({counts})")
    print("| held out (half of the fold by article, fitted on the other) | P alone | P and the reader's readings |")
    print("|---|---|---|")
    for kind in KINDS:
        neg = [o for o in judged if o["kind"] == kind]
        if not neg:
            continue
        pos = answerable if kind != "unanswerable" else [o for o in answerable
                                                         if o["article"].split("/")[0] in
                                                         {n["article"].split("/")[0] for n in neg}]
        labels = [1] * len(pos) + [0] * len(neg)
        a = [round(float(roc_auc_score(labels, [o[m] for o in pos + neg])), 4) for m in ("p", "with_reader")]
        alone = round(float(roc_auc_score(labels, [o["x"][2] for o in pos + neg])), 4)
        print(f"| AUROC {kind} ({len(neg)}); the best reading alone {alone} | {a[0]} | {a[1]} |")
    for kind in KINDS:
        neg = [o for o in judged if o["kind"] == kind]
        if neg:
            print(f"| {kind} abstained on | " + " | ".join(
                f"{np.mean([not o['answered'][m] for o in neg]):.4f}" for m in ("p", "with_reader")) + " |")
    print("| answerable answered | " + " | ".join(
        f"{np.mean([o['answered'][m] for o in answerable]):.4f}" for m in ("p", "with_reader")) + " |")
    print("| answerable right and answered | " + " | ".join(
        f"{np.mean([o['answered'][m] and o['right'] for o in answerable]):.4f}" for m in ("p", "with_reader")) + " |")
    print(f"| lowest quarter by coverage ({len(low)}): answered | " + " | ".join(
        f"{np.mean([o['answered'][m] for o in low]):.4f}" for m in ("p", "with_reader")) + " |")
    print("| … right and answered | " + " | ".join(
        f"{np.mean([o['answered'][m] and o['right'] for o in low]):.4f}" for m in ("p", "with_reader")) + " |")


if __name__ == "__main__":
    main()
