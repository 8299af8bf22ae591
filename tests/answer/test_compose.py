"""Compose: sentence choice, de-duplication, limits, abstention and citations, with no model at all."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from qa.answer.checks import CHECKS, lacks_amount, lacks_time
from qa.answer.compose import compose
from qa.answer.intent import read
from qa.answer.patterns import debris, is_label
from qa.answer.rank import candidates, in_context
from qa.config import Settings
from qa.lexical import tokenize
from qa.schema import Hit, Passage, Span

DIM = 8
QUERY = np.eye(DIM, dtype=np.float32)[0]


def unit(cosine: float, axis: int = 1) -> np.ndarray:
    """A unit vector whose cosine with QUERY is ``cosine``."""
    vector = np.zeros(DIM, dtype=np.float32)
    vector[0] = cosine
    vector[axis] = math.sqrt(max(0.0, 1 - cosine**2))
    return vector


class ByCosine:
    """A stand-in for the fitted decision: P is the sentence's cosine (read in context); it
    abstains under 0.3, every named check vetoes, and a runner-up within half the best's P is
    quoted. Composition is tested apart from the model."""

    threshold, vetoes, manifest, runner_up_share, reader, gate = 0.3, tuple(CHECKS), {}, 0.5, None, None

    def scores(self, intent, cands, features) -> np.ndarray:
        return np.array([c.cosine for c in cands])

    def keys(self, p, features) -> np.ndarray:
        return p

    def confidence(self, intent, ranked) -> float:
        return ranked[0].score


class Corpus:
    """Hand-made passages with a chosen cosine for every sentence: the answer stage's evidence."""

    def __init__(self):
        self.hits: list[Hit] = []
        self.vectors: dict[int, np.ndarray] = {}

    def add(self, source: str, sentences: list[tuple[str, float]], *, score: float = 1.0, title: str = "",
            quotes: list[str] | None = None) -> Passage:
        """``quotes``: the raw characters behind each sentence, where markup makes them differ."""
        quotes = quotes or [text for text, _ in sentences]
        spans, cursor = [], 10  # offsets need not start at zero
        for quote in quotes:
            spans.append(Span(cursor, cursor + len(quote)))
            cursor += len(quote) + 1
        passage = Passage(
            id=len(self.hits), source=source, title=title or f"Title of {source}", start=spans[0].start,
            end=spans[-1].end, sentences=tuple(spans), texts=tuple(t for t, _ in sentences), quotes=tuple(quotes),
        )
        self.hits.append(Hit(passage=passage, score=score, dense=score, lexical=0.0))
        self.vectors[passage.id] = np.stack([unit(c, axis=1 + i % (DIM - 1)) for i, (_, c) in enumerate(sentences)])
        return passage

        self.names = None  # an embedder of short names, for the stand-in check

    def document_terms(self, source: str) -> frozenset[str]:
        texts = [h.passage.text for h in self.hits if h.passage.source == source]
        return frozenset(t for tokens in tokenize(texts) for t in tokens)

    def sentence_vectors_of(self, passage: Passage) -> np.ndarray:
        return self.vectors[passage.id]

    def sentence_tokens(self, passage: Passage) -> list[list[str]]:
        return tokenize(list(passage.texts))

    def idf(self, term: str) -> float:
        return 1.0

    def path_of(self, source: str) -> str:
        return f"/docs/{source}"

    def name_vectors(self, names: list[str]) -> np.ndarray:
        """The test's embedder, or every name unrelated to every other."""
        return self.names(names) if self.names else np.eye(len(names), dtype=np.float32)

    def answer(self, question: str, settings: Settings | None = None, focus_vector: np.ndarray | None = None,
               name_vectors=None, decision=None):
        self.names = name_vectors
        return compose(question, self.hits, self, query_vector=QUERY, settings=settings or Settings(),
                       focus_vector=focus_vector, decision=decision or ByCosine())


def body(text: str) -> str:
    """The reply without its list of sources."""
    return text.split("\nSources:")[0]


def test_picks_the_sentence_that_answers_not_the_first():
    corpus = Corpus()
    corpus.add("uji.txt", [
        ("Uji is a small town south of Kyoto.", 0.2),
        ("Good sencha needs water at seventy degrees.", 0.95),
        ("The shops close early on Sundays.", 0.1),
    ])
    answer = corpus.answer("What water temperature does good sencha need?")
    assert not answer.abstained
    assert answer.sentences[0] == "Good sencha needs water at seventy degrees."
    assert "Uji is a small town south of Kyoto." not in answer.sentences
    first = answer.citations[0]
    passage = corpus.hits[0].passage
    assert (first.start, first.end) == (passage.sentences[1].start, passage.sentences[1].end)
    assert (first.source, first.path, first.passage_id) == ("uji.txt", "/docs/uji.txt", passage.id)
    assert first.quote == answer.sentences[0]


