"""Names: which names a question and a sentence hold, and when one stands in for another."""

from __future__ import annotations

import numpy as np
import pytest

from qa.answer.names import SAME_KIND, mentioned, mentions, names, other_in_slot, stand_in, unmentioned, words_found
from qa.lexical import tokenize


def terms(text: str) -> frozenset[str]:
    return frozenset(tokenize([text])[0])


class Kinds:
    """A fake embedding where names of one kind (countries, companies) share an axis."""

    AXES = {"country": 0, "company": 1, "person": 2}

    def __init__(self, kinds: dict[str, str], *, spread: float = 0.8):
        self.kinds, self.spread, self.calls = kinds, spread, []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = []
        for i, text in enumerate(texts):
            vector = np.zeros(3 + len(texts), dtype=np.float32)
            if text in self.kinds:  # any other capitalised word is of no kind: "Although", "Only"
                vector[self.AXES[self.kinds[text]]] = self.spread
            vector[3 + i] = np.sqrt(1 - vector[:3].sum() ** 2)  # what makes each name itself
            out.append(vector)
        return np.stack(out)


def test_names_are_capitalised_runs_after_the_first_word():
    assert names("What percentage of South Korean businesses use Regus?") == ["South Korean", "Regus"]
    assert names("What is LinkedIn's share price?") == ["LinkedIn"]
    assert names("Japanese firms (21%) trail China and India.") == ["China", "India"]
    assert names("“Tokyo is big,” said Kim Hee-Jung.") == ["Kim Hee-Jung"]
    assert names("How do I make bulgogi?") == []
    assert names("The U.S. and the USA.") == ["U.S", "USA"]


def test_a_sentence_names_its_first_word_on_its_own():
    assert names("Japanese firms (21%) trail China.", first=True) == ["Japanese", "China"]
    assert names("Japanese SNS users like LINE.", first=True) == ["Japanese", "SNS", "LINE"]
    assert names("Which SNS do you use?", first=True) == ["SNS"]


def test_a_sentence_about_another_country_stands_in_for_the_asked_one():
    document = "Regus found that 30% of Japanese firms use social networks. Belgium had 34%."
    kinds = Kinds({"South Korean": "country", "Regus": "company", "Japanese": "country"})
    swap = stand_in("What percentage of South Korean businesses use social networks, says Regus?",
                    "In 2010, Regus found that 30% of Japanese firms use social networks.", terms(document), kinds)
    assert swap == ("South Korean", "Japanese")
    # Regus is in the document: not asked. "In" is no name; "2010" not capitalised.
    assert kinds.calls == [["South Korean", "Regus", "Japanese"]]


def test_a_name_the_document_holds_in_another_form_is_no_swap():
    # "Korean" is in the document as "Korea": the document speaks of it, whatever the sentence says.
    document = "In Korea, broadband is everywhere. In Japan, mobile comes first."
    kinds = Kinds({"Korean": "country", "Japan": "country"})
    assert stand_in("How many Korean homes have broadband?", "In Japan, mobile comes first.",
                    terms(document), kinds) is None
    assert kinds.calls == []  # nothing asked is missing: no model call at all


def test_initials_are_the_same_name_not_a_stand_in():
    kinds = Kinds({"United States": "country", "USA": "country"}, spread=0.9)
    assert stand_in("What speed do turbines run at in the United States?",
                    "Typical speeds are 3600 rpm in the USA.", terms("Typical speeds are 3600 rpm in the USA."),
                    kinds) is None


@pytest.mark.parametrize("spread", [0.5, 0.8])
def test_only_names_of_one_kind_stand_in(spread):
    kinds = Kinds({"Samsung": "company", "Seoul": "country"}, spread=spread)
    kinds.kinds["Japan"] = "company"  # same axis as Samsung: similar exactly when spread**2 >= SAME_KIND
    swap = stand_in("What did Samsung report?", "Sales rose in Seoul and at Japan.", terms("Sales rose."), kinds)
    assert (swap == ("Samsung", "Japan")) == (spread**2 >= SAME_KIND)


