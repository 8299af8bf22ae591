"""Rules: what a question asks for, what a sentence holds, and which best sentences cannot answer.

The patterns below say what kind of answer a question wants (a number, a sum, a time, a
source, a byline) and whether a sentence holds one; ``rank`` uses them to score sentences and
``ruled_out`` to turn down a best sentence that cannot be the answer, whatever its score.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from qa.names import other_in_slot, stand_in, unmentioned

if TYPE_CHECKING:
    from qa.rank import Candidate

# "How many ...?", "What percentage ...?", "In what year ...?": questions answered by a number.
_AMOUNT_QUESTION = (r"how (many|long|old|far|often)|what (percentage|percent|share|proportion|number|fraction|year|age)"
                    r"|which year|what portion")
# A sentence with a number is likelier to answer these; "how much" and "when" often want one too.
WANTS_NUMBER = re.compile(rf"\b({_AMOUNT_QUESTION}|how (much|big|large)|when)\b", re.IGNORECASE)
# Questions about money, answered by a sum: "How much did they spend?", "What is its share price?".
# "How much" only of money: "How much success did it find?" wants a degree.
_WHAT_IS_ITS = r"what (is|was|are|were) (the|its|their|his|her|\S+'s)( \w+)? "  # "What is LinkedIn's share "
_SUM_QUESTION = (
    r"how much\b.*\b(cost|costs|spend|spends|spent|pay|pays|paid|earn|earns|earned|charge|charges|charged"
    r"|raise|raised|invest|invested|worth|revenue|sales|profit|budget)"
    rf"|{_WHAT_IS_ITS}(price|revenue|turnover|salary|budget|income|profit|valuation)"
)
_ASKS_SUM = re.compile(rf"\b({_SUM_QUESTION})\b", re.IGNORECASE)
# Questions no sentence without a number answers: those above, sums, "What is the population of
# ...?". Not "when" ("after the war").
_ASKS_AMOUNT = re.compile(rf"\b({_AMOUNT_QUESTION}|{_SUM_QUESTION}|{_WHAT_IS_ITS}population)\b", re.IGNORECASE)
# A sum names a currency ("$2 million", "40 dollars"), or the price is nothing ("Entry is free").
_FREE = re.compile(r"\b(free|gratis|no charge)\b", re.IGNORECASE)
_SUM = re.compile(
    r"[$€£¥₩]|\b(dollars?|cents?|yen|won|euros?|pounds?|francs?|marks|rupees?|yuan|pesos?|lire|guilders?"
    r"|shillings?|livres?|roubles?|rubles?|million|billion|trillion)\b",
    re.IGNORECASE,
)
# "Which firm is the source of the figures?" is answered by a credit line, "(Source: ICT Research)".
WANTS_SOURCE = re.compile(r"\b(source|sources|according to (which|whom|what))\b", re.IGNORECASE)
SOURCE_LINE = re.compile(r"^\W*(sources?|data|courtesy|credits?)\s*:", re.IGNORECASE)
WANTS_DATE = re.compile(r"\b(when|what (date|day)|which (date|day))\b", re.IGNORECASE)
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
# "October 29, 2008", "29 Oct 2008", "May 2010", "2008-10-29", "08.02.13": a dateline.
DATE = re.compile(
    rf"\b({_MONTH}\s+(\d{{1,2}}(st|nd|rd|th)?,?\s+)?\d{{4}}|\d{{1,2}}(st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4})\b",
    re.IGNORECASE,
)
# A question that opens with "When" (not "When X happened, what ...?") and the words of a time.
_ASKS_WHEN = re.compile(r"^\W*(when|what time|what date|which date)\b(?!.*,\s*(what|which|who|how)\b)", re.IGNORECASE)
_TIME = re.compile(
    r"\d|\b(jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(t(ember)?)?|oct(ober)?"
    r"|nov(ember)?|dec(ember)?|spring|summer|autumn|fall|winter|(mon|tues|wednes|thurs|fri|satur|sun)days?|today"
    r"|yesterday|tomorrow|tonight|now|recently|ago|since|until|till|before|after|during|while|when|whenever|once"
    r"|later|earlier|then|soon|(year|month|week|day|hour|decade|era|age|period|time|season)s?|centur(y|ies)|reign"
    r"|morning|evening|night|early|late|beginning|start|end|following|prior|first|last|previous|next|anniversary)\b",
    re.IGNORECASE,
)
# "one" is left out: far more often a pronoun than a count.
NUMBER = re.compile(
    r"\d|\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|hundred|thousand|million|billion|dozen"
    r"|half|third|quarter|fifth|tenth)s?\b|\b(twent|thirt|fort|fift|sixt|sevent|eight|ninet)(y|ies)\b",
    re.IGNORECASE,
)
# An amount, for ``lacks_amount``: a number, "one" ("Voters choose one member"), "none", "a single",
# "twice", "percent", or a span of time ("for an hour").
_AMOUNT = re.compile(
    NUMBER.pattern + r"|\b(one|none|zero|single|once|twice|percent|(second|minute|hour|day|week|month|year|decade)s?"
    r"|centur(y|ies))\b",
    re.IGNORECASE,
)
# Each amount once: a whole numeral ("12,000", "63.2") or one of the words above.
_AMOUNT_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|" + _AMOUNT.pattern, re.IGNORECASE)
# "the post about ...", "the article on ...": the question speaks of a text, not only its content.
_ABOUT_A_TEXT = re.compile(r"\b(post|blog|article|entry|story|column)s?\b", re.IGNORECASE)

# A best sentence this far from the question in meaning answers it only by sharing its words
# ("Who founded Mixi?" -> "I even found Facebook and Twitter logos ..."): no answer.
MIN_COSINE = 0.3


def ruled_out(question: str, best: Candidate, credits: list[Candidate] | None, document_terms: frozenset[str],
              name_vectors: Callable[[list[str]], np.ndarray] | None = None) -> str:
    """Why ``best`` cannot answer ``question`` (a line for the reply), or "" when nothing rules it out.

    ``best`` comes from a document with the words ``document_terms``; ``credits`` are the
    bylines or datelines at hand for "Who wrote ...?" and "When was ... published?" (see
    ``qa.select.credit_lines``), which lead such a reply and so stand for ``best``. Ruled out:
    a sentence that names a thing of the same kind in place of the asked one, which its
    document never names (``qa.names.stand_in``, with ``name_vectors``); one from a document
    that mentions none of the question's names (``qa.names.unmentioned``); one about "the CEO
    of" another firm than the asked one (``qa.names.other_in_slot``); one without a
    number of its own when the question asks for an amount, or without a sum when it asks
    about money (``lacks_amount``), or without a time
    when it asks when (``lacks_time``); a question about who wrote a post, or when,
    with no byline or dateline at hand; and a sentence whose cosine to the question is under
    ``MIN_COSINE``. The sentences at hand do not say, and quoting them would look like an answer.
    """
    lead = (credits or [best])[0].text  # "In what year was it posted?": the dateline answers
    if name_vectors is not None and (swap := stand_in(question, best.text, document_terms, name_vectors)):
        return f"The closest sentence names {swap[1]}; its source never mentions {swap[0]}."
    if absent := unmentioned(question, document_terms):
        return f"The closest sentence comes from a text that never mentions {' or '.join(absent)}."
    if slot := other_in_slot(question, best.text):
        return f"The closest sentence is about the {slot[1]} of {slot[2]}, not of {slot[0]}."
    if lacks_amount(question, lead):
        wanted = "a sum" if asks_sum(question) else "an amount"
        return f"The question asks for {wanted}; the closest sentence holds none."
    if lacks_time(question, lead):
        return "The question asks when; the closest sentence names no time."
    if credits == [] and names_a_text(question):  # asks who wrote it (or when); none at hand
        return "The passages about it name no author or date."
    if best.cosine < MIN_COSINE and not credits:  # a byline shares no meaning with "Who wrote ...?"
        return "The closest sentence shares words with the question, not its meaning."
    return ""


def lacks_amount(question: str, text: str) -> bool:
    """Whether ``question`` asks for an amount (see ``_ASKS_AMOUNT``) and ``text`` holds none
    but those the question names itself.

    "How much did Coca-Cola Japan spend on mobile marketing?" is not answered by a sentence on
    Coca-Cola's mobile activities that names no sum (``_SUM``), however close its meaning, nor
    by one that names "two days"; "How many Huguenots were there in France in 1685?" is not
    answered by one whose only number is 1685.
    """
    if not _ASKS_AMOUNT.search(question):
        return False
    named = {m.group(0).lower() for m in _AMOUNT_TOKEN.finditer(question)}
    own = any(m.group(0).lower() not in named for m in _AMOUNT_TOKEN.finditer(text))
    if asks_sum(question):  # "two days" is no price
        return not (own and _SUM.search(text)) and not _FREE.search(text)
    return not own


def asks_sum(question: str) -> bool:
    """Whether ``question`` asks for a sum of money ("How much did they spend?")."""
    return bool(_ASKS_SUM.search(question))


def lacks_time(question: str, text: str) -> bool:
    """Whether ``question`` asks when and ``text`` names no time: no date, no number, no word
    such as "summer", "after" or "century". "When was Twitter founded?" is not answered by
    "I even found Facebook and Twitter logos on their company websites."
    """
    return bool(_ASKS_WHEN.search(question)) and not _TIME.search(text)


def names_a_text(question: str) -> bool:
    """Whether ``question`` speaks of a post, an article or the like."""
    return bool(_ABOUT_A_TEXT.search(question))
