"""Should P's trees also learn from questions asked of their own article without the paragraph
that answers it?

``same_topic.py`` found that the shipped decision answers 0.458 of such questions, against 0.073
asked of the other file's articles (``qa train``'s out-of-corpus negatives). This gathers them
as a fifth kind of negative (``same_topic``; every candidate labelled no): each file's articles
without their even paragraphs, then without their odd ones, each answerable question asked of
the index without its paragraph (skipped when an answer's text stands in another paragraph of
its article). P's trees are then fitted on ``qa train``'s rows with and without them, on the
same four folds of whole articles, and judged held out on every kind (``question_level.judged``:
the threshold follows ``qa train``'s rule on today's four kinds, so both models are judged at
one rule).

    python docs/experiments/same_topic_negatives.py --rows ROWS.pkl [--same SAME.pkl]

``ROWS.pkl``: rows gathered as ``qa train`` gathers them (``train.gather``, kept by
``rows.kept``); ``SAME.pkl``: where the new rows are kept (gathered when missing: about 5
minutes). The fits take about 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from context_terms import oof  # noqa: E402
from question_level import judged  # noqa: E402
from rows import kept, load_or_gather, print_table  # noqa: E402
from same_topic import answerable, taken_out, without  # noqa: E402

from qa.answer.features import FEATURES  # noqa: E402

SUFFIX = "-same"
SHARE = 0.5  # of each file's answerable questions (those whose answer stands nowhere else), as out-of-corpus takes 0.3


def gather(out: Path) -> list[dict]:
    """Half of each file's answerable SQuAD questions, asked without their paragraph (``asked_without``)."""
    from qa.training import train
    from qa.training.examples import squad_questions

    def chosen(i: int, data: dict) -> tuple[list, list[dict]]:
        asked, _ = squad_questions(data, tag=f"f{i}")
        rng = random.Random(train.SEED + 300 + i)
        return [q for q in asked if q.kind == "answerable" and rng.random() < SHARE], answerable(data)

    return asked_without(out, chosen)


def asked_without(out: Path, questions: Callable[[int, dict], tuple[list, list[dict]]]) -> list[dict]:
    """Rows of same-topic questions (ids ending ``SUFFIX``), kept at ``out``: for each file and each
    parity, every article without its paragraphs of that parity (``without``, written once under the
    cache), and the questions that lose their paragraph there asked of it. ``questions(i, data)``
    gives file ``i``'s questions (``examples.Asked``) and the same in ``taken_out``'s form."""
    from qa.api import Engine
    from qa.config import cache_root, default_settings
    from qa.embed import Encoder
    from qa.evaluation.run import fresh_index
    from qa.training import train
    from qa.training.examples import article_files, collect

    settings = default_settings()
    encoder = Encoder(settings.model, backend=settings.backend)
    rows = []
    for i, path in enumerate(train.SHARED_DATA / n for n in train.DATA):
        data = json.loads(path.read_text(encoding="utf-8"))
        asked, where = questions(i, data)
        for parity in (0, 1):
            texts = article_files(without(data, parity))
            docs = cache_root() / "same-topic" / f"{path.stem}-{parity}" / "docs"
            docs.mkdir(parents=True, exist_ok=True)
            for name, text in texts.items():
                (docs / name).write_text(text, encoding="utf-8")
            engine = Engine(fresh_index(docs, docs.parent / "index", settings, encoder), encoder, settings)
            gone = taken_out(where, parity, texts)
            these = [q for q in asked if q.id in gone]
            print(f"file {i + 1}, parity {parity}: {len(these)} questions", file=sys.stderr, flush=True)
            rows += [{**r, "id": r["id"] + SUFFIX} for r in collect(engine, these, kind="same_topic")]
    return kept(rows, len(FEATURES), out)


def main() -> None:
    from qa.training.judge import questions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True)
    parser.add_argument("--same", type=Path, default=Path("same_topic_rows.pkl"))
    args = parser.parse_args()
    rows = [r for r in pickle.loads(args.rows.read_bytes()) if not r["id"].endswith("-ctx")]
    same = load_or_gather(args.same, gather)
    rows = rows + same
    columns = list(range(len(FEATURES)))
    results = {}
    for name, with_same in (("(A) today's rows", False), ("(S) + same-topic negatives", True)):
        p, q = oof(rows, columns, with_same, SUFFIX)
        outcome = questions(rows, q, p)
        answerable = [o["right"] for o in outcome if o["kind"] == "answerable"]
        results[name] = {"sentence@1": round(float(np.mean(answerable)), 4), **judged(outcome)}
        print(name, "done", file=sys.stderr, flush=True)
    print(f"{len(rows) - len(same)} of today's questions and {len(same)} same-topic ones, 32 articles\n")
    print_table(results)


if __name__ == "__main__":
    main()
