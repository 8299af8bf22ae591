"""Examples: labelled (question, candidate sentence) rows for fitting the answer decision, from SQuAD.

Every question is asked open-corpus through the real retriever and answer stage, so the
candidates and their features are exactly what ``ask()`` would weigh. A candidate is
positive when its characters overlap a gold answer in the gold paragraph. Besides the
questions as written (SQuAD 2.0's unanswerable ones are the hardest negatives), two kinds
of negatives are made: out-of-corpus (a question asked of the other file's index, which
lacks its article) and near-miss (an answerable question with one name, number or year
replaced by one its article never mentions).
"""

from __future__ import annotations

import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa.answer import baseline
from qa.answer.compose import rank
from qa.answer.intent import read
from qa.answer.names import names
from qa.lexical import tokenize
from qa.retrieve import search

_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
_NUMBER = re.compile(r"\b\d+\b")


@dataclass(frozen=True)
class Asked:
    """One question of a SQuAD file: its article, and where its answers lie (file, start, end)."""

    id: str
    question: str
    article: str  # "<file tag>/<article index>": the unit every split keeps whole
    answers: tuple[tuple[str, int, int], ...]  # (paragraph file, start, end); none when unanswerable
    kind: str = "answerable"


ARTICLE_BREAK = "\n\n"
# Questions about the SQuAD articles of train.DATA worded as users word them (paraphrased, a name described, the
# source named), written by helper sessions that read only the articles (docs/experiments/
# user_worded.py, user_worded_prompt.md): ``qa train`` judges every fit on them held out, with the
# fold that holds their article out, and never fits on them.
USER_WORDED = Path(__file__).with_name("user_worded.jsonl")
USER_WORDED_SUFFIX = "-user"  # ends the id of a question of USER_WORDED


def article_files(data: dict) -> dict[str, str]:
    """One document per article, its paragraphs joined by a blank line: long documents, as a
    user's are (a file a paragraph makes every document-level feature a paragraph's)."""
    return {f"a{a:03d}.txt": ARTICLE_BREAK.join(p["context"] for p in article["paragraphs"])
            for a, article in enumerate(data["data"])}


def write_articles(docs: Path, texts: dict[str, str]) -> Path:
    """``texts`` (``article_files``') as files of ``docs``, each written only when missing or changed,
    so an index built of them stays fresh."""
    docs.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        file = docs / name
        if not file.exists() or file.read_text(encoding="utf-8") != text:
            file.write_text(text, encoding="utf-8")
    return docs


def squad_questions(data: dict, tag: str) -> tuple[list[Asked], dict[str, str]]:
    """The questions of a parsed SQuAD file, with answer offsets into its article files (see
    ``article_files``), and the text of each article."""
    asked, articles = [], {}
    for a, article in enumerate(data["data"]):
        key = f"{tag}/{a:03d}"
        articles[key] = " ".join(p["context"] for p in article["paragraphs"])
        name, shift = f"a{a:03d}.txt", 0
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                spans = tuple((name, shift + x["answer_start"], shift + x["answer_start"] + len(x["text"]))
                              for x in qa["answers"]) if not qa.get("is_impossible") else ()
                asked.append(Asked(qa["id"], qa["question"], key, spans,
                                   "answerable" if spans else "unanswerable"))
            shift += len(paragraph["context"]) + len(ARTICLE_BREAK)
    return asked, articles


def user_worded_lines() -> list[dict]:
    """``USER_WORDED``'s questions, one dict a line (see docs/experiments/user_worded.py)."""
    import json

    return [json.loads(t) for t in USER_WORDED.read_text(encoding="utf-8").splitlines() if t.strip()]


def user_worded(data: dict, tag: str, lines: list[dict]) -> list[Asked]:
    """The questions of ``lines`` (``qa/training/user_worded.jsonl``'s) about the articles of ``data``,
    a parsed SQuAD file tagged ``tag``; an answer's spans are every place its text stands in its
    paragraph (offsets into ``article_files``). A question whose span is not in its paragraph, or
    whose article ``data`` lacks (a file cut to its first articles), is left out."""
    out = []
    for line in lines:
        file, a = line["article"].split("/")
        if file != tag or int(a) >= len(data["data"]):
            continue
        paragraphs = [p["context"] for p in data["data"][int(a)]["paragraphs"]]
        spans = ()
        if line["answerable"]:
            j, answer = line["paragraph"], line["answer"]
            shift = sum(len(p) + len(ARTICLE_BREAK) for p in paragraphs[:j])
            starts = [i for i in range(len(paragraphs[j])) if paragraphs[j].startswith(answer, i)]
            if not starts:
                continue
            spans = tuple((f"a{int(a):03d}.txt", shift + s, shift + s + len(answer)) for s in starts)
        out.append(Asked(f"{line['id']}{USER_WORDED_SUFFIX}", line["question"], line["article"], spans,
                         "answerable" if spans else "unanswerable"))
    return out


