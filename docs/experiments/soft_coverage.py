"""Experiment (not shipped): coverage of the question's terms by meaning, not only by spelling.

The decision reads how much of the question's rarity-weighted terms a sentence holds, word for
word after stemming. A question that rewords the sentence ("How long did he stay in Tokyo?"
against "three and a half days in Tokyo") covers little of it, and the seed set's false
abstentions are mostly such questions. MiniLM's own input embedding table (the bundled model's,
nothing downloaded) puts "built" beside "constructed" and "company" beside "firm": each question
term counted by its closest word in the sentence, cosine of the two static vectors.

Gathers what ``qa train`` gathers (seed 0), the extra columns beside ``FEATURES``; fits trees and
ranker on ``qa train``'s folds (A) with ``FEATURES`` as today, (B) with the extra columns too; both
judged held out by article as ``qa train`` judges (threshold and vetoes chosen on held-out P),
and on the answerable questions whose answer sentence holds least of their terms (the lowest
quarter by the sentence's coverage: the SQuAD questions most like a user's rewording).

    python docs/experiments/soft_coverage.py [--rows FILE.pkl]
"""

from __future__ import annotations

import argparse
import re
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rows import kept, load_or_gather, print_table  # noqa: E402

from qa.answer.features import FEATURES  # noqa: E402

EXTRA = ("soft_coverage", "soft_window_coverage", "soft_gap", "near_terms")
NEAR = 0.4  # a static cosine at which two different words count as near ("company" / "firm" 0.47)


@lru_cache(maxsize=1)
def _table():
    """The bundled model's wordpiece tokenizer and its input embedding rows, unit length."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    from qa.config import default_settings
    from qa.embed import model_path

    path = model_path(default_settings().model)
    weights = load_file(str(path / "model.safetensors"))
    name = next(k for k in weights if k.endswith("word_embeddings.weight"))
    table = weights[name].astype(np.float32)
    table /= np.linalg.norm(table, axis=1, keepdims=True)
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer, table


@lru_cache(maxsize=200_000)
def vector(term: str) -> np.ndarray:
    """A word's static vector: the mean of its wordpieces', unit length."""
    tokenizer, table = _table()
    ids = tokenizer.encode(term, add_special_tokens=False).ids or [100]
    v = table[ids].mean(axis=0)
    return v / (np.linalg.norm(v) or 1.0)


_WORD = re.compile(r"\w\w+")


def spelled(texts) -> dict[str, str]:
    """Each stemmed term of ``texts`` (as ``qa.lexical.tokenize`` stems it) -> a word it came from:
    a stem's wordpieces are not the word's ("compani" against "company")."""
    from qa.lexical import _stemmer

    stem = _stemmer().stemWord
    out: dict[str, str] = {}
    for text in texts:
        for word in _WORD.findall(text.lower()):
            out.setdefault(stem(word), word)
    return out


def extra(intent, cands, evidence) -> np.ndarray:
    terms = sorted(intent.terms)
    if not cands:
        return np.zeros((0, len(EXTRA)), np.float32)
    if not terms:
        return np.ones((len(cands), len(EXTRA)), np.float32)
    word = spelled([intent.question, *(c.text for c in cands)])
    idf = np.array([evidence.idf(t) for t in terms])
    idf = idf / (idf.sum() or 1.0)
    q = np.stack([vector(word.get(t, t)) for t in terms])

    def closest(words) -> np.ndarray:
        words = sorted(words)
        if not words:
            return np.zeros(len(terms))
        sims = q @ np.stack([vector(word.get(w, w)) for w in words]).T
        exact = np.array([[t == w for w in words] for t in terms])
        return np.where(exact, 1.0, sims).max(axis=1)

    by_passage: dict[int, list] = {}
    for c in cands:
        by_passage.setdefault(c.hit.passage.id, []).append(c)
    best = [closest(c.words) for c in cands]
    soft = [float(idf @ b) for b in best]
    top = max(soft)
    rows = []
    for c, b, s in zip(cands, best, soft):
        near = [o for o in by_passage[c.hit.passage.id] if abs(o.position - c.position) == 1]
        window = closest(set(c.words).union(*(o.words for o in near)))
        rows.append([s, float(idf @ window), top - s,
                     float(idf @ ((b >= NEAR) & (b < 1.0)))])  # reworded terms: near, not the same word
    return np.asarray(rows, np.float32)


def gather(out: Path) -> list[dict]:
    import qa.answer.compose as compose
    from qa.training import train

    plain = compose.featurize

    def featurize(intent, cands, evidence):
        return np.hstack([plain(intent, cands, evidence), extra(intent, cands, evidence)])

    compose.featurize = featurize
    rows = train.gather([train.SHARED_DATA / n for n in train.DATA], articles=None, seed=train.SEED)
    return kept(rows, len(FEATURES) + len(EXTRA), out)


def judge(rows: list[dict], columns: int) -> dict:
    from qa.training import train
    from qa.training.judge import questions

    cut = [{**r, "features": r["features"][:, :columns]} for r in rows]
    report = train.fit_and_judge(cut, seed=train.SEED)
    table = report["heldout"]["learned"]
    q, keys, oof = report["q"], report["keys"], report["oof"]
    outcome = questions(cut, q, oof, keys)
    threshold, vetoes = report["threshold"], set(report["vetoes"])
    # The answerable questions whose answer sentence (the best-covered labelled candidate) holds
    # least of their terms: the lowest quarter.
    coverage = FEATURES.index("coverage")
    gold = {i: float(r["features"][r["labels"], coverage].max()) for i, r in enumerate(rows)
            if r["kind"] == "answerable" and r["labels"].any()}
    low = set(sorted(gold, key=gold.get)[:len(gold) // 4])
    mine = [o for i, o in enumerate(outcome) if i in low]

    def answered(o):
        return o["p"] >= threshold and not (o["fired"] & vetoes)

    keep = ("sentence@1", "auroc_unanswerable", "auroc_out_of_corpus", "auroc_near_miss", "abstain_recall_at_p85",
            "abstained_out_of_corpus", "abstained_near_miss", "abstained_unanswerable", "answered_answerable")
    return {"threshold": round(threshold, 4), "sentence@1 (ranker)": report["ranker_heldout"]["sentence@1_keys"],
            **{k: table.get(k) for k in keep},
            f"low-coverage answerable ({len(mine)}): sentence@1": round(float(np.mean([o["right"] for o in mine])), 4),
            "… answered": round(float(np.mean([answered(o) for o in mine])), 4),
            "… right and answered": round(float(np.mean([o["right"] and answered(o) for o in mine])), 4)}


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, default=Path("soft_coverage_rows.pkl"))
    args = parser.parse_args()
    rows = load_or_gather(args.rows, gather)
    print_table({"(A) FEATURES": judge(rows, len(FEATURES)),
                 "(B) FEATURES + soft coverage": judge(rows, len(FEATURES) + len(EXTRA))})


if __name__ == "__main__":
    main()
