"""Names: what a question names that its best sentence's document never does, and what stands in."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from functools import lru_cache

import numpy as np

from qa.lexical import tokenize

# A run of capitalised words: "South Korean", "Coca-Cola Japan", "Kim Hee-Jung".
_RUN = re.compile(r"[A-Z][\w&'’.-]*(?:\s+[A-Z][\w&'’.-]*)*")
_NOT_NAMES = frozenset("I A An The In On Of And But Or It Its This That These Those What Which Who Whom Whose "
                       "How When Where Why Is Are Was Were Do Does Did".split())
_ACRONYM = re.compile(r"[A-Z0-9&.-]{1,5}")  # "EU", "PO", "T"
# "the CEO of Mixi", "the mayor of Munich": a word, "of", and a name that fills its slot.
_SLOT = re.compile(rf"\b([A-Za-z]+) of (?:the )?({_RUN.pattern})")
_QUANTITIES = frozenset("one two all some most many much part each any none out both either neither few several "
                        "half rest".split())
# Two names embed this close when they are things of one kind: two countries, two companies,
# two months ("South Korean" ~ "Japan" 0.57, "Seoul" ~ "South Koreans" 0.63, "Korean" ~ "Japan" 0.49).
SAME_KIND = 0.45


def names(text: str, *, first: bool = False) -> list[str]:
    """The capitalised runs of ``text`` (see ``_names``)."""
    return list(_names(text, first))


@lru_cache(maxsize=65536)
def _names(text: str, first: bool) -> tuple[str, ...]:
    """The capitalised runs of ``text``; its first word counts, on its own, only with ``first``.

    A question's "Which" or "According" says nothing; a sentence's "Japanese businesses
    (21%) ..." does, and an odd "Although" is a name of no kind, near no other.
    """
    out = []
    lead = len(text) - len(text.lstrip(" \"'“‘(«"))
    for match in _RUN.finditer(text):
        words = match.group(0).split()
        if match.start() == lead:
            head, words = words[0], words[1:]
            if first and head not in _NOT_NAMES:
                out.append(_bare(head))
        words = [_bare(w) for w in words if w not in _NOT_NAMES]
        if words:
            out.append(" ".join(words))
    return tuple(dict.fromkeys(n for n in out if n))


def _bare(word: str) -> str:
    """``word`` without a closing stop or possessive: "LinkedIn's" -> "LinkedIn"."""
    return re.sub(r"['’]s$", "", word.rstrip(".'’,;:!?"))


def stand_in(
    question: str,
    sentence: str,
    document_terms: frozenset[str],
    embed: Callable[[list[str]], np.ndarray],
) -> tuple[str, str] | None:
    """``(asked, said)`` when ``sentence`` names ``said`` in place of the question's ``asked``.

    ``asked`` appears nowhere in the sentence's document, and ``said``, named in the
    sentence, is a thing of the same kind: "What percentage of South Korean businesses ...?"
    met by "... 30% of Japanese firms ..." in a report that never mentions Korea. Such a
    sentence answers another question. ``embed`` gives unit vectors for short texts.
    """
    asked = list(_absent(question, document_terms)[0])
    said = names(sentence, first=True)
    if not asked or not said:
        return None
    vectors = embed(asked + said)
    similar = vectors[: len(asked)] @ vectors[len(asked):].T
    for i, a in enumerate(asked):
        for j, s in enumerate(said):
            if _one_name(a, s):
                similar[i, j] = -1.0  # "US" for "United States" is no stand-in
    i, j = np.unravel_index(int(np.argmax(similar)), similar.shape)
    return (asked[i], said[j]) if similar[i, j] >= SAME_KIND else None


def other_in_slot(question: str, sentence: str) -> tuple[str, str, str] | None:
    """``(asked, word, said)`` when ``sentence`` has "``word`` of ``said``" where ``question``
    asks about "``word`` of ``asked``", and never names ``asked``.

    "Who is the CEO of Mixi?" is not answered by "Noriyuki Ikeda, CEO of Tribal Media House
    Inc, ..." however well the two match: the sentence fills the asked slot with another name.
    A word of quantity ("one of", "most of") is no slot.
    """
    for word, asked in _slots(question):
        if asked.lower() in sentence.lower():
            continue
        for other in _filled(word).finditer(sentence):
            said = _bare(other.group(1))
            if not _one_name(asked, said):
                return asked, word, said
    return None


@lru_cache(maxsize=4096)
def _slots(question: str) -> tuple[tuple[str, str], ...]:
    """The ``(word, asked)`` slots of ``question`` (``_SLOT``), words of quantity left out: read
    once for a question, which meets every candidate sentence."""
    found = ((m.group(1), _bare(m.group(2))) for m in _SLOT.finditer(question))
    return tuple((word, asked) for word, asked in found if word.lower() not in _QUANTITIES)


@lru_cache(maxsize=4096)
def _filled(word: str) -> re.Pattern:
    """"``word`` of <name>" in a sentence."""
    return re.compile(rf"\b{word} of (?:the )?({_RUN.pattern})")


def unmentioned(question: str, document_terms: frozenset[str]) -> list[str]:
    """The names of ``question`` when its document mentions none of them, else ``[]``.

    "How many users does CyWorld have?" met by a sentence of a text that never says
    "CyWorld" is met by a sentence about something else. A name counts as mentioned when
    any of its words is in the document (the question may spell it out in full or get it
    a little wrong), and an acronym ("EU", "PO") always does: the text may spell it out.
    """
    return list(_absent(question, document_terms)[1])


_last: tuple = ("", None, (), ())


def _absent(question: str, terms) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names of ``question`` that ``terms`` (a document's) do not mention, and ``unmentioned``'s
    answer. A question meets each of its documents' sentences in a row: the last document's
    answer is kept (one tuple: safe across threads; the terms themselves, not their id, are
    compared)."""
    global _last
    last = _last
    if last[0] != question or last[1] is not terms:
        asked = names(question)
        absent = tuple(n for n in asked if not mentions(n, terms))
        partly = any(_ACRONYM.fullmatch(n) or _partly_in_document(n, terms) for n in asked)
        last = _last = (question, terms, absent, () if not asked or partly else tuple(asked))
    return last[2], last[3]


