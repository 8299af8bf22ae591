"""Follow-ups: turn a follow-up question into a search that carries the earlier subject."""

from __future__ import annotations

import re

from qa.lexical import STOPWORDS

# A follow-up leans on what came before: it opens with a connector ("and in Korea?"),
# is a bare fragment ("Why?"), or points back with a pronoun while naming little itself.
_CONNECTOR = re.compile(
    r"^\s*(and|but|also|so|then|what about|how about|what else|same for|and what|and how|and why)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W_]+(?:['’.&-][^\W_]+)*")
_CONTRACTED = re.compile(r"[a-z]['’](s|re|ve|ll|d|m)$", re.IGNORECASE)  # "What's", "Who're", "it'll"
PRONOUNS = frozenset(
    "it its it's itself that those they them their theirs this these there he she him her his".split()
)
# Question and filler words carry no subject, so they are never folded into a search: the
# BM25 stop words, and the words people ask with that it keeps.
FILLER = frozenset(STOPWORDS) | frozenset(
    "also among could done else many much per said say says tell via within without would yet".split()
) | PRONOUNS

MAX_FRAGMENT_WORDS = 2  # "Why?", "In Korea?": too short to be a question of its own
MAX_OWN_TERMS = 3  # a pronoun question naming more than this has its own subject
MAX_FOLDED_TERMS = 8  # keeps a chain of follow-ups from growing the search without end


def search_query(question: str, previous: list[str]) -> str:
    """What to search for: ``question``, plus the subject of the last search if it is a follow-up.

    ``previous`` holds what earlier turns searched for, oldest first. A question that
    stands on its own, or the first one, is returned unchanged.
    """
    question = question.strip()
    if not previous or not is_follow_up(question):
        return question
    own = {w.lower() for w in words(question)}
    carried = [t for t in key_terms(previous[-1]) if t.lower() not in own]
    if _names(question):  # "and in Korea?" after "... among Japanese users?": Korea takes Japan's place
        carried = [t for t in carried if not _is_name(t)]
    if not carried:
        return question
    return f"{' '.join(carried)} {question}"


def is_follow_up(question: str) -> bool:
    """True when ``question`` only makes sense after the previous one."""
    found = words(question)
    if not found:
        return False
    # "What's Mixi?" is three words, as "What is Mixi?" is: a question of its own.
    count = len(found) + sum(1 for w in found if _CONTRACTED.search(w))
    if _CONNECTOR.match(question) or count <= MAX_FRAGMENT_WORDS:
        return True
    points_back = any(w.lower() in PRONOUNS for w in found)
    return points_back and len(key_terms(question)) <= MAX_OWN_TERMS


def key_terms(text: str) -> list[str]:
    """The subject words of ``text``, in order, each once, as written."""
    seen, terms = set(), []
    for word in words(text):
        low = word.lower()
        if low in FILLER or low in seen:
            continue
        seen.add(low)
        terms.append(word)
    return terms[:MAX_FOLDED_TERMS]


def _names(question: str) -> list[str]:
    """The capitalised words of ``question`` past its first (an acronym such as "SNS" is a term, not a name)."""
    return [w for w in words(question)[1:] if _is_name(w)]


def _is_name(word: str) -> bool:
    return word[:1].isupper() and not word.isupper()


def words(text: str) -> list[str]:
    return _WORD.findall(text)