def test_a_later_passage_can_hold_the_answer():
    corpus = Corpus()
    corpus.add("a.txt", [("Kyoto is an old capital with many temples.", 0.3)], score=1.0)
    corpus.add("b.txt", [("A chasen bamboo whisk has about eighty prongs.", 0.9)], score=0.8)
    answer = corpus.answer("How many prongs does a bamboo whisk have?")
    assert answer.citations[0].source == "b.txt"


def test_near_duplicates_are_dropped():
    corpus = Corpus()
    original = "Kyoto tea houses open only in spring for the blossom season."
    near_copy = "Kyoto tea houses open only in spring for the blossom season visitors."
    distinct = "Tea houses in Kyoto open in spring because farmers pick fresh leaves and tourists arrive by train."
    corpus.add("a.txt", [(original, 0.9)])
    corpus.add("b.txt", [(near_copy, 0.9)])
    corpus.add("c.txt", [(distinct, 0.9)])
    answer = corpus.answer("When do Kyoto tea houses open?", Settings(max_sentences=3))
    assert original in answer.sentences
    assert distinct in answer.sentences
    assert near_copy not in answer.sentences
    assert "b.txt" not in {c.source for c in answer.citations}


def test_a_heading_beside_the_answer_is_not_quoted():
    corpus = Corpus()
    corpus.add("rules.html", [
        ("Ownership rules", 0.8),  # lifted toward its strong neighbour, close to the best
        ("Each value in Rust has exactly one owner at a time.", 0.9),
        ("A value is dropped when its owner goes out of scope.", 0.88),
    ])
    answer = corpus.answer("What are the ownership rules?")
    assert answer.sentences == (
        "Each value in Rust has exactly one owner at a time.", "A value is dropped when its owner goes out of scope.",
    )


def test_a_sentence_ending_in_a_colon_brings_what_it_introduces():
    corpus = Corpus()
    rules = ["Each value has one owner.", "There is one owner at a time.", "Out of scope, a value is dropped.",
             "A fourth rule would be one too many."]
    corpus.add("rules.html", [("Keep these ownership rules in mind:", 0.95), *[(rule, 0.1) for rule in rules]])
    answer = corpus.answer("Which ownership rules should I keep in mind?")
    assert answer.sentences == ("Keep these ownership rules in mind:", *rules[:3])  # max_sentences of them
    assert [c.start for c in answer.citations] == [s.start for s in corpus.hits[0].passage.sentences[:4]]


def test_what_a_colon_introduces_must_fit_the_word_budget():
    corpus = Corpus()
    long = "Each value has one owner, " + "and so on " * 30 + "until the end."
    corpus.add("rules.html", [("Keep these ownership rules in mind:", 0.95), ("There is one owner at a time.", 0.1),
                              (long, 0.1)])
    answer = corpus.answer("Which ownership rules should I keep in mind?", Settings(max_words=40))
    # Two sentences always fit; the third would take the reply past 40 words.
    assert answer.sentences == ("Keep these ownership rules in mind:", "There is one owner at a time.")


def test_a_sentence_before_first_brings_the_list_it_announces():
    corpus = Corpus()
    corpus.add("tea.txt", [
        ("Sencha is hard to brew for several reasons.", 0.95),
        ("First, the water must be cooler than boiling.", 0.1),
        ("Secondly, the leaves steep for one minute only.", 0.1),
        ("Tea shops sell many kinds of cups and pots.", 0.1),
    ])
    answer = corpus.answer("Why is sencha hard to brew?")
    assert answer.sentences == (
        "Sencha is hard to brew for several reasons.", "First, the water must be cooler than boiling.",
        "Secondly, the leaves steep for one minute only.",
    )
    # Without "First", the next sentence is just a weak neighbour.
    plain = Corpus()
    plain.add("tea.txt", [("Sencha is hard to brew for several reasons.", 0.95),
                          ("The water must be cooler than boiling.", 0.1)])
    assert plain.answer("Why is sencha hard to brew?").sentences == ("Sencha is hard to brew for several reasons.",)


