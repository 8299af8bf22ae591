"""The gate held out by article, with every question read by a reader that never read its article.

``reader_same_topic.py`` found that the shipped reader's best logit over the first three candidates
separates a question whose paragraph is missing as well as P does, and differently; but that reader
had read every SQuAD article. ``qa train`` now keeps each fold's reader, so every question of every
kind (SQuAD's four, the user-worded ones and their near misses, and the same-topic ones of both) is
read here by the reader of the fold that held its article out, with P and the reply's order held out
the same way, and the gate (``qa.training.gate``) is fitted on the other folds' articles and judged
on each fold's own, at the threshold P's rule gives it on SQuAD's four kinds. Variants: the gate
without the reading (its column constant), with every question weighed 1, and without the
monotone constraints (which let ``ask()`` skip the reader when the reading cannot change the call).

    python docs/experiments/source_phrase.py --gather ROWS
    python docs/experiments/answer_gate.py --rows ROWS --same SAME.pkl --same-user SAME_USER.pkl

ROWS must be gathered by the code that ran ``qa train`` (its fold readers are found by the reader's
examples); SAME.pkl and SAME_USER.pkl as ``same_topic_fit.py`` keeps them (gathered when missing).
The trees take about 5 minutes, the reading about 5 the first time (kept beside ROWS).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rows import load_or_gather  # noqa: E402
from same_topic_fit import gather_user  # noqa: E402
from same_topic_negatives import gather as gather_squad  # noqa: E402
from source_phrase import load  # noqa: E402


def variants(records: list[dict], readings: np.ndarray, folds: list[int], p_threshold: float) -> dict[str, dict]:
    """Each variant's held-out table (``gate.heldout_table``) and the share of questions it must read."""
    from qa.answer.reader import logit
    from qa.training import gate

    groups = np.array([r["group"] for r in records])
    y = np.array([g.endswith(" answerable") for g in groups])
    out, margins = {}, {"P (shipped)": np.array([r["lp"] for r in records])}
    for name, column, w, monotone in (("gate", readings, gate.weights(groups, y), True),
                                      ("gate, no reading", np.zeros(len(y)), gate.weights(groups, y), True),
                                      ("gate, every question weighed 1", readings, np.ones(len(y)), True),
                                      ("gate, not monotone", readings, gate.weights(groups, y), False)):
        held, low, high = gate.cross_fit(records, gate.matrix(records, column), y, w, folds, seed=0, monotone=monotone)
        t = gate.squad_threshold(groups, held)
        table = gate.heldout_table(records, held, t, float(logit(p_threshold)))
        out[name] = table["gate"]
        margins[name] = held
        unsettled = ~((low >= t) | (high < t))
        print(f"{name}: threshold {t:.4f}; the reading could change the call for {unsettled.mean():.4f} of the "
              f"questions (SQuAD answerable {unsettled[groups == 'squad answerable'].mean():.4f})", file=sys.stderr)
        out.setdefault("P (shipped)", table["p"])
    for anchor in ("squad answerable", "user answerable"):
        at_share(records, margins, p_threshold, anchor)
    return out


def at_share(records: list[dict], margins: dict[str, np.ndarray], p_threshold: float, group: str) -> None:
    """Each decision held out at P's answered share of ``group``'s questions (SQuAD's answerable, or
    the user-worded answerable; its own cut on its margin): refused, or for the answerable answered
    and right and answered."""
    from qa.answer.reader import logit

    groups = np.array([r["group"] for r in records])
    vetoed = np.array([r["vetoed"] for r in records])
    right = np.array([r["right"] for r in records])
    anchor = groups == group
    need = int(((margins["P (shipped)"] >= float(logit(p_threshold))) & ~vetoed)[anchor].sum())
    print(f"\n| at P's answered share of {group} ({need} of {anchor.sum()}) | " + " | ".join(margins)
          + " |\n|---|" + "---|" * len(margins))
    answered = {}
    for name, s in margins.items():
        cut = np.sort(s[anchor & ~vetoed])[::-1][need - 1]
        answered[name] = (s >= cut) & ~vetoed
    for g in sorted(set(groups)):
        at = groups == g
        if g.endswith(" answerable"):
            cells = [f"{a[at].mean():.4f}; {(a & right)[at].mean():.4f}" for a in answered.values()]
            print(f"| {g} ({at.sum()}): answered; right and answered | " + " | ".join(cells) + " |")
        else:
            print(f"| {g} ({at.sum()}): refused | " + " | ".join(f"{1 - a[at].mean():.4f}" for a in answered.values())
                  + " |")


