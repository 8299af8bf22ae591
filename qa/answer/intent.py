"""Intent: what a question asks for, read once into one record that every answer step shares."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.answer.names import names
from qa.answer.patterns import ASKS_AMOUNT, ASKS_SUM, ASKS_WHEN, WANTS_DATE, WANTS_NUMBER, amounts
from qa.lexical import question_tokens

# The question's kind, from its opening words; a code the decision model reads as a number.
KINDS = ("other", "what", "who", "when", "where", "why", "amount", "which", "how")
_AMOUNT_KIND = re.compile(r"\b(how (many|much|long|old|far|often|big|large)|what (percentage|percent|share|number"
                          r"|proportion|fraction|year|age))\b", re.IGNORECASE)
# Otherwise the first of these kinds whose word the question holds, in this order.
_KIND_WORDS = (("why", {"why"}), ("when", {"when"}), ("who", {"who", "whom", "whose"}), ("where", {"where"}),
               ("which", {"which"}), ("how", {"how"}), ("what", {"what"}))
_WANTS_MORE = re.compile(r"\b(why|reasons?|explain|list|which (ones|are)|what are)\b", re.IGNORECASE)
ASKS_WHY = re.compile(r"\b(why|reasons?|cause[sd]?)\b", re.IGNORECASE)
# Questions about a document rather than its content: who wrote it, when it appeared.
_ASKS_AUTHOR = re.compile(r"^\W*(who|whose|which (person|writer|author|blogger))\b.*\b(wrote|writes|written|"
                          r"authored|author|posted|published|blogged|contributed)\b", re.IGNORECASE)
_ASKS_PUBLISHED = re.compile(rf"({WANTS_DATE.pattern}|\b(what|which) year\b)"
                             r".*\b(published|posted|written|wrote|appear|appeared|released)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Intent:
    """One question, read: its terms, names and amounts, and the kind of answer it wants."""

    question: str
    terms: frozenset[str]  # lexical terms (stemmed), as the BM25 index spells them
    focus: str  # the question without its capitalised names (see ``focus``)
    names: tuple[str, ...]  # capitalised runs after the first word
    amounts: frozenset[str]  # numbers and amount words the question itself names
    kind: str  # one of KINDS
    wants_number: bool  # a sentence with a number is likelier to answer
    asks_amount: bool  # no sentence without an amount of its own answers
    asks_sum: bool  # ... and it must be a sum of money
    asks_when: bool  # opens with "When": no sentence without a time answers
    asks_author: bool  # who wrote the post: a byline answers
    asks_published: bool  # when it appeared: a dateline answers
    wants_more: bool  # why and list questions quote one sentence more
    asks_why: bool


def read(question: str) -> Intent:
    """The intent of ``question``: computed once per question, before any sentence is scored."""
    return Intent(
        question=question,
        terms=frozenset(question_tokens(question)),
        focus=focus(question),
        names=tuple(names(question)),
        amounts=frozenset(amounts(question)),
        kind=kind_of(question),
        wants_number=bool(WANTS_NUMBER.search(question)),
        asks_amount=bool(ASKS_AMOUNT.search(question)),
        asks_sum=bool(ASKS_SUM.search(question)),
        asks_when=bool(ASKS_WHEN.search(question)),
        asks_author=bool(_ASKS_AUTHOR.search(question)),
        asks_published=bool(_ASKS_PUBLISHED.search(question)),
        wants_more=bool(_WANTS_MORE.search(question)),
        asks_why=bool(ASKS_WHY.search(question)),
    )


def kind_of(question: str) -> str:
    """The question's kind (one of ``KINDS``): an amount, else its first question word's kind."""
    if _AMOUNT_KIND.search(question):
        return "amount"
    words = set("".join(c if c.isalnum() or c == "_" else " " for c in question.lower()).split())
    return next((kind for kind, forms in _KIND_WORDS if words & forms), "other")


def focus(question: str) -> str:
    """The question without its capitalised names: what is asked about them.

    "How many employees does Coca-Cola Japan have?" -> "How many employees does have?".
    Unanswerable questions often name something the documents know and ask for
    something they never say; the names alone would make any sentence look relevant.
    """
    words = question.split()
    return " ".join(w for i, w in enumerate(words) if i == 0 or not w[:1].isupper())