def test_a_question_in_the_text_brings_its_answer_up_to_the_next_question():
    corpus = Corpus()
    corpus.add("faq.txt", [
        ("Is sencha bitter?", 0.95),
        ("Only when it is brewed too hot.", 0.1),
        ("Water at seventy degrees keeps it sweet.", 0.1),
        ("Is matcha sweet?", 0.3),
        ("Matcha tastes of grass and umami.", 0.1),
    ])
    answer = corpus.answer("Is sencha a bitter tea?")
    assert answer.sentences == (
        "Is sencha bitter?", "Only when it is brewed too hot.", "Water at seventy degrees keeps it sweet.",
    )


def test_asked_why_a_sentence_that_states_an_effect_comes_after_its_cause():
    corpus = Corpus()
    corpus.add("kettles.txt", [
        ("Cast iron holds heat far longer than steel.", 0.4),
        ("As a result, Morioka kettles keep water hot for an hour.", 0.95),
        ("Morioka is a city in Iwate.", 0.1),
    ])
    why = corpus.answer("Why do Morioka kettles keep water hot for an hour?")
    assert why.sentences[:2] == ("Cast iron holds heat far longer than steel.",
                                 "As a result, Morioka kettles keep water hot for an hour.")
    how_long = corpus.answer("How long do Morioka kettles keep water hot?")
    assert how_long.sentences[0] == "As a result, Morioka kettles keep water hot for an hour."
    assert "Cast iron holds heat far longer than steel." not in how_long.sentences


def test_a_cause_that_opens_with_and_brings_the_cause_before_it():
    corpus = Corpus()
    corpus.add("kettles.txt", [
        ("Morioka is a city in Iwate.", 0.1),
        ("Its kettles are cast in thick iron.", 0.3),
        ("And their lids fit tightly.", 0.3),
        ("As a result, Morioka kettles keep water hot for an hour.", 0.95),
    ])
    why = corpus.answer("Why do Morioka kettles keep water hot for an hour?")
    assert why.sentences[:3] == ("Its kettles are cast in thick iron.", "And their lids fit tightly.",
                                 "As a result, Morioka kettles keep water hot for an hour.")
    assert "Morioka is a city in Iwate." not in why.sentences


def test_asked_why_a_sentence_brings_the_reason_that_follows_it():
    corpus = Corpus()
    corpus.add("kettles.txt", [
        ("Morioka kettles keep water hot for an hour.", 0.95),
        ("Why?", 0.1),
        ("Because cast iron holds heat far longer than steel.", 0.3),
        ("Morioka is a city in Iwate.", 0.1),
    ])
    why = corpus.answer("Why do Morioka kettles keep water hot for an hour?")
    assert why.sentences == ("Morioka kettles keep water hot for an hour.", "Why?",
                             "Because cast iron holds heat far longer than steel.")
    how_long = corpus.answer("How long do Morioka kettles keep water hot?")
    assert "Because cast iron holds heat far longer than steel." not in how_long.sentences


def test_a_dateline_answers_when_it_was_published():
    corpus = Corpus()
    corpus.add("post.html", [
        ("Tea in Uji", 0.5),  # a heading
        ("Wednesday, October 29, 2008", 0.45),  # the post's dateline
        ("We visited tea farms near Uji this autumn and tasted new sencha.", 0.35),
    ])
    when = corpus.answer("When was the post about Uji tea farms published?")
    assert when.sentences[0] == "Wednesday, October 29, 2008"
    assert "Tea in Uji" not in when.sentences  # a heading beside the answer adds nothing


def test_a_source_line_can_answer_which_source():
    corpus = Corpus()
    corpus.add("sns.html", [
        ("SNS users in Japan will grow to 63 million by 2015.", 0.45),
        ("(Source: ICT Research & Consulting)", 0.5),
    ])
    source = corpus.answer("Which research firm is the source of the SNS figures for Japan?")
    assert source.sentences[0] == "(Source: ICT Research & Consulting)"


def post(corpus: Corpus, source: str, date: str, title: str, byline: str, body: str, *, cosine: float = 0.9) -> None:
    corpus.add(source, [(date, 0.1), (title, cosine), (byline, 0.1), (body, cosine - 0.1),
                        ("Posted by a reader | June 1, 2011", 0.2)])  # a comment below the post


