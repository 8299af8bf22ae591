"""The word patterns (``AnyOf``) answer as their regexes do, and the fast amounts and dates as the slow ones."""

import random

import pytest

from qa.answer.patterns import AMOUNT_TOKEN, DATE, SUM, TIME, AnyOf, amounts, has_date

# Words at the edges of the patterns (plurals, optional endings, other cases) and characters
# whose case folding is not ASCII's: the long s matches "s", the Kelvin sign "k".
TRICKY = ["may", "May", "MAY", "mays", "twenty", "twenties", "eighty", "thirds", "dollar", "Dollars", "ONE",
          "none", "2nd", "5hours", "a380", "1,000.5", "10.", ".5", "$", "£3", "Oct.", "October 29, 2008",
          "08.02.13", "_may", "may_", "centuries", "Century", "ninety", "fifties", "won", "SUNDAYS", "dollaſ",
          "weeK", "İ", "ı", "٣", "Zwanzig", "jän", "2008-10-29", "thirty-one", "ﬁrst"]
SENTENCES = ["The company was founded in 1998 and raised $2 million.", "It closed on a Sunday in early spring.",
             "Nobody knows.", "Prices start at €40, or forty euros.", "Le 3 mai, à Paris.",
             "二百以上の茶屋があります。", "Twenty-two of them stayed for a week.",
             "He paid none of it; entry is free."]


def texts(n: int = 3000) -> list[str]:
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,$_-'é€£ſKİı٣"
    out = list(TRICKY) + SENTENCES
    for _ in range(n):
        out.append(" ".join(rng.choice(TRICKY) if rng.random() < 0.5
                            else "".join(rng.choice(letters) for _ in range(rng.randint(1, 8)))
                            for _ in range(rng.randint(0, 8))))
    return out


@pytest.mark.parametrize("pattern", [TIME, SUM], ids=["TIME", "SUM"])
def test_a_word_pattern_answers_as_its_regex(pattern):
    for text in texts():
        assert pattern.search(text) == (pattern.regex.search(text) is not None), text


def test_a_word_pattern_looks_at_whole_words_only():
    time = AnyOf(r"may|week", digits=True)
    assert time.search("in May") and time.search("for a WEEK") and time.search("room 5")
    assert not time.search("mayor of weekly") and not time.search("")
    money = AnyOf(r"dollars?", chars="$")
    assert money.search("costs $5") and money.search("two dollars") and not money.search("dollarsign")


def test_amounts_and_dates_are_the_regexes_matches():
    for text in texts():
        assert sorted(amounts(text)) == sorted(m.group(0).lower() for m in AMOUNT_TOKEN.finditer(text)), text
        assert has_date(text) == (DATE.search(text) is not None), text
    assert amounts("Forty people paid 12,000.5 dollars twice in 1998") == ["12,000.5", "1998", "forty", "twice"]

