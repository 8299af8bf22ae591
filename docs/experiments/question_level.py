"""Does a second model, one row a question, refuse better than the best sentence's P alone?

The reply abstains when the best candidate's P is under the threshold. P answers "does this
sentence answer the question?", fitted over every candidate of every question, most of them
wrong sentences of answerable questions. Whether to answer at all is a question about the
whole list: how far the best stands above the next, how many candidates come close, what the
best one covers. This fits a second set of trees on one row a question, labelled answerable or
not, from the question's P (best, second and third, the gap from the first to the second, how
many candidates pass 0.05, their sum, how many there are) and, from run (C) on, the best
candidate's own columns. Run (E) leaves out P's sum and the count, which grow with the
passages' length. (E) is what ``confidence_trees.patch`` builds into ``qa train`` and ``ask()``;
it was not shipped (docs/evaluation.md, 2026-12-04). Stacked without leaking: for each of ``qa
train``'s four folds of whole articles, the question model fits on P read out of fold within
the other three (three inner folds of whole articles) and judges the held-out fold's questions
on P from trees fitted on all three. Then both scores go through ``qa train``'s threshold rule.

    python docs/experiments/question_level.py --rows ROWS.pkl

``ROWS.pkl``: rows gathered as ``qa train`` gathers them (``train.gather``; kept by ``rows.kept``);
rows with naming copies (ids ending ``-ctx``) have them left out. About 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rows import print_table  # noqa: E402

from qa.answer.features import FEATURES  # noqa: E402

OUT_OF_CORPUS_BAR = 0.92
# The question model's trees: fewer rows (one a question) than P's trees have (one a candidate),
# so fewer leaves and rounds; fixed before the first run, not tuned.
PARAMS = {
    "objective": "binary", "learning_rate": 0.05, "num_leaves": 7, "min_data_in_leaf": 40,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
    "deterministic": True, "force_row_wise": True, "num_threads": 2, "verbose": -1,
}
ROUNDS = 200
# A question's columns: its quotable candidates' P (the best three, the logit gap from the best to
# the second, how many reach 0.05), the best candidate's features, then P's sum and the count.
P_COLUMNS = ("p_best", "p_second", "p_third", "logit_gap", "p_at_least_0.05")
COLUMNS = P_COLUMNS + tuple(f"lead.{name}" for name in FEATURES) + ("p_sum", "candidates")


def question_row(p: np.ndarray, features: np.ndarray) -> np.ndarray:
    """One question's ``COLUMNS`` from its candidates' P and feature rows (one or more)."""
    from qa.answer.reader import logit

    top = np.sort(p)[::-1][:3]
    best3 = np.zeros(3)
    best3[:len(top)] = top
    gap = float(logit(top[:1])[0] - logit(top[1:2])[0]) if len(top) > 1 else 10.0
    lead = np.asarray(features[int(np.argmax(p))], np.float64)
    return np.concatenate([best3, [gap, float(np.sum(p >= 0.05))], lead, [float(p.sum()), float(len(p))]])


def quotable(rows: list[dict]) -> list[np.ndarray]:
    """Per question, which of its candidates are quotable (not a lone label, ``qa.answer.rank.quotable``)."""
    from qa.answer.patterns import is_label

    return [np.array([not is_label(t) for t in r["texts"]], bool) for r in rows]


def question_matrix(rows: list[dict], starts: np.ndarray, p: np.ndarray, which: np.ndarray,
                    keep: list[np.ndarray]) -> np.ndarray:
    """One row of ``COLUMNS`` a question of ``which``, over its quotable candidates (``keep``;
    none: zeros); ``starts``: where each question's candidates begin in ``p``."""
    out = []
    for i in which:
        mine = p[starts[i]:starts[i] + len(keep[i])][keep[i]]
        out.append(question_row(mine, rows[i]["features"][keep[i]][:, :len(FEATURES)]) if len(mine)
                   else np.zeros(len(COLUMNS)))
    return np.asarray(out).reshape(len(which), len(COLUMNS))