def near_misses(asked: list[Asked], articles: dict[str, str], pool: list[str], *, share: float,
                seed: int) -> list[Asked]:
    """Answerable questions with one name or number swapped for one their article never mentions.

    ``pool`` holds names from other articles; a year moves by 3 to 40 years, a number by a
    factor. A question with nothing to swap is left out; ``share`` of the rest are made.
    """
    rng = random.Random(seed)
    out = []
    for q in asked:
        if q.kind != "answerable" or rng.random() >= share:
            continue
        text = articles[q.article].lower()
        swapped = _swap_name(q.question, text, pool, rng) if rng.random() < 0.5 else None
        swapped = swapped or _swap_number(q.question, text, rng) or _swap_name(q.question, text, pool, rng)
        if swapped:
            out.append(Asked(f"{q.id}-near", swapped, q.article, (), "near_miss"))
    return out


def user_worded_near(asked: list[Asked], articles: dict[str, str], pool: list[str], *, seed: int) -> list[Asked]:
    """``near_misses`` of every user-worded answerable question in ``asked`` that has a name, number or
    year to swap; their ids end in ``-near`` + ``USER_WORDED_SUFFIX``, so they count as user-worded."""
    near = near_misses(asked, articles, pool, share=1.0, seed=seed)
    suffix = f"{USER_WORDED_SUFFIX}-near"
    return [Asked(q.id.removesuffix(suffix) + f"-near{USER_WORDED_SUFFIX}", q.question, q.article, q.answers, q.kind)
            for q in near]


def _swap_name(question: str, article: str, pool: list[str], rng: random.Random) -> str | None:
    found = [n for n in names(question) if len(n) > 2]
    if not found:
        return None
    old = rng.choice(found)
    for _ in range(20):
        new = rng.choice(pool)
        if new.lower() not in article and new.lower() not in question.lower():
            return question.replace(old, new, 1)
    return None


def _swap_number(question: str, article: str, rng: random.Random) -> str | None:
    match = _YEAR.search(question) or _NUMBER.search(question)
    if not match:
        return None
    value = int(match.group(0))
    for _ in range(20):
        new = (value + rng.choice([-1, 1]) * rng.randint(3, 40) if _YEAR.fullmatch(match.group(0))
               else value * rng.choice([2, 3, 5, 10]) + rng.randint(1, 9))
        if str(new) not in article:
            return question[:match.start()] + str(new) + question[match.end():]
    return None


def name_pool(asked: list[Asked]) -> list[str]:
    """The distinct names the questions of a file mention, for swapping into another file's."""
    return sorted({n for q in asked for n in names(q.question) if len(n) > 2})


def collect(engine, asked: list[Asked], *, kind: str | None = None) -> list[dict]:
    """Ask each question of ``engine`` and keep every candidate's features and label.

    ``kind`` overrides the questions' own (``out_of_corpus`` when the index lacks their article).
    """
    rows = []
    settings = engine.settings
    for q in tqdm(asked, desc=f"asking ({kind or 'as written'})", unit="q", file=sys.stderr, mininterval=5):
        intent = read(q.question)
        vector, focus_vector = engine.encode_query([q.question, intent.focus])
        hits = search(engine.index, vector, tokenize([q.question])[0], settings=settings,
                      k=settings.answer_passages)
        # Every candidate the decision scores at query time, lone labels too: compose scores them
        # and only then leaves them out of what it may quote (``rank.quotable``). Held out, the
        # labels change no outcome (2,452 candidates, 1 answer, none ever first); fitting without
        # them gave another fit, 0.7773 against 0.7802 answer-sentence@1 (docs/design.md, Debris).
        ranked = rank(intent, hits, engine, query_vector=vector, focus_vector=focus_vector,
                      settings=settings, decision=_Uniform())
        ranked.sort(key=lambda c: (c.hit_rank, c.position))  # passage order, as baseline.scores expects
        features = np.stack([c.features for c in ranked]) if ranked else np.zeros((0, 0), np.float32)
        in_corpus = (kind or q.kind) == "answerable"
        labels = [in_corpus and any(c.hit.passage.source == f and c.span.start < e and s < c.span.end
                                    for f, s, e in q.answers) for c in ranked]
        gold = {f for f, _, _ in q.answers} if in_corpus else set()
        old = baseline.scores(intent, features, [c.hit.passage.id for c in ranked],
                              [c.position for c in ranked]) if ranked else np.zeros(0)
        best = int(np.argmax(old)) if ranked else -1
        rows.append({
            "id": q.id, "article": q.article, "kind": kind or q.kind, "question": q.question,
            "features": features, "labels": np.asarray(labels, bool), "texts": [c.text for c in ranked],
            "in_gold": np.asarray([c.hit.passage.source in gold for c in ranked], bool),
            "gold_retrieved": any(h.passage.source == f for h in hits[:1] for f, _, _ in q.answers),
            "baseline_top": best, "baseline_confidence": baseline.confidence(intent, features[best], old[best])
            if ranked else -9.0,
        })
    return rows


class _Uniform:
    """A stand-in decision while collecting: every candidate gets P 0, features are what matter."""

    threshold, vetoes, runner_up_share, reader, gate = 0.0, (), 0.5, None, None

    def scores(self, intent, cands, features: np.ndarray) -> np.ndarray:
        return np.zeros(len(features))

    def keys(self, p: np.ndarray, features: np.ndarray) -> np.ndarray:
        return p
