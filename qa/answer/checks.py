"""Checks: the named reasons a sentence cannot answer a question, each a reason or nothing.

Each check in ``CHECKS`` says why a sentence cannot answer a question, or nothing. The checks
are features of the learned decision (``qa.answer.decide``); the ones whose veto measured a
gain on held-out articles also veto an answer, named in ``Answer.vetoed_by``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qa.answer.intent import Intent
from qa.answer.names import other_in_slot, stand_in, unmentioned
from qa.answer.patterns import FREE, SUM, TIME, amounts


def has_own_amount(intent: Intent, text: str) -> bool:
    """Whether ``text`` names an amount that the question does not name itself."""
    return any(a not in intent.amounts for a in amounts(text))


def lacks_amount(intent: Intent, text: str) -> bool:
    """The question asks for an amount and ``text`` holds none but those the question names.

    "How much did Coca-Cola Japan spend on mobile marketing?" is not answered by a sentence on
    its mobile activities that names no sum (``SUM``), however close its meaning, nor by one
    that names "two days"; "How many Huguenots were there in France in 1685?" is not answered
    by one whose only number is 1685.
    """
    if not intent.asks_amount:
        return False
    own = has_own_amount(intent, text)
    if intent.asks_sum:  # "two days" is no price
        return not (own and SUM.search(text)) and not FREE.search(text)
    return not own


def lacks_time(intent: Intent, text: str) -> bool:
    """The question asks when and ``text`` names no time: no date, no number, no word such as
    "summer", "after" or "century"."""
    return intent.asks_when and not TIME.search(text)


# Each check: (intent, sentence text, its document's terms, name embedder) -> why it cannot
# answer, or "". Ordered as a reply should explain them: the strongest reason first.
Check = Callable[[Intent, str, frozenset, Callable[[list[str]], np.ndarray]], str]


def _stand_in(intent, text, terms, embed) -> str:
    swap = stand_in(intent.question, text, terms, embed)
    return f"The closest sentence names {swap[1]}; its source never mentions {swap[0]}." if swap else ""


def _unmentioned(intent, text, terms, embed) -> str:
    absent = unmentioned(intent.question, terms)
    return f"The closest sentence comes from a text that never mentions {' or '.join(absent)}." if absent else ""


def _other_in_slot(intent, text, terms, embed) -> str:
    slot = other_in_slot(intent.question, text)
    return f"The closest sentence is about the {slot[1]} of {slot[2]}, not of {slot[0]}." if slot else ""


def _lacks_amount(intent, text, terms, embed) -> str:
    if not lacks_amount(intent, text):
        return ""
    return f"The question asks for {'a sum' if intent.asks_sum else 'an amount'}; the closest sentence holds none."


def _lacks_time(intent, text, terms, embed) -> str:
    return "The question asks when; the closest sentence names no time." if lacks_time(intent, text) else ""


CHECKS: dict[str, Check] = {
    "stand_in": _stand_in,
    "unmentioned": _unmentioned,
    "other_in_slot": _other_in_slot,
    "lacks_amount": _lacks_amount,
    "lacks_time": _lacks_time,
}