def test_who_wrote_and_when_published_lead_with_the_byline_and_dateline_of_that_post():
    corpus = Corpus()
    post(corpus, "uji.html", "September 07, 2009", "Tea farms of Uji welcome visitors", "By Aiko Tanaka",
         "Most farms near Uji offer tastings on weekends.")
    post(corpus, "kyoto.html", "May 2, 2010", "Temples of Kyoto", "Posted by Ken Mori",
         "Kinkaku-ji is covered in gold leaf.", cosine=0.3)
    who = corpus.answer("Who wrote the post about visiting the tea farms of Uji?")
    assert who.sentences[0] == "By Aiko Tanaka"
    assert {c.source for c in who.citations} == {"uji.html"}  # not the other post's byline
    assert corpus.answer("Who contributed the post about the tea farms of Uji?").sentences[0] == "By Aiko Tanaka"
    when = corpus.answer("When was the post about the tea farms of Uji published?")
    assert when.sentences[0] == "September 07, 2009"
    assert when.citations[0].source == "uji.html"
    year = corpus.answer("In what year did the post about the tea farms of Uji appear?")
    assert year.sentences[0] == "September 07, 2009"
    # A question about the content, even one that names the author, gets the content.
    what = corpus.answer("What do the tea farms of Uji offer, according to the author?")
    assert "By Aiko Tanaka" not in what.sentences and "September 07, 2009" not in what.sentences


def test_who_wrote_a_post_posted_by_an_account_brings_the_writer_it_credits():
    corpus = Corpus()
    corpus.add("line.html", [("Posted by QEQ Intern | 08.02.13", 0.2), ("LINE is popular for texting in Japan.", 0.9),
                             ("— contributed by Chizuru Misawa, marketing intern", 0.1),
                             ("Posted by a reader | June 1, 2013", 0.2)])  # a comment below the post
    who = corpus.answer("Who wrote the post about LINE on the QEQ blog?")
    assert who.sentences[:2] == ("Posted by QEQ Intern | 08.02.13", "— contributed by Chizuru Misawa, marketing intern")
    assert "Posted by a reader | June 1, 2013" not in who.sentences


def test_identical_sentences_in_two_sources_are_both_cited():
    corpus = Corpus()
    shared = "Kyoto tea houses open only in spring for the blossom season."
    corpus.add("a.txt", [("Many visitors come by train.", 0.1), (shared, 0.9)])
    corpus.add("b.txt", [(shared, 0.9)])
    answer = corpus.answer("When do Kyoto tea houses open?", Settings(max_sentences=1))
    assert answer.sentences == (shared,)
    assert sorted(c.source for c in answer.citations) == ["a.txt", "b.txt"]
    assert all(c.quote == shared for c in answer.citations)
    assert body(answer.text).rstrip().endswith("[1][2]")


def equally_good(corpus: Corpus, n: int) -> list[str]:
    """``n`` distinct sentences that answer equally well, one per passage."""
    extras = [
        "green sweets with bean paste", "roasted rice crackers and pickles", "warm tofu on lacquer trays",
        "seasonal fruit from Uji farms", "chestnut cakes in autumn boxes", "cold noodles during hot summers",
        "miso soup beside grilled fish",
    ]
    texts = [f"Kyoto tea houses serve {extra}." for extra in extras[:n]]
    for i, text in enumerate(texts):
        corpus.add(f"{i}.txt", [(text, 0.9)])
    return texts


@pytest.mark.parametrize("max_sentences", [1, 2, 3])
def test_at_most_max_sentences(max_sentences):
    corpus = Corpus()
    texts = equally_good(corpus, 7)
    answer = corpus.answer("What do Kyoto tea houses serve?", Settings(max_sentences=max_sentences))
    assert len(answer.sentences) == max_sentences
    assert set(answer.sentences) <= set(texts)


@pytest.mark.parametrize("max_sentences", [1, 2, 3])
def test_why_questions_get_one_more(max_sentences):
    corpus = Corpus()
    equally_good(corpus, 7)
    answer = corpus.answer("Why do Kyoto tea houses serve food?", Settings(max_sentences=max_sentences))
    assert len(answer.sentences) == max_sentences + 1


def test_a_third_sentence_only_fits_within_the_word_budget():
    corpus = Corpus()
    texts = equally_good(corpus, 3)
    question = "What do Kyoto tea houses serve?"
    words = sum(len(t.split()) for t in texts)
    assert len(corpus.answer(question, Settings(max_sentences=3, max_words=words)).sentences) == 3
    two = corpus.answer(question, Settings(max_sentences=3, max_words=words - 1)).sentences
    assert len(two) == 2  # the first two always fit, whatever their length


def test_two_sentences_fit_whatever_the_word_budget():
    corpus = Corpus()
    equally_good(corpus, 3)
    assert len(corpus.answer("What do Kyoto tea houses serve?", Settings(max_sentences=3, max_words=1)).sentences) == 2


