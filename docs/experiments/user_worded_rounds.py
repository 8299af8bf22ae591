"""Does a second round of user-worded questions help, and should the reader fit on them too?

``qa/training/user_worded.jsonl`` holds two rounds of questions worded as users word them (1,024
each, 32 an article; ids -00 to -31 the first round's, -32 to -63 the second's; see
``user_worded.py``). Two measurements, both held out by ``qa train``'s folds of whole articles:

- ``--curve``: a learning curve over the rows given (run on the first round's alone, as kept on
  2026-12-04): P's trees fitted on none, a random half (two draws, by question) or all of the
  user-worded questions of the fitting articles, judged on every held-out one. Its folds are
  GroupKFold's by article over all the rows, SQuAD's and the user-worded ones, not ``qa train``'s.
- ``--trees``: P's trees fitted as ``qa train --fit-user-worded`` fits them (no ranker, no
  reader), on none of the user-worded questions, on the first round's, or on both rounds' (each
  fold on the other folds' articles' questions and their near misses), judged on each round
  apart, as ``context_terms.judge`` judges.
- ``--decisions``: the decision as ``qa train --fit-user-worded`` fits it (trees, ranker,
  threshold and vetoes; the reader only re-orders a reply, so it leaves answering alone), fitted
  on the first round's user-worded rows (the model shipped on 2026-12-04) or on both rounds'
  (``rows.fit_as_shipped``), judged held out on both rounds, each apart and together, and on
  SQuAD's questions as written. Each fit's trees' sha256 goes to stderr, to check against the
  manifest of the model ``qa train`` made. Then the threshold held out twice: each fold's chosen
  on the other folds' held-out P, by P's precision rule alone or raised until it refuses 92 % of
  the out-of-corpus questions (as ``qa train`` chooses it since 2026-12-05).
- ``--readers OLD NEW [--folds K ...]``: fold K's reader of two runs of ``qa train`` (their kept
  ``foldK.int8.onnx``) on fold K's held-out examples, SQuAD's and the user-worded answerable
  questions' (by style), each with its first three candidates in the held-out reply order of
  ``qa train --fit-user-worded`` on both rounds (``train.reader_work``): answer-sentence@1 of the
  reader alone and re-read at the shipped weight and margin (3, 10), and at the best of the
  grid (optimistic for both alike). OLD was fitted on SQuAD's examples alone (the shipped run's),
  NEW on the user-worded answerable questions' too (``qa train --fit-user-worded`` since
  2026-12-05).

    python docs/experiments/user_worded_rounds.py --rows ROWS.pkl --user USER1.pkl --near NEAR1.pkl --curve
    python docs/experiments/user_worded_rounds.py --rows ROWS.pkl --user USER.pkl --near NEAR.pkl --trees
    python docs/experiments/user_worded_rounds.py --rows ROWS.pkl --user USER.pkl --near NEAR.pkl --decisions
    python docs/experiments/user_worded_rounds.py --rows ROWS.pkl --user USER.pkl --near NEAR.pkl \\
        --readers ~/.cache/qa/train/reader-OLD ~/.cache/qa/train/reader-NEW --folds 0

``ROWS.pkl``: rows gathered as ``qa train`` gathers them (``rows.kept``); ``USER.pkl`` and
``NEAR.pkl``: the user-worded rows and their near misses of both rounds (``user_worded.py``'s
``gather`` and ``gather_near``, gathered when missing); ``--examples``: where the reader's examples
are kept (made when missing, by the fit that orders them). ``--trees`` took 1 min 20 s; ``--readers``
about 3 min for a fold (most of it the fit that orders the examples), on 2 cores.
"""

from __future__ import annotations

import argparse
import pickle
import re
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from context_terms import judge  # noqa: E402
from rows import fit_as_shipped, load_or_gather, print_table  # noqa: E402
from user_worded import SUFFIX, gather, gather_near  # noqa: E402

ROUND = 32  # questions an article in a round: -00 to -31 the first round's ids


