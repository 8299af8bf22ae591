"""Experiment (not shipped): P's trees fitted otherwise, judged on questions that name their document or reword it.

Fits P's trees on the questions as written only, from the rows ``context_terms.py`` or
``reworded_questions.py`` gathered (the copies are judged, never fitted on), four ways: (A) as
``qa train`` fits them; with monotone constraints (P never falls as a cosine, a coverage, a
share of names or numbers found, or the passage's score rises, nor rises with a gap, the
passage's rank or a check that fired); without the question's number of terms; without every
column of the question's size (terms, names, numbers, best coverage). A long question that names
its document has more terms and names than SQuAD's, and columns of the question alone could let
the trees learn SQuAD's habits rather than the sentence's evidence. Judged as
``context_terms.judge`` judges.

    python docs/experiments/tree_variants.py --rows ROWS.pkl --suffix=-ctx   (or --suffix=-rw)
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from context_terms import judge, oof  # noqa: E402
from rows import print_table  # noqa: E402

RISING = {"cosine", "raw_cosine", "focus_cosine", "neighbour_cosine", "coverage", "window_coverage",
          "passage_coverage", "document_coverage", "names_sentence", "names_window", "names_document",
          "numbers_sentence", "numbers_document", "hit_score", "hit_dense", "hit_lexical"}
FALLING = {"cosine_gap", "coverage_gap", "hit_rank"}  # and every check_*
QUESTION_SIZE = ("question_terms", "question_names", "question_numbers", "best_coverage")


def main() -> None:
    from qa.answer.features import FEATURES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True)
    parser.add_argument("--suffix", required=True, help="the copies' id ending: -ctx or -rw")
    args = parser.parse_args()
    rows = pickle.loads(args.rows.read_bytes())
    every = list(range(len(FEATURES)))
    sign = [1 if f in RISING else -1 if f in FALLING or f.startswith("check_") else 0 for f in FEATURES]
    variants = {
        "(A) as qa train": (every, {}),
        "monotone": (every, {"monotone_constraints": sign, "monotone_constraints_method": "advanced"}),
        "without question_terms": ([i for i, f in enumerate(FEATURES) if f != "question_terms"], {}),
        "without the question's size": ([i for i, f in enumerate(FEATURES) if f not in QUESTION_SIZE], {}),
    }
    results = {}
    for name, (columns, params) in variants.items():
        p, q = oof(rows, columns, False, args.suffix, params)
        results[name] = judge(rows, p, q, False, suffix=args.suffix)
    print_table(results)


if __name__ == "__main__":
    main()
