"""Patterns: what kind of answer a question wants and what a sentence holds (regexes), and debris."""

from __future__ import annotations

import re

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
SUM = re.compile(
    r"[$€£¥₩]|\b(dollars?|cents?|yen|won|euros?|pounds?|francs?|marks|rupees?|yuan|pesos?|lire|guilders?"
    r"|shillings?|livres?|roubles?|rubles?|million|billion|trillion)\b",
    re.IGNORECASE,
)
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
TIME = re.compile(
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
AMOUNT_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|" + _AMOUNT.pattern, re.IGNORECASE)



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
