"""Experiment (not shipped): questions that say which document they are about.

Users write "According to the article on X, …" or "… (from the piece on X)"; SQuAD's questions
never do, and the seed set's false abstentions mostly do ("…, per the Forrester blog?"). This
measures, on SQuAD, what such a phrase costs today's decision and whether fitting the trees on
such questions too wins it back:

1. every row ``qa train`` gathers, plus a copy of 30 % of the questions as written (answerable
   and unanswerable) with one of five phrases naming the article by its title (which its text
   mentions), asked the same way (open-corpus, one document per article);
2. trees and ranker fitted as ``qa train`` fits them (LambdaRank weight 4.0) on the folds of
   ``qa train`` (the GroupKFold of the questions as written), (A) without the copies, (B) with
   them; each judged held out on the questions as written (threshold and vetoes chosen on them,
   as ``qa train`` does) and on the copies at that threshold.

    python docs/experiments/sourced_questions.py [--share 0.3]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

PHRASES = (
    lambda q, t: f"According to the article on {t}, {_lower(q)}",
    lambda q, t: f"In the {t} article, {_lower(q)}",
    lambda q, t: f"{q.rstrip().rstrip('?')}, according to the text about {t}?",
    lambda q, t: f"{q.rstrip()} (from the piece on {t})",
    lambda q, t: f"Based on the {t} page, {_lower(q)}",
)
_PLAIN = frozenset("what who whom whose when where which why how in on at for during after before the a an to "
                   "from by of is was are were did do does has had have can could according as with under over "
                   "since between".split())


def _lower(question: str) -> str:
    first = question.split(" ", 1)[0]
    return question[0].lower() + question[1:] if first.lower() in _PLAIN else question


def title(article: dict) -> str:
    """"Victoria_(Australia)" -> "Victoria"."""
    return re.sub(r"\s*\(.*?\)", "", article["title"].replace("_", " ")).strip()


def gather(share: float) -> list[dict]:
    from qa.api import Engine
    from qa.config import default_settings
    from qa.embed import Encoder
    from qa.evaluation.run import fresh_index
    from qa.training import train
    from qa.training.examples import Asked, collect, name_pool, near_misses, squad_questions

    settings = default_settings()
    encoder = Encoder(settings.model, backend=settings.backend)
    sets = []
    for i, path in enumerate(train.SHARED_DATA / name for name in train.DATA):
        data = json.loads(path.read_text(encoding="utf-8"))
        asked, texts = squad_questions(data, tag=f"f{i}")
        titles = {f"f{i}/{a:03d}": title(article) for a, article in enumerate(data["data"])}
        docs = train._article_corpus(path, data)
        sets.append((asked, texts, titles, Engine(fresh_index(docs, docs.parent / "index", settings, encoder),
                                                  encoder, settings)))
    rows = []
    for i, (asked, texts, titles, engine) in enumerate(sets):  # as qa train's gather, seed 0
        others = [q for j, (a, _, _, _) in enumerate(sets) if j != i for q in a if q.kind == "answerable"]
        near = near_misses(asked, texts, name_pool(others), share=train.NEAR_MISS_SHARE, seed=i)
        rng = random.Random(100 + i)
        outside = [q for q in others if rng.random() < train.OUT_OF_CORPUS_SHARE / max(len(sets) - 1, 1)]
        rows += collect(engine, asked) + collect(engine, near) + collect(engine, outside, kind="out_of_corpus")
        rng = random.Random(200 + i)
        copies = [Asked(f"{q.id}-sourced", rng.choice(PHRASES)(q.question, titles[q.article]), q.article, q.answers,
                        q.kind) for q in asked if rng.random() < share]
        for row in collect(engine, copies):
            rows.append({**row, "sourced": True})
    return rows


def judge(rows: list[dict], with_copies: bool) -> dict:
    from sklearn.model_selection import GroupKFold

    from qa.answer.decide import reply_order
    from qa.training import train
    from qa.training.judge import choose_threshold, choose_vetoes, heldout, questions

    x, y, q = train._matrix(rows)
    article = np.array([rows[i]["article"] for i in q])
    copy = np.array([bool(rows[i].get("sourced")) for i in q])
    fold = np.full(len(y), -1)
    for k, (_, test) in enumerate(GroupKFold(n_splits=4).split(x[~copy], y[~copy], article[~copy])):
        fold[np.isin(article, list(set(article[~copy][test])))] = k
    p, ranked = np.zeros(len(y)), np.zeros(len(y))
    for k in range(4):
        fit = (fold != k) & (with_copies | ~copy)
        p[fold == k] = train._fit(x[fit], y[fit], seed=0, rounds=train.ROUNDS).predict(x[fold == k])
        ranked[fold == k] = train._fit_ranker(x[fit], y[fit], q[fit], seed=0, rounds=train.ROUNDS).predict(x[fold == k])
    outcome = questions(rows, q, p, reply_order(p, ranked, 4.0))
    written = [o for r, o in zip(rows, outcome) if not r.get("sourced")]
    copies = [o for r, o in zip(rows, outcome) if r.get("sourced")]
    threshold = choose_threshold(written)
    vetoes = set(choose_vetoes(written, threshold))
    table = heldout(written, threshold, sorted(vetoes))["learned"]

    def answered(o):
        return o["p"] >= threshold and not (o["fired"] & vetoes)

    answerable = [o for o in copies if o["kind"] == "answerable"]
    unanswerable = [o for o in copies if o["kind"] == "unanswerable"]
    return {"threshold": round(threshold, 4), **{f"as written {k}": table[k] for k in (
                "sentence@1", "auroc_unanswerable", "auroc_out_of_corpus", "auroc_near_miss",
                "abstained_out_of_corpus", "abstained_near_miss", "abstained_unanswerable", "answered_answerable")},
            "sourced answerable": len(answerable),
            "sourced sentence@1": round(float(np.mean([o["right"] for o in answerable])), 4),
            "sourced answered": round(float(np.mean([answered(o) for o in answerable])), 4),
            "sourced right and answered": round(float(np.mean([o["right"] and answered(o) for o in answerable])), 4),
            "sourced unanswerable abstained": round(float(np.mean([not answered(o) for o in unanswerable])), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.3)
    args = parser.parse_args()
    rows = gather(args.share)
    without, with_ = judge(rows, False), judge(rows, True)
    print("| held out | (A) fitted as today | (B) fitted with sourced copies too |\n|---|---|---|")
    for key in without:
        print(f"| {key} | {without[key]} | {with_[key]} |")


if __name__ == "__main__":
    main()