def stacked(rows: list[dict], judged_only: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Out-of-fold P over every candidate (as ``context_terms.oof``) and, per run, each question's
    out-of-fold score from the question model; no fit sees the questions ``judged_only`` marks."""
    import lightgbm
    from sklearn.model_selection import GroupKFold

    from qa.training import train

    x, y, q = train._matrix(rows)
    x = x[:, :len(FEATURES)]
    groups = np.array([rows[i]["article"] for i in q])

    def answerable(_p: np.ndarray, which: np.ndarray) -> np.ndarray:
        return np.array([rows[i]["kind"] == "answerable" for i in which])

    starts = np.searchsorted(q, np.arange(len(rows)))  # a question's candidates are contiguous, q rising
    ends = np.searchsorted(q, np.arange(len(rows)), side="right")
    keep = quotable(rows)

    def right(p_: np.ndarray, which: np.ndarray) -> np.ndarray:  # the best candidate by these P holds the answer
        return np.array([bool(ends[i] > starts[i] and y[starts[i] + int(np.argmax(p_[starts[i]:ends[i]]))])
                         for i in which])

    def fit(at: np.ndarray):
        return lightgbm.train({**train.PARAMS, "seed": train.SEED},
                              lightgbm.Dataset(x[at], y[at].astype(int)), train.ROUNDS)

    p = np.zeros(len(y))
    shape = [COLUMNS.index("p_sum"), COLUMNS.index("candidates")]  # grow with the passages' length
    every = list(range(len(COLUMNS)))
    runs = {"(B) P's columns": (list(range(len(P_COLUMNS))) + shape, answerable),
            "(C) P's columns + best candidate's": (every, answerable),
            "(D) as (C), labelled by the best candidate being right": (every, right),
            "(E) as (C), without P's sum and the candidates' count": ([c for c in every if c not in shape],
                                                                     answerable)}
    lean = [c for c in every if c not in shape]
    if judged_only.any():  # the question model may also fit on them (P's trees never do)
        runs["(F) as (E), also fitted on the judged-only questions"] = (lean, answerable, True)
    runs = {name: run if len(run) == 3 else (*run, False) for name, run in runs.items()}
    scores = {name: np.zeros(len(rows)) for name in runs}
    article = np.array([r["article"] for r in rows])
    only = judged_only[q]
    for fold, (fit_all, outer_test) in enumerate(GroupKFold(n_splits=train.FOLDS).split(x, y, groups)):
        outer_fit = fit_all[~only[fit_all]]
        p[outer_test] = fit(outer_fit).predict(x[outer_test])
        inner = np.zeros(len(y))
        for inner_fit, inner_test in GroupKFold(n_splits=train.FOLDS - 1).split(
                x[fit_all], y[fit_all], groups[fit_all]):
            at = fit_all[inner_fit]
            inner[fit_all[inner_test]] = fit(at[~only[at]]).predict(x[fit_all[inner_test]])
        fit_articles = set(groups[fit_all])
        in_fit = np.array([article[i] in fit_articles for i in range(len(rows))])
        test_q = np.nonzero(~in_fit)[0]
        fit_all_q = np.nonzero(in_fit)[0]  # every run's rows, made once a fold
        fit_x = question_matrix(rows, starts, inner, fit_all_q, keep)
        test_x = question_matrix(rows, starts, p, test_q, keep)
        for name, (columns, label, with_judged) in runs.items():
            mask = (with_judged | ~judged_only)[fit_all_q]
            fit_q = fit_all_q[mask]
            model = lightgbm.train({**PARAMS, "seed": train.SEED}, lightgbm.Dataset(
                fit_x[mask][:, columns], label(inner, fit_q).astype(int)), ROUNDS)
            scores[name][test_q] = model.predict(test_x[:, columns])
        print(f"fold {fold + 1} of {train.FOLDS} done", file=sys.stderr, flush=True)
    return p, q, scores


def judged(outcome: list[dict]) -> dict:
    """AUROC against each kind of question to refuse, and the shares at ``qa train``'s threshold
    rule and at the bar (where 0.92 of the out-of-corpus questions are refused)."""
    from sklearn.metrics import roc_auc_score

    from qa.training.judge import choose_threshold

    answerable = [o for o in outcome if o["kind"] == "answerable"]
    threshold = choose_threshold([o for o in outcome if o["kind"] != "same_topic"])
    kinds = ("out_of_corpus", "near_miss", "unanswerable") + (
        ("same_topic",) if any(o["kind"] == "same_topic" for o in outcome) else ())
    ooc = sorted(o["p"] for o in outcome if o["kind"] == "out_of_corpus")
    at_bar = ooc[math.ceil(OUT_OF_CORPUS_BAR * len(ooc)) - 1] + 1e-9
    out = {}
    for kind in kinds:
        neg = [o for o in outcome if o["kind"] == kind]
        pos = [o for o in answerable if kind != "unanswerable" or o["file"] in {n["file"] for n in neg}]
        out[f"AUROC {kind}"] = round(float(roc_auc_score([1] * len(pos) + [0] * len(neg),
                                                         [o["p"] for o in pos + neg])), 4)
    for cut, label in ((threshold, "own threshold"), (at_bar, "at the bar")):
        out[f"{label}: answerable answered"] = round(float(np.mean([o["p"] >= cut for o in answerable])), 4)
        out[f"{label}: right and answered"] = round(float(np.mean(
            [o["right"] and o["p"] >= cut for o in answerable])), 4)
        for kind in kinds:
            out[f"{label}: {kind} abstained"] = round(float(np.mean(
                [o["p"] < cut for o in outcome if o["kind"] == kind])), 4)
    return out


def paired(a: list[dict], b: list[dict], draws: int = 2000) -> dict[str, str]:
    """B minus A at each one's own threshold, with a 95 % interval over articles drawn with
    replacement (the same draws for both, each article's questions together)."""
    from qa.training.judge import choose_threshold

    cuts = tuple(choose_threshold([o for o in x if o["kind"] != "same_topic"]) for x in (a, b))
    by_article: dict[str, list[int]] = {}
    for i, o in enumerate(a):
        by_article.setdefault(o["article"], []).append(i)
    articles = sorted(by_article)

    refusals = ("out_of_corpus", "near_miss", "unanswerable") + (
        ("same_topic",) if any(o["kind"] == "same_topic" for o in a) else ())

    def figures(which: list[int]) -> np.ndarray:
        out = []
        for kind, refused in [(k, True) for k in refusals] + [("answerable", False)]:
            at = [i for i in which if a[i]["kind"] == kind]
            out.append([np.mean([(o[i]["p"] < cut) == refused for i in at]) for o, cut in zip((a, b), cuts)])
        at = [i for i in which if a[i]["kind"] == "answerable"]
        out.append([np.mean([o[i]["right"] and o[i]["p"] >= cut for i in at]) for o, cut in zip((a, b), cuts)])
        return np.array([y - x for x, y in out])

    point = figures(list(range(len(a))))
    rng = np.random.default_rng(0)
    drawn = np.array([figures([i for k in rng.choice(len(articles), len(articles)) for i in by_article[articles[k]]])
                      for _ in range(draws)])
    names = tuple(f"{k.replace('_', '-')} abstained" for k in refusals) + ("answerable answered",
                                                                           "right and answered")
    return {name: f"{point[j]:+.4f} ({np.percentile(drawn[:, j], 2.5):+.4f} to {np.percentile(drawn[:, j], 97.5):+.4f})"
            for j, name in enumerate(names)}


def main() -> None:
    from qa.training.judge import questions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True)
    parser.add_argument("--judge-also", type=Path, help="rows judged but never fitted on (e.g. the same-topic "
                                                         "rows of same_topic_negatives.py); the folds change")
    args = parser.parse_args()
    rows = [r for r in pickle.loads(args.rows.read_bytes()) if not r["id"].endswith("-ctx")]
    extra = pickle.loads(args.judge_also.read_bytes()) if args.judge_also else []
    judged_only = np.array([False] * len(rows) + [True] * len(extra))
    rows += extra
    p, q, scores = stacked(rows, judged_only)
    outcome = questions(rows, q, p)
    results = {"(A) best P (shipped)": judged(outcome)}
    scored = {name: [{**o, "p": float(s)} for o, s in zip(outcome, score)] for name, score in scores.items()}
    results.update({name: judged(these) for name, these in scored.items()})
    print(f"{len(rows)} questions as written, {len({r['article'] for r in rows})} articles\n")
    print_table(results)
    print("\n| each run minus (A), at their own thresholds (95 % interval, articles resampled) | "
          + " | ".join(scored) + " |\n|---|" + "---|" * len(scored))
    differences = {name: paired(outcome, these) for name, these in scored.items()}
    for key in next(iter(differences.values())):
        print(f"| {key} | " + " | ".join(d[key] for d in differences.values()) + " |")


if __name__ == "__main__":
    main()
