"""The same-topic questions in P's fit once more, beside the user-worded rows of the shipped fit.

``qa train --fit-user-worded`` fits P on SQuAD's rows plus the user-worded questions and their near
misses. This adds the same-topic questions (each asked of its article without the paragraph that
answers it, every candidate labelled no): SQuAD's (``same_topic_negatives.gather``) and the
user-worded answerable ones asked the same way (gathered here). Runs: (A) as shipped, (S) with
SQuAD's same-topic questions of the other folds' articles in each fit, (SU) with the user-worded
ones too; every run judged on all of them, held out by article, at the threshold and vetoes ``qa
train`` sets on SQuAD's four kinds.

    python docs/experiments/source_phrase.py --gather ROWS      # qa train's rows, 2.5 min
    python docs/experiments/same_topic_fit.py --rows ROWS [--same SAME.pkl] [--same-user SAME_USER.pkl]

The same-topic rows are gathered when missing (about 2 minutes with the indexes cached); each run
takes 2.5 minutes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rows import fit_as_shipped, load_or_gather, print_table  # noqa: E402
from same_topic import user_worded  # noqa: E402
from same_topic_negatives import SUFFIX, asked_without  # noqa: E402
from same_topic_negatives import gather as gather_squad  # noqa: E402
from source_phrase import load  # noqa: E402

from qa.training.examples import USER_WORDED_SUFFIX  # noqa: E402

NEAR = "-near" + USER_WORDED_SUFFIX
SAME_USER = USER_WORDED_SUFFIX + SUFFIX


def gather_user(out: Path) -> list[dict]:
    """The user-worded answerable questions, each asked of its article without its paragraph."""
    from qa.training.examples import user_worded as asked_user_worded
    from qa.training.examples import user_worded_lines

    lines = user_worded_lines()

    def every(i: int, data: dict) -> tuple[list, list[dict]]:
        return ([q for q in asked_user_worded(data, f"f{i}", lines) if q.kind == "answerable"],
                [{**q, "id": q["id"] + USER_WORDED_SUFFIX} for q in user_worded(f"f{i}")])

    return asked_without(out, every)


def run(plain: list[dict], judged: list[dict], fitted: list[dict]) -> dict:
    """``train.fit_and_judge`` with ``fitted`` added to each fold's fit (the other folds' articles),
    every row of ``judged`` read by the fold that holds its article out."""
    from sklearn.metrics import roc_auc_score

    report, captured = fit_as_shipped(plain, judged, fitted)
    t, vetoes = report["threshold"], set(report["vetoes"])
    squad = report["heldout"]["learned"]
    out = {"threshold": round(t, 4),
           "SQuAD: answer-sentence@1; answered": f"{squad['sentence@1']}; {squad['answered_answerable']}",
           "SQuAD: out-of-corpus / near miss / unanswerable refused": " / ".join(
               str(squad[f"abstained_{k}"]) for k in ("out_of_corpus", "near_miss", "unanswerable"))}
    groups = {
        "user-worded answerable": lambda r: r["id"].endswith(USER_WORDED_SUFFIX) and r["kind"] == "answerable",
        "user-worded near misses": lambda r: r["id"].endswith(NEAR),
        "SQuAD same-topic": lambda r: r["kind"] == "same_topic" and not r["id"].endswith(SAME_USER),
        "user-worded same-topic": lambda r: r["id"].endswith(SAME_USER),
    }
    mine = {name: [o for o, r in zip(captured["outcome"], judged) if test(r)] for name, test in groups.items()}
    answered = {name: [o["p"] >= t and not (o["fired"] & vetoes) for o in these] for name, these in mine.items()}
    positive = [o["p"] for o in mine["user-worded answerable"]]
    for name in groups:
        out[f"{name} ({len(mine[name])}) answered"] = round(float(np.mean(answered[name])), 4)
        if name == "user-worded answerable":
            right = [a and o["right"] for a, o in zip(answered[name], mine[name])]
            out[f"{name}: right and answered"] = round(float(np.mean(right)), 4)
        elif name.startswith("user-worded"):
            negative = [o["p"] for o in mine[name]]
            out[f"{name}: AUROC against the user-worded answerable"] = round(float(roc_auc_score(
                [1] * len(positive) + [0] * len(negative), positive + negative)), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True, help="a folder of source_phrase.py --gather")
    parser.add_argument("--same", type=Path, default=Path("same_topic_rows.pkl"))
    parser.add_argument("--same-user", type=Path, default=Path("same_topic_user_rows.pkl"))
    args = parser.parse_args()
    plain, user, near = load(args.rows)
    same = load_or_gather(args.same, gather_squad)
    same_user = load_or_gather(args.same_user, gather_user)
    judged = user + near + same + same_user
    results = {}
    for name, fitted in (("(A) as shipped", user + near), ("(S) + same-topic", user + near + same),
                         ("(SU) + user-worded same-topic", user + near + same + same_user)):
        results[name] = run(plain, judged, fitted)
        print(name, "done", file=sys.stderr, flush=True)
    print_table(results)


if __name__ == "__main__":
    main()