def test_weak_evidence_abstains_and_lists_the_closest_passages():
    corpus = Corpus()
    corpus.add("matcha.md", [("Matcha is whisked, not steeped.", 0.05)], title="Matcha notes")
    corpus.add("kettle.txt", [("Cast iron kettles keep water hot.", 0.02)], title="Kettles")
    answer = corpus.answer("Who won the football world cup?")
    assert answer.abstained
    assert answer.citations == () and answer.sentences == ()
    assert answer.confidence < ByCosine.threshold
    assert "do not answer" in answer.text
    for needle in ("Matcha notes", "matcha.md", "Kettles", "kettle.txt", "Matcha is whisked"):
        assert needle in answer.text
    assert "[1]" in answer.text and "[2]" in answer.text


def test_a_sentence_about_another_name_does_not_answer():
    corpus = Corpus()
    corpus.add("survey.txt", [("In 2010, Regus found 30% of Japanese firms won customers online.", 0.9)])
    question = "What share of Korean firms won customers online, according to Regus?"
    assert not corpus.answer(question).abstained  # by meaning and words alone, it would answer
    kinds = {"Korean": [0.8, 0.6, 0.0, 0.0], "Japanese": [0.8, 0.0, 0.6, 0.0], "Regus": [0.0, 0.0, 0.0, 1.0]}

    def same_kind(texts):  # "Korean" and "Japanese" as two countries: cosine 0.64
        return np.array([kinds[t] for t in texts], dtype=np.float32)

    answer = corpus.answer(question, name_vectors=same_kind)
    assert answer.abstained and answer.sentences == ()
    assert "names Japanese; its source never mentions Korean" in answer.text


def test_a_sentence_without_a_number_does_not_answer_how_many():
    corpus = Corpus()
    corpus.add("kettles.txt", [("Morioka kettle makers sell kettles across Japan.", 0.95)])
    assert not corpus.answer("Where do Morioka kettle makers sell kettles?").abstained
    answer = corpus.answer("How many kettles do Morioka kettle makers sell?")
    assert answer.abstained and answer.sentences == ()
    assert answer.note == "The question asks for an amount; the closest sentence holds none."
    assert answer.note in answer.text
    spent = corpus.answer("How much did Morioka kettle makers spend on selling kettles?")
    assert spent.abstained and spent.note == "The question asks for a sum; the closest sentence holds none."
    counted = Corpus()
    counted.add("kettles.txt", [("Morioka kettle makers sell twelve thousand kettles a year.", 0.95)])
    assert not counted.answer("How many kettles do Morioka kettle makers sell?").abstained


@pytest.mark.parametrize(("question", "text", "lacks"), [
    ("How many kettles are sold?", "Kettles sell well.", True),
    ("How many kettles are sold?", "Some 12,000 kettles are sold.", False),
    ("How many kettles were sold in 1868?", "The shop opened in 1868.", True),  # the question's own number
    ("How many kettles were sold in 1868?", "In 1868, 12,000 kettles were sold.", False),
    ("How many kettles were sold in 1868?", "In 1868 the shop sold 1,868 kettles.", False),
    ("How many members does each voter choose?", "Voters choose one member.", False),
    ("How old was the president?", "A woman in her thirties had risen to president.", False),
    ("In what year was the fort built?", "A fort was built against attack.", True),
    ("How much did Coca-Cola spend on ads?", "Coca-Cola tried mobile ads.", True),
    ("How much did Coca-Cola spend on ads?", "Coca-Cola tried mobile ads for two days.", True),  # no sum
    ("How much did Coca-Cola spend on ads?", "Coca-Cola spent $2 million on mobile ads.", False),
    ("What is LinkedIn's share price?", "LinkedIn trades at 40 dollars.", False),
    ("How much does it cost to enter the parliament?", "Entry to the parliament is free.", False),
    ("What is the population of Seoul?", "Korea has an active online population.", True),
    ("How much success did the expedition find?", "The expedition was a disaster.", False),
    ("When did the war end?", "It ended after the treaty.", False),
    ("Why did the war end?", "It ended after the treaty.", False),
])
def test_lacks_amount(question, text, lacks):
    assert lacks_amount(read(question), text) is lacks


