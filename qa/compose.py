"""Compose: choose verbatim answer sentences from retrieved passages, cite them, or abstain."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from qa.config import Settings
from qa.lexical import tokenize
from qa.names import stand_in
from qa.schema import Answer, Citation, Hit, Span

NO_ANSWER = "The documents do not answer this question."

_WANTS_NUMBER = re.compile(
    r"\b(how (many|much|long|old|far|often|big|large)"
    r"|what (percentage|percent|share|proportion|number|fraction|year|age)"
    r"|when|which year|what portion)\b",
    re.IGNORECASE,
)
_WANTS_MORE = re.compile(r"\b(why|reasons?|explain|list|which (ones|are)|what are)\b", re.IGNORECASE)
_WANTS_DATE = re.compile(r"\b(when|what (date|day)|which (date|day))\b", re.IGNORECASE)
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
# "October 29, 2008", "29 Oct 2008", "May 2010", "2008-10-29", "08.02.13": a dateline.
_DATE = re.compile(
    rf"\b({_MONTH}\s+(\d{{1,2}}(st|nd|rd|th)?,?\s+)?\d{{4}}|\d{{1,2}}(st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4})\b",
    re.IGNORECASE,
)
# Questions about a document rather than its content: who wrote it, when it appeared.
_ASKS_AUTHOR = re.compile(r"^\W*(who|whose|which (person|writer|author|blogger))\b.*\b(wrote|writes|written|"
                          r"authored|author|posted|published|blogged)\b", re.IGNORECASE)
_ASKS_PUBLISHED = re.compile(_WANTS_DATE.pattern + r".*\b(published|posted|written|wrote|appeared|released)\b",
                             re.IGNORECASE)
# "By Josh Bernoff", "Posted by QEQ Intern | 08.02.13", "— contributed by Chizuru Misawa".
_BYLINE = re.compile(r"^\W*(?i:((posted|written|contributed|published) )?by)\s+[A-Z]|^\W*(?i:author)\s*:")
BYLINE_WORDS = 12  # a byline or dateline is a short line of its own
# "one" is left out: far more often a pronoun than a count.
_NUMBER = re.compile(
    r"\d|\b(two|three|four|five|six|seven|eight|nine|ten|twenty|hundred|thousand|million|billion"
    r"|half|third|quarter|fifth|tenth)s?\b",
    re.IGNORECASE,
)


# Sentence score weights, fitted on the SQuAD dev half and the seed question sets.
W_COSINE, W_COVERAGE, W_PASSAGE = 0.55, 0.45, 0.1
P_NO_NUMBER, P_FRAGMENT = 0.15, 0.2
NEIGHBOUR_LIFT = 0.5
W_FOCUS = 0.4
MAX_GAP = 0.12  # a runner-up this far below the best sentence is not quoted
# A focus with fewer topic words than this says too little to embed on its own ("What is
# KISA responsible for?" -> "What is responsible for?"): the confidence uses the whole question.
MIN_FOCUS_TERMS = 2
# A best sentence that names another thing in place of the asked one answers another question:
# more than any confidence reaches (about 2), so the reply abstains at any usual threshold.
P_STAND_IN = 2.0


@dataclass(frozen=True)
class Candidate:
    """One sentence competing to be quoted, with the evidence for it."""

    hit: Hit
    span: Span
    text: str  # as the reply shows it
    quote: str  # the exact characters of the file: differs from text only by markup
    vector: np.ndarray = field(repr=False, compare=False)
    cosine: float
    coverage: float
    score: float
    words: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    fragment: bool = False  # a heading, byline or name rather than a sentence


def compose(
    question: str,
    hits: list[Hit],
    *,
    query_vector: np.ndarray,
    sentence_vectors: Callable[[Hit], np.ndarray],
    document_terms: Callable[[str], frozenset[str]],
    idf: Callable[[str], float],
    path_of: Callable[[str], str],
    settings: Settings,
    focus_vector: np.ndarray | None = None,
    searched_for: str = "",
    sentence_tokens: Callable[[Hit], list[list[str]]] | None = None,
    name_vectors: Callable[[list[str]], np.ndarray] | None = None,
) -> Answer:
    """Build the reply to ``question`` from ``hits`` (best first).

    The callables give each hit's sentence vectors, a term's rarity and a source's
    file path; passing them in keeps this stage free of any model or index.
    ``focus_vector`` embeds the question without its names (see ``focus``): the
    confidence asks whether the best sentence says what is asked, not just whom it names
    (when the focus keeps at least ``MIN_FOCUS_TERMS`` topic words).
    ``sentence_tokens`` gives each hit's sentences tokenized (default: tokenize them now).
    ``name_vectors`` embeds short texts; with it, a best sentence whose document never
    names what the question names, and that names a thing of the same kind instead, lowers
    the confidence by ``P_STAND_IN`` (see ``qa.names.stand_in``).
    """
    candidates = rank_sentences(question, hits, query_vector=query_vector, sentence_vectors=sentence_vectors,
                                document_terms=document_terms, idf=idf, settings=settings,
                                focus_vector=focus_vector, sentence_tokens=sentence_tokens)
    confidence, swap = 0.0, None
    if candidates:
        best = candidates[0]
        focused = focus_vector is not None and len(set(tokenize([focus(question)])[0])) >= MIN_FOCUS_TERMS
        confidence = best.score + (float(best.vector @ focus_vector) if focused else best.cosine)
        if name_vectors is not None:
            swap = stand_in(question, best.text, document_terms(best.hit.passage.source), name_vectors)
            confidence -= P_STAND_IN if swap else 0.0
    common = dict(question=question, passages=tuple(hits), searched_for=searched_for or question,
                  confidence=confidence)
    if not candidates or confidence < settings.abstain_below:
        note = f"The closest sentence names {swap[1]}; its source never mentions {swap[0]}." if swap else ""
        return Answer(text=render_abstention(hits, note), abstained=True, note=note, **common)
    chosen = select(question, candidates, settings=settings)
    citations, markers = [], []
    for cand in chosen:
        numbers = []
        # The same sentence in other files: every source that says it is cited.
        twins = [c for c in candidates if c.text == cand.text and c.hit.passage.source != cand.hit.passage.source]
        for twin in [cand, *twins]:
            if any(c.source == twin.hit.passage.source and c.start == twin.span.start for c in citations):
                continue
            citations.append(Citation(
                n=len(citations) + 1, source=twin.hit.passage.source, path=path_of(twin.hit.passage.source),
                title=twin.hit.passage.title, start=twin.span.start, end=twin.span.end, quote=twin.quote,
                text=twin.text, score=twin.score, passage_id=twin.hit.passage.id,
            ))
            numbers.append(len(citations))
        markers.append(numbers)
    sentences = tuple(c.text for c in chosen)
    return Answer(text=render(sentences, markers, citations), abstained=False, sentences=sentences,
                  citations=tuple(citations), markers=tuple(tuple(m) for m in markers), **common)


def rank_sentences(
    question, hits, *, query_vector, sentence_vectors, document_terms, idf, settings,
    focus_vector=None, sentence_tokens=None,
) -> list[Candidate]:
    """Every sentence of the top passages, best answer first.

    A sentence scores by meaning (cosine to the question), by how much of the
    question's rare vocabulary it contains, and by its passage's rank; a question
    that asks for a number or a year wants a sentence that holds one. Question words
    found elsewhere in the sentence's document count half: a byline or a heading
    often names what the sentence itself only implies.
    """
    terms = set(tokenize([question])[0])
    total = sum(idf(t) for t in terms)
    wants_number = bool(_WANTS_NUMBER.search(question))
    wants_date = bool(_WANTS_DATE.search(question))
    top = hits[0].score if hits and hits[0].score > 0 else 1.0
    out = []
    for hit in hits[: settings.answer_passages]:
        texts = hit.passage.texts
        vectors = sentence_vectors(hit)
        cosines = vectors @ query_vector
        focused = vectors @ focus_vector if focus_vector is not None else cosines
        in_document = terms & document_terms(hit.passage.source)
        for span, text, quote, vector, cosine, fcos, tokens in zip(
            hit.passage.sentences, texts, hit.passage.quotes, vectors, cosines, focused,
            sentence_tokens(hit) if sentence_tokens else tokenize(list(texts)),
        ):
            words = set(tokens)
            found = terms & words
            covered = sum(idf(t) for t in found) + 0.5 * sum(idf(t) for t in in_document - found)
            coverage = covered / total if total else 0.0
            score = (W_COSINE * float(cosine) + W_COVERAGE * coverage + W_PASSAGE * max(hit.score, 0.0) / top
                     + W_FOCUS * (float(fcos) - float(cosine)))
            if wants_number and not _NUMBER.search(text):
                score -= P_NO_NUMBER
            # A heading or byline is no answer; a dateline is, to "when".
            fragment = _is_fragment(text, words) and not (wants_date and _DATE.search(text))
            if fragment:
                score -= P_FRAGMENT
            out.append(Candidate(hit, span, text, quote, vector, float(cosine), coverage, score, frozenset(words),
                                 fragment))
    out = _lift_neighbours(out)
    out.sort(key=lambda c: (-c.score, c.hit.passage.id, c.span.start))
    return out


def _lift_neighbours(candidates: list[Candidate]) -> list[Candidate]:
    """Raise each sentence part of the way toward a better-scoring neighbour.

    A question often paraphrases one sentence while the answer sits in the next or
    the previous one ("...employees of Japanese multinationals. I forget to ask 'Why?'").
    """
    lifted = []
    for i, cand in enumerate(candidates):
        neighbours = [
            other.score for other in candidates[max(i - 1, 0):i + 2]
            if other is not cand and other.hit.passage.id == cand.hit.passage.id
        ]
        best = max(neighbours, default=cand.score)
        if best > cand.score:
            cand = replace(cand, score=cand.score + NEIGHBOUR_LIFT * (best - cand.score))
        lifted.append(cand)
    return lifted


def _is_fragment(text: str, words: set[str]) -> bool:
    """Headings, bylines and names are not answers: too few words or no closing stop."""
    return len(words) < 3 or (len(text.split()) < 8 and not text.rstrip("”\"')»").endswith((".", "!", "?", "…")))


def select(question: str, candidates: list[Candidate], *, settings: Settings) -> list[Candidate]:
    """The best sentence, plus close runners-up that add something new.

    Two sentences always fit; a third (a fourth for "why" and list questions) only
    while the reply stays within ``settings.max_words``: a close runner-up often
    holds the fact, but a reply should still read at a glance. Headings are left out
    beside a better sentence. A sentence that introduces a list or asks a question
    brings its items or its answer next (see ``_introduced``), up to
    ``settings.max_sentences`` of them, under the same word budget.
    """
    limit = settings.max_sentences + (1 if _WANTS_MORE.search(question) else 0)
    best = candidates[0]
    by_span = {(c.hit.passage.id, c.span.start): c for c in candidates}
    chosen: list[Candidate] = []
    length = 0

    def fits(cand: Candidate) -> bool:
        return len(chosen) < 2 or length + len(cand.text.split()) <= settings.max_words

    for cand in candidates:
        if chosen and (len(chosen) >= limit or cand.score < best.score - MAX_GAP):
            break
        if cand in chosen or not fits(cand):
            continue
        if chosen and (cand.fragment or any(_jaccard(cand.words, other.words) > 0.6 for other in chosen)):
            continue  # a heading beside the answer, or a near-duplicate, adds nothing
        chosen.append(cand)
        length += len(cand.text.split())
        for item in _introduced(cand, by_span, most=settings.max_sentences):
            if item in chosen or not fits(item):
                break
            chosen.append(item)
            length += len(item.text.split())
    return _credit_first(question, chosen, candidates)


def _credit_first(question: str, chosen: list[Candidate], candidates: list[Candidate]) -> list[Candidate]:
    """For "Who wrote ...?" the byline, for "When was ... published?" the dateline, first.

    Such a question describes a post ("the post about consumers in Japan and Korea"), so
    its best sentence is the post's title or a line of its text; the answer is a short
    line of the same document, "By Josh Bernoff" or "September 07, 2009", which shares no
    words with the question. It leads the reply; the sentence that names the post follows.
    """
    if _ASKS_AUTHOR.search(question):
        wanted = _BYLINE.search
    elif _ASKS_PUBLISHED.search(question):
        wanted = _DATE.search
    else:
        return chosen
    source = chosen[0].hit.passage.source
    lines = [c for c in candidates
             if c.hit.passage.source == source and len(c.text.split()) <= BYLINE_WORDS and wanted(c.text)]
    if not lines:
        return chosen
    first = min(lines, key=lambda c: c.span.start)  # the post's own, not a comment's further down
    return [first, *(c for c in chosen if c != first)]


# A sentence opening with one of these starts a list that the sentence before announced
# ("Japanese companies are behind for several reasons. First, ...").
_FIRST_ITEM = re.compile(r"(first(ly)?|first of all|to (begin|start) with|1[.)])[\s,:]", re.IGNORECASE)
_NEXT_ITEM = re.compile(r"(second(ly)?|third(ly)?|fourth(ly)?|next|finally|lastly|[2-9][.)])[\s,:]", re.IGNORECASE)


def _introduced(cand: Candidate, by_span: dict, *, most: int) -> list[Candidate]:
    """The sentences that ``cand`` introduces, in order, at most ``most`` of them.

    "Keep these rules in mind:" says nothing without the rules that follow, "We are
    behind for several reasons." nothing without "First, ...", and a question in the
    text ("Is zlib thread-safe?") nothing without its answer: they often score lower
    for sharing fewer of the question's words. After a colon, the next sentences are
    the items; after a question, the sentences up to the next question; otherwise, a
    next sentence that opens with "First" begins a list that runs on while sentences
    open with "Second", "Finally" and the like.
    """
    spans = cand.hit.passage.sentences
    after = spans[spans.index(cand.span) + 1:][:most]
    items: list[Candidate] = []
    end = cand.text.rstrip()[-1:]
    for follower in (by_span.get((cand.hit.passage.id, span.start)) for span in after):
        opens_item = _FIRST_ITEM if not items else _NEXT_ITEM
        if follower is None or not (end in ":?" or opens_item.match(follower.text)):
            break
        if end == "?" and follower.text.rstrip().endswith("?"):
            break  # the next question: this one's answer, if any, is over
        items.append(follower)
    return items


def focus(question: str) -> str:
    """The question without its capitalised names: what is asked about them.

    "How many employees does Coca-Cola Japan have?" -> "How many employees does have?".
    Unanswerable questions often name something the documents know and ask for
    something they never say; the names alone would make any sentence look relevant.
    """
    words = question.split()
    return " ".join(w for i, w in enumerate(words) if i == 0 or not w[:1].isupper())


def render(sentences: tuple[str, ...], markers: list[list[int]], citations: list[Citation]) -> str:
    body = " ".join(f"{one_line(s)} {''.join(f'[{n}]' for n in ns)}" for s, ns in zip(sentences, markers))
    lines = [body, "", "Sources:"]
    for c in citations:
        lines.append(f"[{c.n}] {c.title} — {c.source}, characters {c.start}–{c.end}")
    return "\n".join(lines)


def render_abstention(hits: list[Hit], note: str = "") -> str:
    lines = [NO_ANSWER, note] if note else [NO_ANSWER]
    if hits:
        lines += ["", "Closest passages:"]
        for i, hit in enumerate(hits[:3], 1):
            lines.append(f"[{i}] {hit.passage.title} — {hit.passage.source}: {excerpt(hit.passage.text)}")
    return "\n".join(lines)


def one_line(text: str) -> str:
    """``text`` with every run of white space (line breaks too) made one space."""
    return " ".join(text.split())


def excerpt(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters."""
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