@lru_cache(maxsize=65536)
def _tokens(name: str) -> tuple[str, ...]:
    """A name's lexical terms; names recur across sentences and questions, so each is tokenized once."""
    return tuple(tokenize([name])[0])


def _partly_in_document(name: str, terms: frozenset[str]) -> bool:
    tokens = _tokens(name)
    return not tokens or any(_has_term(token, terms) for token in tokens)  # "T" (cells) is no word to look for


def mentions(name: str, terms: frozenset[str]) -> bool:
    """Whether every word of ``name`` (or a word of the same stem) is among ``terms``."""
    return all(_has_term(token, terms) for token in _tokens(name))


def words_found(names: Iterable[str], terms: Iterable[str]) -> dict[str, bool]:
    """For each word of ``names``, whether ``terms`` hold it or a word of its stem. Words found in
    any of several sets are found in their union: ``mentioned`` then reads ``mentions`` of the
    union off the sets' answers, without walking the union."""
    return {token: _has_term(token, terms) for name in names for token in _tokens(name)}


def mentioned(name: str, found: dict[str, bool]) -> bool:
    """``mentions(name, terms)``, from ``words_found(names, terms)`` for names that include ``name``."""
    return all(found[token] for token in _tokens(name))


def _has_term(token: str, terms: Iterable[str]) -> bool:
    """``token`` or a word of the same stem: "japan" for "japanes", "korea" for "korean"."""
    if token in terms:
        return True
    if len(token) < 4:
        return False
    prefix = token[:4]
    lookup = getattr(terms, "with_prefix", None)  # a document's terms (qa.storage.DocumentTerms) are grouped
    near = lookup(prefix) if lookup else (t for t in terms if t[:4] == prefix)
    return any(_same_stem(token, t) for t in near)


def _same_stem(a: str, b: str) -> bool:
    return len(os.path.commonprefix([a, b])) >= max(4, min(len(a), len(b)) - 2)


@lru_cache(maxsize=4096)
def _one_name(a: str, b: str) -> bool:
    """Two spellings of one name: one within the other, a shared stem, or initials ("US", "USA")."""
    la, lb = a.lower(), b.lower()
    wa, wb = set(la.split()), set(lb.split())
    if wa <= wb or wb <= wa or _same_stem(la, lb):  # "Coca-Cola" in "Coca-Cola Japan"; "Japan", "Japanese"
        return True
    for short, long_ in ((a, b), (b, a)):
        initials = "".join(w[0] for w in long_.split()).upper()
        letters = re.sub(r"\W", "", short)
        if len(initials) > 1 and letters.isupper() and (letters.startswith(initials) or initials.startswith(letters)):
            return True
    return False