@pytest.mark.parametrize(("question", "text", "lacks"), [
    ("When was the tea house founded?", "The tea house serves matcha.", True),
    ("When was the tea house founded?", "The tea house was founded in 1868.", False),
    ("When was the tea house founded?", "It was founded in May.", False),
    ("When was the tea house founded?", "Its marketing is decidedly novel.", True),  # no "Mar", "Dec" or "Nov"
    ("When was the tea house founded?", "It was founded after the war.", False),
    ("When is the tea house busiest?", "It is busiest in spring.", False),
    ("When the tea house opened, what did it serve?", "It served matcha.", False),  # not a "when" question
    ("Why was the tea house founded?", "It serves matcha.", False),
])
def test_lacks_time(question, text, lacks):
    assert lacks_time(read(question), text) is lacks


def test_a_sentence_without_a_time_does_not_answer_when():
    corpus = Corpus()
    corpus.add("uji.txt", [("The Uji tea house was founded by a merchant family.", 0.95)])
    assert not corpus.answer("Who founded the Uji tea house?").abstained
    answer = corpus.answer("When was the Uji tea house founded?")
    assert answer.abstained and answer.note == "The question asks when; the closest sentence names no time."


def test_a_sentence_from_a_text_that_never_mentions_the_asked_name_does_not_answer():
    corpus = Corpus()
    corpus.add("facebook.txt", [("There are currently around two million Facebook users in Japan.", 0.95)])
    assert not corpus.answer("How many Facebook users are there in Japan?").abstained
    answer = corpus.answer("How many users does CyWorld have?")
    assert answer.abstained and answer.sentences == ()
    assert answer.note == "The closest sentence comes from a text that never mentions CyWorld."


def test_a_sentence_about_the_same_role_of_another_name_does_not_answer():
    corpus = Corpus()
    corpus.add("tmh.txt", [("Noriyuki Ikeda, CEO of Tribal Media House, expects more Japanese users.", 0.9),
                           ("Mixi is to open its account setup this summer.", 0.1)])
    assert not corpus.answer("Who is the CEO of Tribal Media House?").abstained
    answer = corpus.answer("Who is the CEO of Mixi?")
    assert answer.abstained
    assert answer.note == "The closest sentence is about the CEO of Tribal Media House, not of Mixi."


def test_no_hits_abstains():
    answer = Corpus().answer("Anything at all?")
    assert answer.abstained and answer.citations == ()
    assert "do not answer" in answer.text


def test_the_abstention_threshold_comes_from_settings():
    corpus = Corpus()
    corpus.add("uji.txt", [("Good sencha needs water at seventy degrees.", 0.95)])
    question = "What water temperature does good sencha need?"
    assert not corpus.answer(question).abstained
    assert corpus.answer(question, Settings(abstain_below=10.0)).abstained
    weak = Corpus()
    weak.add("matcha.md", [("Matcha is whisked, not steeped.", 0.05)])
    assert not weak.answer("Who won the football world cup?", Settings(abstain_below=-10.0)).abstained


class Gated(ByCosine):
    """``ByCosine`` with a gate that answers when the reader's best logit is above 0, and a reader
    that reads a fixed logit for every sentence (counting its calls)."""

    def __init__(self, logit: float):
        from qa.answer.decide import Gate, Trees

        split = Trees(feature=np.array([[1, -1, -1]], np.int32), threshold=np.zeros((1, 3)),
                      left=np.array([[1, 0, 0]], np.int32), right=np.array([[2, 0, 0]], np.int32),
                      value=np.array([[0.0, -1.0, 1.0]]), depth=1)  # -1 at a reading up to 0, +1 above
        self.gate = Gate(split, threshold=0.0, unread=1e6)
        outer = self

        class Reader:
            top, calls = 3, 0

            def logits(self, question, texts):
                Reader.calls += 1
                return np.full(len(texts), outer.logit)

            def reorder(self, question, ranked, reading=None):
                return ranked

        self.logit, self.reader = logit, Reader()


def test_the_gate_decides_whether_to_answer_unless_a_threshold_is_set():
    corpus = Corpus()
    corpus.add("uji.txt", [("Good sencha needs water at seventy degrees.", 0.95)])
    question = "What water temperature does good sencha need?"
    yes, no = Gated(2.0), Gated(-2.0)
    answered, refused = corpus.answer(question, decision=yes), corpus.answer(question, decision=no)
    assert not answered.abstained and answered.gate is True and answered.to_dict()["gate"] is True
    assert refused.abstained and refused.gate is False and refused.confidence == answered.confidence  # P as before
    assert yes.reader.calls == no.reader.calls == 1  # read once, for the gate and the reply's order alike
    assert not corpus.answer(question, Settings(abstain_below=0.3), decision=Gated(-2.0)).abstained  # P's threshold
    assert corpus.answer(question, Settings(reader=False), decision=Gated(2.0)).gate is None  # no reader, no gate


