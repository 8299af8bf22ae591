"""Same-topic questions: an answerable question asked of its own article without the paragraph that answers it.

``qa train``'s out-of-corpus questions are asked of the other file's articles, on other subjects. A
user who asks the wrong folder usually asks documents on the same subject, where the answer's
neighbourhood is there and the answer is not. For each file, every article's even paragraphs are
taken out of one index and its odd ones out of another; a question is asked of the index without
its paragraph, and skipped when an answer's text still stands elsewhere in its article. Half of
each file's answerable SQuAD questions are asked so, and every answerable user-worded one. Their
rows (every candidate labelled no, ids ending ``SUFFIX``) are judged held out and fit the gate
(``qa.training.gate``), never P's trees.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys

import numpy as np

SUFFIX = "-same"
SHARE = 0.5  # of each file's answerable SQuAD questions, as out-of-corpus takes 0.3
SEED_OFFSET = 300  # the draw of file i uses seed + SEED_OFFSET + i


def without(data: dict, parity: int) -> dict:
    """``data`` with every article's paragraphs of that ``parity`` (0: the 1st, 3rd, …) taken out."""
    return {**data, "data": [{**a, "paragraphs": [p for j, p in enumerate(a["paragraphs"]) if j % 2 != parity]}
                             for a in data["data"]]}


def taken_out(asked: list, data: dict, parity: int, kept: dict[str, str]) -> list:
    """The answerable questions of ``asked`` (``examples.Asked``, about ``data``'s articles) whose
    paragraph ``without(data, parity)`` takes out and whose answers' text stands nowhere in what is
    ``kept`` of their article (``article_files`` of it)."""
    from qa.training.examples import ARTICLE_BREAK, article_files

    whole = article_files(data)
    out = []
    for q in asked:
        name, start, _ = q.answers[0]
        lengths = [len(p["context"]) + len(ARTICLE_BREAK) for p in data["data"][int(name[1:4])]["paragraphs"]]
        paragraph = int(np.searchsorted(np.cumsum(lengths), start, side="right"))
        texts = {whole[name][s:e] for _, s, e in q.answers}
        if paragraph % 2 == parity and not any(t in kept[name] for t in texts):
            out.append(q)
    return out


def rows(sets: list[tuple], *, seed: int) -> list[dict]:
    """The same-topic rows of every file ``train._indexed`` read and indexed (``examples.collect``,
    kind ``same_topic``): its indexes without one parity of paragraphs are built beside, under the
    cache, named by what they hold."""
    from qa.api import Engine
    from qa.config import cache_root
    from qa.evaluation.run import fresh_index
    from qa.training.examples import article_files, collect, user_worded, user_worded_lines, write_articles

    lines = user_worded_lines()
    out = []
    for i, (data, asked, _, whole) in enumerate(sets):
        rng = random.Random(seed + SEED_OFFSET + i)
        chosen = [q for q in asked if q.kind == "answerable" and rng.random() < SHARE]
        chosen += [q for q in user_worded(data, f"f{i}", lines) if q.kind == "answerable"]
        for parity in (0, 1):
            texts = article_files(without(data, parity))
            named = hashlib.sha256(json.dumps(sorted(texts.items())).encode()).hexdigest()[:12]
            docs = write_articles(cache_root() / "same-topic" / named / "docs", texts)
            index = fresh_index(docs, docs.parent / "index", whole.settings, whole.encoder)
            these = taken_out(chosen, data, parity, texts)
            print(f"asking {len(these)} same-topic questions of file {i + 1}, parity {parity}", file=sys.stderr)
            engine = Engine(index, whole.encoder, whole.settings)
            out += [{**r, "id": r["id"] + SUFFIX} for r in collect(engine, these, kind="same_topic")]
    return out