def round_of(row: dict) -> int | None:
    """1 or 2 for a user-worded row (its near miss and out-of-corpus copy too), None for SQuAD's."""
    if not row["id"].endswith(SUFFIX):
        return None
    return 1 if int(re.match(r"f\d-\d{3}-(\d{2})", row["id"]).group(1)) < ROUND else 2


def held_out_p(x: np.ndarray, y: np.ndarray, tests: list[np.ndarray], left_out: np.ndarray) -> np.ndarray:
    """P of every candidate by trees (``qa train``'s parameters) fitted on the others of its fold
    (``tests``: each fold's candidates, a mask), leaving the ``left_out`` candidates out of every fit."""
    import lightgbm

    from qa.training import train

    p = np.zeros(len(y))
    for test in tests:
        fit = ~test & ~left_out
        booster = lightgbm.train({**train.PARAMS, "seed": train.SEED},
                                 lightgbm.Dataset(x[fit], y[fit].astype(int)), train.ROUNDS)
        p[test] = booster.predict(x[test])
    return p


def curve(plain: list[dict], user: list[dict]) -> dict[str, dict]:
    """P's trees fitted on none, half (two draws) or all of ``user``'s questions (by question: its
    near miss and out-of-corpus copy go with it), judged held out on all of them."""
    import random

    from sklearn.model_selection import GroupKFold

    from qa.training import train

    rows = plain + user
    base = [re.sub(r"(-near)?" + SUFFIX + "$", "", r["id"]) if r["id"].endswith(SUFFIX) else None for r in rows]
    keys = sorted({b for b in base if b})
    x, y, q = train._matrix(rows)
    groups = np.array([rows[i]["article"] for i in q])
    tests = [np.isin(np.arange(len(y)), test) for _, test in GroupKFold(n_splits=train.FOLDS).split(x, y, groups)]
    results = {}
    for share, seed in ((0.0, 0), (0.5, 0), (0.5, 1), (1.0, 0)):
        draw = random.Random(seed)
        kept = {k for k in keys if draw.random() < share}
        p = held_out_p(x, y, tests, np.array([b is not None and b not in kept for b in base])[q])
        results[f"share {share}, draw {seed} ({len(kept)} questions)"] = {
            k.replace("copies", "user-worded"): v for k, v in judge(rows, p, q, share > 0, SUFFIX).items()}
        print(share, seed, "done", file=sys.stderr, flush=True)
    return results


def trees(plain: list[dict], user: list[dict]) -> dict[str, dict]:
    """P's trees fitted on none, the first or both rounds of ``user`` (rows of the fitting articles),
    judged held out on each round apart."""
    from sklearn.model_selection import GroupKFold

    from qa.training import train

    rows = plain + user
    rounds = [round_of(r) for r in rows]
    x, y, q = train._matrix(rows)
    article = np.array([rows[i]["article"] for i in q])
    px, py, pq = train._matrix(plain)  # qa train's folds: from SQuAD's rows alone
    groups = np.array([plain[i]["article"] for i in pq])
    folds = GroupKFold(n_splits=train.FOLDS).split(px, py, groups)
    tests = [np.isin(article, list(set(groups[test]))) for _, test in folds]
    results = {}
    for name, fitted in (("none", set()), ("round 1", {1}), ("rounds 1 and 2", {1, 2})):
        p = held_out_p(x, y, tests, np.array([k is not None and k not in fitted for k in rounds])[q])
        for judged_on in (1, 2):
            keep = np.array([k is None or k == judged_on for k in rounds])
            renumber = np.cumsum(keep) - 1
            at = keep[q]
            sub = [r for r, k in zip(rows, keep) if k]
            judged = judge(sub, p[at], renumber[q[at]], bool(fitted), SUFFIX)
            results[f"fit on {name}; judged round {judged_on}"] = {
                k.replace("copies", "user-worded"): v for k, v in judged.items()}
        print(name, "done", file=sys.stderr, flush=True)
    return results


