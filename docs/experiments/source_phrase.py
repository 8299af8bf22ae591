"""Questions that say where their answer stands ("According to the Tesla article, …?"): read
without that phrase?

``source_phrase.patch`` (it applies to ``14b8cf5``) takes the phrase that names a document out of
the question before the sentences are read (``qa.answer.intent.split_source``: "according to",
"per", "in" with a phrase that holds "article", "section", "post" and the like; "What does the
Harvard article say …" → "What does it say …"). Retrieval still reads the whole question, and the
document must still hold the phrase's words and names (``document_coverage``, ``names_document``,
the ``unmentioned`` and ``stand_in`` checks), but the sentence and its passage are read against
the rest. 295 of the 319 "sourced" user-worded questions hold such a phrase, 2 of the others, 1
SQuAD question in 9,700.

Gather ``qa train``'s rows, the user-worded rows and their near misses once without the patch and
once with it, then judge P's trees fitted as ``qa train --fit-user-worded`` fits them (no reader)
on the four folds of whole articles, by style:

    python docs/experiments/source_phrase.py --gather BEFORE          # without the patch, 2.5 min
    git apply docs/experiments/source_phrase.patch
    python docs/experiments/source_phrase.py --gather AFTER           # with it, 2.5 min
    python docs/experiments/source_phrase.py --fit BEFORE --judge BEFORE   # as shipped, 2.5 min
    python docs/experiments/source_phrase.py --fit AFTER --judge AFTER     # refitted on the new rows
    python docs/experiments/source_phrase.py --fit BEFORE --judge AFTER    # the shipped trees, new rows

``--fit`` gives the rows the trees are fitted on, ``--judge`` the user-worded rows they are judged on
(SQuAD's rows are ``--fit``'s either way: the patch changes one of them). ``--weight K`` counts
every user-worded row K times in each fit (no patch needed: ``--fit BEFORE --judge BEFORE
--weight 2``), to ask whether the fit should lean on them more than their number does.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rows import fit_as_shipped, kept  # noqa: E402

FILES = ("plain.pkl", "user.pkl", "near.pkl")


def gather(out: Path) -> None:
    from qa.answer.features import FEATURES
    from qa.training import train

    out.mkdir(parents=True, exist_ok=True)
    sets = train._indexed([train.SHARED_DATA / n for n in train.DATA], None)
    kept(train._rows(sets, seed=train.SEED), len(FEATURES), out / FILES[0])
    kept(train.user_worded_rows(sets), len(FEATURES), out / FILES[1])
    kept(train.user_worded_near_rows(sets, seed=train.SEED), len(FEATURES), out / FILES[2])


def load(folder: Path) -> list[list[dict]]:
    return [pickle.loads((folder / f).read_bytes()) for f in FILES]


def judge(fit: Path, judged: Path, weight: int = 1) -> dict:
    """``train.fit_and_judge`` with ``--fit-user-worded``: the trees of each fold fit on ``fit``'s
    rows of the other folds' articles (the user-worded ones ``weight`` times, each copy its own
    questions) and read ``judged``'s user-worded rows of their own."""
    from qa.training.examples import USER_WORDED_SUFFIX, user_worded_lines

    plain, user, near = load(fit)
    _, user_judged, near_judged = load(judged)
    report, captured = fit_as_shipped(plain, user_judged + near_judged, (user + near) * weight)
    style = {f"{x['id']}{USER_WORDED_SUFFIX}": x["style"] for x in user_worded_lines()}
    out = {"threshold": round(report["threshold"], 4), "squad": report["heldout"]["learned"],
           "user-worded": report["judged_heldout"]["learned"]}
    t, vetoes = report["threshold"], set(report["vetoes"])
    for kind in ("plain", "described", "sourced"):
        for asked in ("answerable", "unanswerable", "out_of_corpus"):
            mine = [o for o, r in zip(captured["outcome"], user_judged + near_judged)
                    if style.get(r["id"]) == kind and o["kind"] == asked]
            answered = [o["p"] >= t and not (o["fired"] & vetoes) for o in mine]
            out[f"{kind} {asked} ({len(mine)}) answered"] = round(float(np.mean(answered)), 4)
            if asked == "answerable":
                out[f"{kind} answerable right and answered"] = round(
                    float(np.mean([a and o["right"] for a, o in zip(answered, mine)])), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gather", type=Path, help="gather the rows into this folder")
    parser.add_argument("--fit", type=Path, help="the folder of rows the trees fit on")
    parser.add_argument("--judge", type=Path, help="the folder of user-worded rows they are judged on")
    parser.add_argument("--weight", type=int, default=1, help="count each user-worded row this many times in a fit")
    args = parser.parse_args()
    if args.gather:
        return gather(args.gather)
    if not (args.fit and args.judge):
        parser.error("give --gather, or --fit and --judge")
    print(json.dumps(judge(args.fit, args.judge, args.weight), indent=1))


if __name__ == "__main__":
    main()