def test_citation_numbers_follow_marker_order():
    corpus = Corpus()
    first = "Kyoto tea houses serve green sweets with bean paste."
    second = "Kyoto tea houses serve roasted rice crackers and pickles."
    corpus.add("a.txt", [(first, 0.95)])
    corpus.add("b.txt", [(second, 0.9)])
    corpus.add("c.txt", [(second, 0.9)])  # a twin: the second sentence gets two numbers
    answer = corpus.answer("What do Kyoto tea houses serve?", Settings(max_sentences=2))
    assert answer.sentences == (first, second)
    numbers = [int(n) for n in re.findall(r"\[(\d+)\]", body(answer.text))]
    assert numbers == [1, 2, 3]
    assert [c.n for c in answer.citations] == [1, 2, 3]
    assert [c.quote for c in answer.citations] == [first, second, second]
    assert body(answer.text).index("[1]") < body(answer.text).index(second)
    assert answer.markers == ((1,), (2, 3))


def test_render_lists_every_source():
    corpus = Corpus()
    corpus.add("uji.txt", [("Good sencha needs water at seventy degrees.", 0.95)], title="Sencha")
    answer = corpus.answer("What water temperature does good sencha need?")
    assert "[1]" in answer.text
    sources = answer.text.split("\nSources:")[1]
    assert "[1]" in sources and "Sencha" in sources and "uji.txt" in sources
    assert str(answer) == answer.text


def test_quotes_are_sentences_of_the_hits():
    corpus = Corpus()
    texts = equally_good(corpus, 4)
    corpus.add("x.txt", [("Unrelated words about the weather.", 0.1), (texts[0], 0.9)])
    answer = corpus.answer("What do Kyoto tea houses serve?")
    by_passage = {h.passage.id: h.passage for h in corpus.hits}
    for c in answer.citations:
        passage = by_passage[c.passage_id]
        i = [(s.start, s.end) for s in passage.sentences].index((c.start, c.end))
        assert passage.quotes[i] == c.quote and passage.texts[i] == c.text


def test_a_sentence_across_markup_reads_as_text_and_cites_the_markup():
    corpus = Corpus()
    shown = "Integer types default to i32 in Rust."
    raw = "Integer types default to <code>i32</code> in Rust."
    corpus.add("book.html", [(shown, 0.9)], quotes=[raw])
    answer = corpus.answer("What do integer types default to in Rust?")
    assert answer.sentences == (shown,)
    assert body(answer.text).startswith(shown + " [1]")
    (citation,) = answer.citations
    assert citation.quote == raw and citation.text == shown
    assert citation.end - citation.start == len(raw)


def test_answer_carries_its_evidence():
    corpus = Corpus()
    corpus.add("uji.txt", [("Good sencha needs water at seventy degrees.", 0.95)])
    answer = corpus.answer("What water temperature does good sencha need?")
    assert answer.passages == tuple(corpus.hits)
    assert answer.question == "What water temperature does good sencha need?"
    assert answer.searched_for == answer.question
    data = answer.to_dict()
    assert data["citations"][0]["quote"] == answer.citations[0].quote
    assert data["abstained"] is False


def test_a_sentence_is_read_with_the_one_before_it():
    vectors = np.eye(3, dtype=np.float32)  # three sentences on three unrelated topics
    mixed = in_context(vectors, 0.3)
    assert np.allclose(mixed[0], vectors[0])  # the first has nothing before it
    assert np.allclose(np.linalg.norm(mixed, axis=1), 1.0)
    assert mixed[1] @ vectors[0] > 0.28 and mixed[1] @ vectors[2] == 0.0  # the one before, not the one after
    assert in_context(vectors, 0.0) is vectors


def test_a_pronoun_sentence_rises_with_the_sentence_before_it():
    corpus = Corpus()
    pronoun = "It's only Facebook that is really struggling to get off the ground."
    rival = "Facebook is struggling everywhere, says a rival."
    corpus.add("sns.txt", [("Mixi and Gree have millions of users in Japan.", 0.8), (pronoun, 0.5)])
    corpus.add("other.txt", [(rival, 0.55)])

    def order(weight: float) -> list[str]:
        found = candidates(read("What is struggling?"), corpus.hits, corpus, query_vector=QUERY, focus_vector=None,
                           settings=Settings(context_weight=weight))
        return [c.text for c in sorted(found, key=lambda c: -c.cosine)]

    assert order(0.0).index(rival) < order(0.0).index(pronoun)
    assert order(0.3).index(pronoun) < order(0.3).index(rival)