def decisions(plain: list[dict], user: list[dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    """The decision fitted on the first round's user-worded rows or both rounds', judged held out
    (module docstring); and its threshold held out twice (``threshold_held_out``)."""
    import hashlib

    from qa.training.judge import heldout

    results, twice = {}, {}
    for name, fitted in (("round 1", [r for r in user if round_of(r) == 1]), ("rounds 1 and 2", user)):
        report, got = fit_as_shipped(plain, user, fitted)
        print(f"fit on {name}: trees {hashlib.sha256(report['trees'].dumps()).hexdigest()}, ranker "
              f"{hashlib.sha256(report['ranker'].dumps()).hexdigest()}, threshold {report['threshold']}, "
              f"vetoes {report['vetoes']}", file=sys.stderr, flush=True)
        results[f"fit on {name}; SQuAD as written"] = report["heldout"]["learned"]
        for judged_on, label in ((1, "round 1"), (2, "round 2"), (None, "both rounds")):
            these = [o for o, r in zip(got["outcome"], user) if judged_on is None or round_of(r) == judged_on]
            results[f"fit on {name}; judged {label}"] = heldout(these, report["threshold"], report["vetoes"])["learned"]
        twice.update({f"fit on {name}; {k}": v for k, v in threshold_held_out(report, got["outcome"]).items()})
    return results, twice


def _share(judged: list[tuple], kind: str, flag) -> float:
    return round(float(np.mean([flag(o, t, v) for o, t, v in judged if o["kind"] == kind])), 4)


def threshold_held_out(report: dict, user: list[dict]) -> dict[str, dict]:
    """Each fold's threshold and vetoes chosen on the other folds' held-out SQuAD outcomes, by P's
    precision rule alone (``judge.choose_threshold``) or raised as ``qa train`` raises it since
    2026-12-05 (``judge.out_of_corpus_floor``), and judged on the fold's own questions, SQuAD's
    and the user-worded ones: the threshold rule held out as the trees are."""
    from qa.training.judge import _answered, choose_threshold, choose_vetoes, out_of_corpus_floor

    def refused(o: dict, threshold: float, vetoes: set) -> bool:
        return not _answered(o, threshold, vetoes)

    fold_of = {a: k for k, articles in enumerate(report["held_out_articles"]) for a in articles}
    results = {}
    for rule in ("precision", "precision, raised"):
        judged, cuts = {"SQuAD": [], "user-worded": []}, []
        for k in range(len(report["held_out_articles"])):
            other = [o for o in report["outcome"] if fold_of[o["article"]] != k]
            threshold = choose_threshold(other)
            vetoes = choose_vetoes(other, threshold)
            if rule != "precision":
                threshold = out_of_corpus_floor(other, threshold, vetoes)
            cuts.append(round(threshold, 4))
            for part, outcome in (("SQuAD", report["outcome"]), ("user-worded", user)):
                judged[part] += [(o, threshold, set(vetoes)) for o in outcome if fold_of[o["article"]] == k]
        for part, these in judged.items():
            row = {"thresholds": cuts,
                   "answerable answered": _share(these, "answerable", _answered),
                   "right and answered": _share(these, "answerable",
                                                lambda o, t, v: o["right"] and _answered(o, t, v))}
            row.update({f"{kind} refused": _share(these, kind, refused)
                        for kind in ("out_of_corpus", "near_miss", "unanswerable")})
            results[f"{rule}; {part}"] = row
    return results


def reader_examples(out: Path, plain: list[dict], user: list[dict]) -> dict:
    """The reader's examples and extra examples as ``qa train --fit-user-worded`` makes them
    (``train.reader_work``), and the folds' articles, kept at ``out``."""
    from qa.training import train

    report = train.fit_and_judge(plain, seed=train.SEED, judged=user, fit_judged=True)
    examples, extra, _ = train.reader_work(plain, report, seed=train.SEED, steps=None, user_worded=True)
    kept = {"examples": examples, "extra": extra, "folds": report["held_out_articles"]}
    out.write_bytes(pickle.dumps(kept))
    return kept


def readers(plain: list[dict], user: list[dict], old: Path, new: Path, folds: list[int], keep: Path) -> None:
    """Fold ``folds``' readers of ``old`` and ``new`` on their held-out examples (module docstring)."""
    from qa.answer.reader import Reader
    from qa.config import BUNDLED_MODEL
    from qa.embed import model_path
    from qa.training import reader
    from qa.training.examples import user_worded_lines

    kept = load_or_gather(keep, reader_examples, plain, user)
    examples, extra, held = kept["examples"], kept["extra"], kept["folds"]
    fold_of = {a: k for k, articles in enumerate(held) for a in articles}
    style = {x["id"] + SUFFIX: x["style"] for x in user_worded_lines()}
    sets = {"squad": [e for e in examples if fold_of[e["article"]] in folds],
            "user-worded": [e for e in extra if fold_of[e["article"]] in folds]}
    for kind in ("plain", "described", "sourced"):
        sets[f"user-worded {kind}"] = [e for e in sets["user-worded"] if style[user[e["row"]]["id"]] == kind]
    tokenizer = model_path(BUNDLED_MODEL) / "tokenizer.json"
    read = {}
    for name, folder in (("old", old), ("new", new)):
        graphs = {k: Reader(reader.fold_graph(folder, k), tokenizer, top=reader.TOP, weight=0.0, margin=0.0)
                  for k in folds}
        read[name] = {id(e): graphs[fold_of[e["article"]]].logits(e["question"], list(e["texts"]))
                      for e in sets["squad"] + sets["user-worded"]}
    print(f"| folds {folds}, held out | questions | the order alone | reader alone, old; new "
          "| re-read (3, 10), old; new | re-read at the best weight and margin, old; new |\n|---|---|---|---|---|---|")
    for name, these in sets.items():
        order = reader.sentence_at_1(these, [np.zeros(len(e["texts"])) for e in these], 0.0)
        cells = [name, len(these), round(order, 4)]
        alone, reread, best = [], [], []
        for r in ("old", "new"):
            readings = [read[r][id(e)] for e in these]
            alone.append(round(float(np.mean([e["labels"][int(np.argmax(x))] for e, x in zip(these, readings)])), 4))
            reread.append(round(reader.sentence_at_1(these, readings, 3.0, 10.0), 4))
            best.append(max(round(reader.sentence_at_1(these, readings, w, m), 4)
                            for w in reader.WEIGHTS for m in reader.MARGINS))
        cells += ["; ".join(map(str, v)) for v in (alone, reread, best)]
        print("| " + " | ".join(map(str, cells)) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True, help="rows gathered as qa train gathers them")
    parser.add_argument("--user", type=Path, default=Path("user_worded_rows.pkl"))
    parser.add_argument("--near", type=Path, default=Path("user_worded_near.pkl"))
    parser.add_argument("--curve", action="store_true", help="P's trees on none, half or all of the user-worded rows")
    parser.add_argument("--trees", action="store_true", help="P's trees on none, one or both rounds")
    parser.add_argument("--decisions", action="store_true",
                        help="the decision (trees, ranker, threshold, vetoes) on one round or both")
    parser.add_argument("--readers", type=Path, nargs=2, metavar=("OLD", "NEW"),
                        help="two runs' kept fold readers (~/.cache/qa/train/reader-…)")
    parser.add_argument("--folds", type=int, nargs="+", default=[0])
    parser.add_argument("--examples", type=Path, default=Path("reader_examples.pkl"),
                        help="where the reader's examples are kept (made when missing)")
    args = parser.parse_args()
    plain = pickle.loads(args.rows.read_bytes())
    user = load_or_gather(args.user, gather) + load_or_gather(args.near, gather_near)
    if args.curve:
        print_table(curve(plain, user))
    if args.trees:
        print_table(trees(plain, user))
    if args.decisions:
        for results in decisions(plain, user):
            print_table(results)
    if args.readers:
        readers(plain, user, *args.readers, args.folds, args.examples)


if __name__ == "__main__":
    main()
