"""Patterns: what kind of answer a question wants and what a sentence holds (regexes), and debris."""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
_WORDS_KNOWN = 1 << 16  # words each AnyOf remembers; then it starts again
_last: tuple[str, list[str], set[str]] = ("", [], set())


def _words(text: str) -> tuple[list[str], set[str]]:
    """``text``'s ``\\w+`` runs, in order and as a set; a sentence is asked about several times in
    a row (``AnyOf.search``, ``amounts``), so the last one is kept (one tuple: safe across threads)."""
    global _last
    last = _last
    if last[0] != text:
        found = _WORD.findall(text)
        last = _last = (text, found, set(found))
    return last[1], last[2]


class AnyOf:
    r"""The regex ``[chars]|\d|\b(words)\b`` (case-insensitive; ``words`` made of letters only),
    answered several times as fast: a text is split into its words (``\w+``) once and each word
    is looked up, every distinct word tried against ``words`` once. A match of ``\b(words)\b``
    spans a whole ``\w+`` word, so the answers are the regex's (``tests/answer/test_patterns.py``).
    """

    def __init__(self, words: str, *, chars: str = "", digits: bool = False):
        self.words = words
        self.chars, self.digits = frozenset(chars), digits
        self._word = re.compile(rf"(?:{words})", re.IGNORECASE)
        parts = [f"[{re.escape(chars)}]"] * bool(chars) + [r"\d"] * digits + [rf"\b({words})\b"]
        self.regex = re.compile("|".join(parts), re.IGNORECASE)  # the same answers, slower
        self._yes: set[str] = set()  # words tried: those that are one of ``words``, those that are not
        self._no: set[str] = set()

    def _sort(self, words: set[str]) -> None:
        for word in words - self._yes - self._no:
            if len(self._no) >= _WORDS_KNOWN:
                self._no.clear()
            (self._yes if self._word.fullmatch(word) else self._no).add(word)

    def which(self, text: str) -> list[str]:
        """``text``'s words that are one of ``words``, in order."""
        found, distinct = _words(text)
        self._sort(distinct)
        return [w for w in found if w in self._yes]

    def search(self, text: str) -> bool:
        if (self.digits and _DIGIT.search(text)) or not self.chars.isdisjoint(text):
            return True
        distinct = _words(text)[1]
        self._sort(distinct)
        return not self._yes.isdisjoint(distinct)


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
ASKS_SUM = re.compile(rf"\b({_SUM_QUESTION})\b", re.IGNORECASE)
# Questions no sentence without a number answers: those above, sums, "What is the population of
# ...?". Not "when" ("after the war").
ASKS_AMOUNT = re.compile(rf"\b({_AMOUNT_QUESTION}|{_SUM_QUESTION}|{_WHAT_IS_ITS}population)\b", re.IGNORECASE)
# A sum names a currency ("$2 million", "40 dollars"), or the price is nothing ("Entry is free").
FREE = re.compile(r"\b(free|gratis|no charge)\b", re.IGNORECASE)
SUM = AnyOf(r"dollars?|cents?|yen|won|euros?|pounds?|francs?|marks|rupees?|yuan|pesos?|lire|guilders?"
            r"|shillings?|livres?|roubles?|rubles?|million|billion|trillion", chars="$€£¥₩")
WANTS_DATE = re.compile(r"\b(when|what (date|day)|which (date|day))\b", re.IGNORECASE)
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
# "October 29, 2008", "29 Oct 2008", "May 2010", "2008-10-29", "08.02.13": a dateline.
DATE = re.compile(
    rf"\b({_MONTH}\s+(\d{{1,2}}(st|nd|rd|th)?,?\s+)?\d{{4}}|\d{{1,2}}(st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4})\b",
    re.IGNORECASE,
)
# A question that opens with "When" (not "When X happened, what ...?") and the words of a time.
ASKS_WHEN = re.compile(r"^\W*(when|what time|what date|which date)\b(?!.*,\s*(what|which|who|how)\b)", re.IGNORECASE)
TIME = AnyOf(
    r"jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(t(ember)?)?|oct(ober)?"
    r"|nov(ember)?|dec(ember)?|spring|summer|autumn|fall|winter|(mon|tues|wednes|thurs|fri|satur|sun)days?|today"
    r"|yesterday|tomorrow|tonight|now|recently|ago|since|until|till|before|after|during|while|when|whenever|once"
    r"|later|earlier|then|soon|(year|month|week|day|hour|decade|era|age|period|time|season)s?|centur(y|ies)|reign"
    r"|morning|evening|night|early|late|beginning|start|end|following|prior|first|last|previous|next|anniversary",
    digits=True,
)
# "one" is left out: far more often a pronoun than a count.
_NUMBER_WORDS = (r"(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|hundred|thousand|million|billion"
                 r"|dozen|half|third|quarter|fifth|tenth)s?|(twent|thirt|fort|fift|sixt|sevent|eight|ninet)(y|ies)")
# An amount, for ``lacks_amount``: a number, "one" ("Voters choose one member"), "none", "a single",
# "twice", "percent", or a span of time ("for an hour").
_AMOUNT_WORDS = AnyOf(_NUMBER_WORDS + r"|one|none|zero|single|once|twice|percent"
                      r"|(second|minute|hour|day|week|month|year|decade)s?|centur(y|ies)")
# Each amount once: a whole numeral ("12,000", "63.2") or one of the words above.
_NUMERAL = re.compile(r"\d+(?:[.,]\d+)*")
AMOUNT_TOKEN = re.compile(rf"{_NUMERAL.pattern}|\b({_AMOUNT_WORDS.words})\b", re.IGNORECASE)


def amounts(text: str) -> list[str]:
    """``text``'s amounts (``AMOUNT_TOKEN``), lower-cased: numerals first, then amount words."""
    return list(_amounts(text))


@lru_cache(maxsize=256)  # a question's candidates, not every sentence ever asked about
def _amounts(text: str) -> tuple[str, ...]:
    """``amounts``, read once for a sentence that a question's features and checks both ask about."""
    return (*_NUMERAL.findall(text), *(w.lower() for w in _AMOUNT_WORDS.which(text)))


def has_date(text: str) -> bool:
    """Whether ``text`` holds a date (``DATE``): every form of one has a digit, sought first."""
    return _DIGIT.search(text) is not None and DATE.search(text) is not None



# A list of links or labels (a sidebar, a tag cloud, a blog's category list): a run of at least
# this many short lines in a row, none of them a sentence. "Beef Recipes" in such a run is no
# answer to a question about cooking; a heading alone before its paragraph is no run.
DEBRIS_RUN = 3
DEBRIS_WORDS = 4


# How a sentence ends, in Latin and in CJK script ("京都には二百以上の茶屋があります。" is one "word").
SENTENCE_ENDS = (".", "!", "?", "…", ":", "。", "！", "？", "：")


def is_label(text: str) -> bool:
    """A short line that is not a sentence: a link, a tag, a heading."""
    return len(text.split()) <= DEBRIS_WORDS and not text.rstrip("”\"')»」』").endswith(SENTENCE_ENDS)


def debris(texts: list[str]) -> list[bool]:
    """Which of a passage's consecutive ``texts`` stand in a run of ``DEBRIS_RUN`` or more labels."""
    flags = [is_label(t) for t in texts]
    out = [False] * len(texts)
    i = 0
    while i < len(flags):
        j = i
        while j < len(flags) and flags[j]:
            j += 1
        if j - i >= DEBRIS_RUN:
            out[i:j] = [True] * (j - i)
        i = max(j, i + 1)
    return out