def test_the_confidence_is_the_best_sentences_p_and_vetoes_are_named():
    corpus = Corpus()
    corpus.add("kettles.txt", [("Morioka kettle makers sell kettles across Japan.", 0.8)])
    answer = corpus.answer("Where do Morioka kettle makers sell kettles?")
    assert answer.confidence == pytest.approx(answer.citations[0].score) and answer.vetoed_by == ()
    vetoed = corpus.answer("How many kettles do Morioka kettle makers sell?")
    assert vetoed.abstained and vetoed.vetoed_by == ("lacks_amount",)
    assert vetoed.to_dict()["vetoed_by"] == ["lacks_amount"]
    assert vetoed.confidence == pytest.approx(answer.confidence)  # a veto is no penalty on the confidence


def test_the_best_candidates_are_kept_with_their_p_and_features():
    corpus = Corpus()
    corpus.add("kettles.txt", [("Morioka kettles keep water hot.", 0.8), ("Iwate is cold.", 0.2)])
    answer = corpus.answer("How long do Morioka kettles keep water hot?", Settings(abstain_below=0.0))
    assert [c.text for c in answer.considered] == ["Morioka kettles keep water hot.", "Iwate is cold."]
    assert answer.considered[0].p >= answer.considered[1].p
    assert answer.considered[0].features["kind"] == 6  # "amount"
    assert answer.considered[0].features["coverage"] > answer.considered[1].features["coverage"]


def test_a_list_of_links_is_not_quoted():
    texts = ["Beef Recipes", "Chicken Recipes", "Fish Recipes", "Slow-cooked beef needs eight hours at low heat."]
    assert debris(texts) == [True, True, True, False]
    assert debris(["Ownership rules", "Each value has one owner."]) == [False, False]  # a heading alone is no list
    corpus = Corpus()
    corpus.add("blog.html", [(t, 0.9 if "Recipes" in t else 0.4) for t in texts])
    answer = corpus.answer("Which recipes does the blog have?", Settings(abstain_below=0.0))
    assert answer.sentences[0] == texts[3]
    assert all(c.text != "Beef Recipes" for c in answer.considered)


def test_a_label_is_a_short_line_that_does_not_end_as_a_sentence():
    assert is_label("Beef Recipes") and is_label("[citation needed]") and is_label("By Josh Bernoff")
    assert not is_label("thanks for the read!") and not is_label("Ingredients:")
    assert not is_label("京都には二百以上の茶屋があります。")  # one "word", but a sentence
    assert not is_label("It was sold in 2019 for four hundred million dollars")  # more than four words


def test_a_lone_label_is_neither_quoted_nor_the_confidence():
    corpus = Corpus()
    corpus.add("blog.html", [
        ("thanks for the read!", 0.2),
        ("Beef Recipes", 0.9),  # a commenter's name (a link) between two comments
        ("Very interesting, social media in Korea grows fast.", 0.1),
    ])
    alone = Settings(context_weight=0.0)  # each sentence's cosine as given, not lifted by the label before it
    answer = corpus.answer("What is the best beef stew recipe?", alone)
    assert answer.abstained and answer.confidence == pytest.approx(0.2)
    assert all(c.text != "Beef Recipes" for c in answer.considered)
    corpus.add("stew.html", [("Beef stew is best slow-cooked with red wine for eight hours.", 0.5)])
    assert corpus.answer("What is the best beef stew recipe?", alone).sentences[0].startswith("Beef stew is best")


@pytest.mark.parametrize(("question", "kind"), [
    ("How many users does Mixi have?", "amount"), ("Who founded Mixi?", "who"), ("When was Mixi founded?", "when"),
    ("Why is Mixi so powerful?", "why"), ("Where is Gree based?", "where"), ("Which SNS ranks first?", "which"),
    ("What is Mixi?", "what"), ("Name the largest SNS.", "other"),
])
def test_the_intent_names_the_kind_of_question(question, kind):
    assert read(question).kind == kind


@pytest.mark.parametrize("question, kind", [
    ("How many people attended?", "amount"), ("In what year did it open?", "amount"),
    ("Why did it fail?", "why"), ("When was it founded?", "when"), ("Whose idea was it?", "who"),
    ("Where is Seoul?", "where"), ("Which firm won?", "which"), ("How does it work?", "how"),
    ("What is Mixi?", "what"), ("Name the CEO.", "other"), ("how_many users?", "other"),
])
def test_the_kind_of_a_question(question, kind):
    from qa.answer.intent import kind_of

    assert kind_of(question) == kind