def test_a_question_whose_names_its_document_never_mentions():
    document = terms("The CyWorld online community is the dominant social network in South Korea.")
    assert unmentioned("How many users does Mixi have?", document) == ["Mixi"]
    assert unmentioned("How many users do Mixi and Gree have?", document) == ["Mixi", "Gree"]
    assert unmentioned("How many users does CyWorld have?", document) == []
    assert unmentioned("How many users does Mixi have in Korea?", document) == []  # Korea is mentioned
    assert unmentioned("Which network leads in the South?", document) == []  # one word of the name will do
    assert unmentioned("How many users does the KCC count?", document) == []  # an acronym may be spelt out
    assert unmentioned("how many users are there?", document) == []  # no names


def test_a_questions_missing_names_are_those_of_the_document_at_hand():
    # A question meets its documents' sentences in turn (the last document's answer is kept).
    question = "How many users does Mixi have in Korea?"
    korea, japan = terms("Korea's CyWorld leads."), terms("Mixi leads in Japan.")
    sentence = "Gree has 20 million users."
    kinds = Kinds({"Mixi": "company", "Gree": "company", "Korea": "country"})
    for _ in range(2):
        assert unmentioned(question, korea) == [] and unmentioned(question, frozenset()) == ["Mixi", "Korea"]
        assert stand_in(question, sentence, korea, kinds) == ("Mixi", "Gree")
        assert stand_in(question, sentence, japan, kinds) is None  # Mixi is named there
        assert stand_in(question, sentence, set(korea), kinds) == ("Mixi", "Gree")  # equal terms, another set


@pytest.mark.parametrize(("question", "sentence", "slot"), [
    ("Who is the CEO of Mixi?", "Noriyuki Ikeda, CEO of Tribal Media House Inc, comments.",
     ("Mixi", "CEO", "Tribal Media House Inc")),
    ("What is the mayor of Munich called?", "The mayor of Warsaw is called President.", ("Munich", "mayor", "Warsaw")),
    ("Who is the CEO of Mixi?", "Mixi's founder is the CEO of Mixi Inc.", None),  # the sentence names Mixi
    ("When were the limits of Aristotle's physics overcome?", "The limits of Aristotelian physics fell.", None),
    ("What is one of the sights of Kyoto?", "One of the sights of Nara is the deer park.",
     ("Kyoto", "sights", "Nara")),
    ("Which is one of the Kyoto temples?", "One of the Nara temples is old.", None),  # "one of" is no slot
    ("Who is the CEO of Mixi?", "The company has grown fast.", None),
])
def test_another_name_in_the_asked_slot(question, sentence, slot):
    assert other_in_slot(question, sentence) == slot


def test_a_windows_mentions_are_read_off_its_sentences_answers():
    """``featurize`` reads a window's mentions off its sentences' ``words_found``: the same answers
    as ``mentions`` over the union, found in one sentence, in another, by stem or not at all."""
    asked = ("South Korea", "Coca-Cola Japan", "Mixi", "EU", "Tokyo")
    sentences = [frozenset(tokenize([text])[0]) for text in (
        "Koreans in the south use Cyworld.", "Coca-Cola sells tea.", "Japanese firms spend more.", "Nothing here.")]
    for i in range(len(sentences)):
        for j in range(len(sentences)):
            parts = [sentences[i], sentences[j]]
            union = set().union(*parts)
            each = [words_found(asked, part) for part in parts]
            merged = {t: any(found[t] for found in each) for t in each[0]}
            assert [mentioned(n, merged) for n in asked] == [mentions(n, union) for n in asked]
    assert [mentioned(n, words_found(asked, sentences[0] | sentences[2])) for n in asked] == [
        True, False, False, False, False]
