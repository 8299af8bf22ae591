"""Experiment (not shipped): SQuAD questions asked again in other words, for the decision to learn from.

SQuAD's questions were written beside their paragraph and mostly borrow its words; a user's
reword it ("When did the company start?" against "The firm was established in 1998"). The trees
learned that a question term the sentence lacks marks a wrong sentence, so reworded questions
abstain: held out, the answerable quarter whose answer sentence holds least of the question's
terms is answered 0.883 of the time against 0.948 for all (evaluation.md, 2026-12-03).

Here 30 % of every list of questions (answerable, unanswerable, near-miss, out-of-corpus alike,
so rewording says nothing of the answer) is asked again with up to two of its lower-case content
words replaced by the nearest other word of MiniLM's own input embedding table (the bundled
weights; a different stem, static cosine >= ``NEAR``: "began" -> "started", "largest" ->
"biggest"), kept only when the bundled model still reads the two questions alike (cosine >=
``SAME``). Trees fitted on ``qa train``'s folds of whole articles (A) on the questions as written,
(B) with the reworded copies too; judged as ``context_terms.judge`` judges (held out, as written,
on the lowest quarter by coverage, which is SQuAD's own rewording and no copy of ours, and on the
copies; at each model's own threshold and where each refuses 0.92 of the out-of-corpus questions).

    python docs/experiments/reworded_questions.py [--rows FILE.pkl] [--articles N]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from context_terms import compare  # noqa: E402
from rows import kept, load_or_gather  # noqa: E402
from soft_coverage import _table, vector  # noqa: E402

from qa.answer.features import FEATURES  # noqa: E402

SHARE = 0.3  # of every list of questions, asked again reworded
NEAR = 0.45  # the least static cosine of a replacement ("company" / "firm" 0.47)
SAME = 0.85  # the least cosine of the reworded question to the question, as the bundled model reads them
MOST = 2  # words replaced in one question
_WORD = re.compile(r"\b[a-z]{4,}\b")  # lower case: names and the opening question word stay
# A count is a fact, not a wording: "three" -> "four" would make a near miss labelled right.
_NUMBER = re.compile(r"^(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
                     r"hundred|thousand|million|billion|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|"
                     r"tenth|half|dozen|once|twice|several|many|few|most|least|more|less)s?$")


@lru_cache(maxsize=1)
def _words() -> tuple[list[str], np.ndarray]:
    """The whole lower-case words of the bundled tokenizer and their static vectors."""
    tokenizer, table = _table()
    vocab = tokenizer.get_vocab()
    words = sorted(w for w in vocab if w.isalpha() and w.islower() and len(w) > 2)
    return words, table[[vocab[w] for w in words]]


@lru_cache(maxsize=100_000)
def nearest(word: str) -> str | None:
    """The word nearest ``word`` by static vector whose stem differs, or None under ``NEAR``."""
    from qa.lexical import _stemmer, tokenize

    if not tokenize([word])[0] or _NUMBER.match(word):  # a stop word or a count
        return None
    stem = _stemmer().stemWord
    words, table = _words()
    sims = table @ vector(word)
    for j in np.argsort(-sims)[:20]:
        if sims[j] < NEAR:
            return None
        other = words[j]
        if stem(other) != stem(word) and other not in word and word not in other and not _NUMBER.match(other):
            return other
    return None


def reword(question: str, rng: random.Random) -> str | None:
    """``question`` with up to ``MOST`` of its content words replaced by their nearest words."""
    found = [(m.start(), m.end(), nearest(m.group())) for m in _WORD.finditer(question)]
    found = [f for f in found if f[2]]
    if not found:
        return None
    text = question
    for start, end, other in sorted(rng.sample(found, min(MOST, len(found))), reverse=True):
        text = text[:start] + other + text[end:]
    return text


def reworded(engine, asked: list, rng: random.Random) -> list:
    """``SHARE`` of ``asked`` asked again reworded, those the bundled model still reads alike."""
    picked = [(q, reword(q.question, rng)) for q in asked if rng.random() < SHARE]
    picked = [(q, text) for q, text in picked if text]
    if not picked:
        return []
    vectors = engine.encode_query([t for q, text in picked for t in (q.question, text)])
    alike = np.sum(vectors[0::2] * vectors[1::2], axis=1)
    return [replace(q, id=f"{q.id}-rw", question=text) for (q, text), c in zip(picked, alike) if c >= SAME]


def gather(out: Path, articles: int | None = None) -> list[dict]:
    import qa.training.examples as examples
    from qa.training import train

    plain = examples.collect
    rng = random.Random(train.SEED + 400)

    def collect(engine, asked, *, kind=None):  # each list as written, then its reworded copies
        return plain(engine, asked, kind=kind) + plain(engine, reworded(engine, asked, rng), kind=kind)

    examples.collect = collect
    try:
        rows = train.gather([train.SHARED_DATA / n for n in train.DATA], articles=articles, seed=train.SEED)
    finally:
        examples.collect = plain
    return kept(rows, len(FEATURES), out)


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, default=Path("reworded_rows.pkl"))
    parser.add_argument("--articles", type=int, help="only the first N articles of each file (a quick run)")
    args = parser.parse_args()
    rows = load_or_gather(args.rows, gather, args.articles)
    copies = [r for r in rows if r["id"].endswith("-rw")]
    for r in copies[:: max(len(copies) // 8, 1)][:8]:
        print(f"- {r['kind']}: {r['question']}", file=sys.stderr)
    every = list(range(len(FEATURES)))
    compare(rows, {"(A) as written": (every, False), "(B) + reworded copies": (every, True)}, suffix="-rw")


if __name__ == "__main__":
    main()