def by_wording(groups: np.ndarray, answerable: np.ndarray) -> np.ndarray:
    """``gate.weights`` within SQuAD's wording and within the user-worded questions apart: each
    wording's kinds the corpus cannot answer weigh alike and, together, as much as its answerable
    ones (by kind across both, the 768 user-worded answerable questions face about 5,700 of weight
    of user-worded negatives)."""
    w = np.ones(len(groups))
    for wording in ("squad ", "user "):
        mine = np.char.startswith(groups.astype(str), wording)
        kinds = sorted(set(groups[mine & ~answerable]))
        for g in kinds:
            at = groups == g
            w[at] = (mine & answerable).sum() / len(kinds) / at.sum()
    return w


def nested(records: list[dict], readings: np.ndarray, p_threshold: float) -> None:
    """Each weighing and threshold rule held out twice over: for each fold, the threshold chosen on
    margins cross-fitted within the other three folds, the gate fitted on those three and judged on
    the fold. The rules: P's on SQuAD's four kinds (``qa train``'s), and P's answered share of the
    user-worded answerable questions of the other folds."""
    from qa.answer.decide import Trees
    from qa.answer.reader import logit
    from qa.training import gate

    groups = np.array([r["group"] for r in records])
    y = np.array([g.endswith(" answerable") for g in groups])
    fold = np.array([r["fold"] for r in records])
    vetoed = np.array([r["vetoed"] for r in records])
    right = np.array([r["right"] for r in records])
    by_p = (np.array([r["lp"] for r in records]) >= float(logit(p_threshold))) & ~vetoed
    x = gate.matrix(records, readings)
    user = groups == "user answerable"

    def squad_rule(margins, at):
        return gate.squad_threshold(groups[at], margins[at])

    def user_share_rule(margins, at):
        need = int(by_p[at & user].sum())
        return float(np.sort(margins[at & user & ~vetoed])[::-1][need - 1])

    def margins_of(train, test, w):
        return Trees.from_lightgbm(gate.fit(x[train], y[train], w[train], seed=0).dump_model()).margin(x[test])

    cells, names = {}, []
    for weighing, w in (("by kind", gate.weights(groups, y)), ("1", np.ones(len(y))),
                        ("by kind within each wording", by_wording(groups, y))):
        for rule_name, rule in (("P's rule on SQuAD", squad_rule), ("P's user-worded answered share", user_share_rule)):
            answered = np.zeros(len(y), dtype=bool)
            for k in sorted(set(fold)):
                inner, inner_margins = fold != k, np.zeros(len(y))
                inner_margins[inner] = gate.cross_fit([r for r, i in zip(records, inner) if i], x[inner], y[inner],
                                                      w[inner], sorted(set(fold) - {k}), seed=0)[0]
                answered[fold == k] = margins_of(inner, fold == k, w) >= rule(inner_margins, inner)
            name = f"weighed {weighing}, {rule_name}"
            names.append(name)
            cells[name] = answered & ~vetoed
    print("\n| held out twice (threshold chosen within the other folds) | P (shipped) | " + " | ".join(names)
          + " |\n|---|" + "---|" * (len(names) + 1))
    for g in sorted(set(groups)):
        at = groups == g
        row = [by_p, *cells.values()]
        if g.endswith(" answerable"):
            out = [f"{a[at].mean():.4f}; {(a & right)[at].mean():.4f}" for a in row]
            print(f"| {g} ({at.sum()}): answered; right and answered | " + " | ".join(out) + " |")
        else:
            print(f"| {g} ({at.sum()}): refused | " + " | ".join(f"{1 - a[at].mean():.4f}" for a in row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True, help="a folder of source_phrase.py --gather")
    parser.add_argument("--same", type=Path, required=True)
    parser.add_argument("--same-user", type=Path, required=True)
    args = parser.parse_args()
    from qa.training import gate, train
    from qa.training import reader as training_reader

    fitted_rows = args.rows / "gate-records.pkl"  # the trees' part, kept: 5 minutes
    if fitted_rows.exists():
        report, all_records, work = pickle.loads(fitted_rows.read_bytes())
    else:
        plain, user, near = load(args.rows)
        watched = load_or_gather(args.same, gather_squad) + load_or_gather(args.same_user, gather_user)
        full = train.fit_and_judge(plain, seed=train.SEED, judged=user + near, fit_judged=True, watched=watched)
        _, _, work = train.reader_work(plain, full, seed=train.SEED, steps=None, user_worded=False)
        report = {k: full[k] for k in ("threshold", "held_out_articles")}
        all_records = train.gate_records(plain, full)
        fitted_rows.write_bytes(pickle.dumps((report, all_records, work)))
    folds = len(report["held_out_articles"])
    done = [k for k in range(folds) if training_reader.fold_graph(work, k).exists()]
    if not done:
        raise SystemExit(f"no fold reader in {work}: run `qa train` with the code that gathered {args.rows}")
    # While `qa train` still fits its readers: the folds it has finished, each judged by a gate
    # fitted on the others' questions (P and the reply's order still held out by all four). With
    # one fold done, its articles in two halves instead, each judged by a gate fitted on the other.
    records = [dict(r) for r in all_records if r["fold"] in done]
    if len(done) == 1:
        halves = {a: i % 2 for i, a in enumerate(sorted({r["article"] for r in records}))}
        for r in records:
            r["half"] = halves[r["article"]]
    key = hashlib.sha256(json.dumps([[r["fold"], r["question"], r["texts"]] for r in records]).encode())
    kept = args.rows / f"readings-{key.hexdigest()[:12]}.npy"
    readings = np.load(kept) if kept.exists() else gate.read(records, work, folds)
    np.save(kept, readings)
    print(f"P's threshold {report['threshold']:.4f}; {len(records)} questions of folds {done}", file=sys.stderr)
    if len(done) == 1:
        records = [{**r, "fold": r["half"]} for r in records]
        done = [0, 1]
    tables = variants(records, readings, done, report["threshold"])
    names = ["P (shipped)", *(n for n in tables if n != "P (shipped)")]
    print("| held out by article | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for group, first in tables["gate"].items():
        if "answered" in first:
            cells = [f"{tables[n][group]['answered']}; {tables[n][group]['right_and_answered']}" for n in names]
            print(f"| {group} ({first['questions']}): answered; right and answered | " + " | ".join(cells) + " |")
        else:
            cells = [f"{tables[n][group]['refused']}; {tables[n][group]['auroc']}" for n in names]
            print(f"| {group} ({first['questions']}): refused; AUROC | " + " | ".join(cells) + " |")
    if len(done) == folds:
        nested(records, readings, report["threshold"])
        fitted = gate.fit_and_judge(records, readings, folds=folds, seed=train.SEED, p_threshold=report["threshold"])
        print(f"\nthe gate as qa train fits it: threshold {fitted['threshold']:.4f}, the reader runs for "
              f"{fitted['heldout']['read_only_for']} of the questions")


if __name__ == "__main__":
    main()
