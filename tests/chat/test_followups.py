"""Follow-up questions: which ones lean on the last, and what they search for."""

import pytest

from qa.chat.followups import is_follow_up, key_terms, search_query


@pytest.mark.parametrize("question", [
    "and in Korea?", "But why?", "What about China?", "how about Mixi", "Why is that?",
    "How many users does it have?", "Korea?", "Is this true there?", "What's that?", "In Korea?",
])
def test_follow_ups_are_recognised(question):
    assert is_follow_up(question)


@pytest.mark.parametrize("question", [
    "What is KISA responsible for?",
    "Which SNS ranks first among Japanese users?",
    "Did Japanese companies that used social media see higher profits?",  # a relative "that"
    "Who won the 2010 FIFA World Cup?",
    "What's Mixi?", "Who’s Josh?", "What is Mixi?",  # short, but whole questions
    "",
])
def test_questions_that_stand_alone_are_not_follow_ups(question):
    assert not is_follow_up(question)


def test_a_follow_up_searches_with_the_previous_subject():
    # A name in the follow-up takes the place of the earlier one's; an acronym ("SNS") is a term.
    assert search_query("and in Korea?", ["Which SNS ranks first among Japanese users?"]) == \
        "SNS ranks first users and in Korea?"
    assert search_query("and why?", ["Which SNS ranks first among Japanese users?"]) == \
        "SNS ranks first Japanese users and why?"
    assert search_query("  why is that? ", ["x", "Why are Japanese companies behind?"]) == \
        "Japanese companies behind why is that?"


def test_a_standalone_question_or_a_first_question_is_searched_as_asked():
    assert search_query("What is KISA responsible for?", ["What is Mixi?"]) == "What is KISA responsible for?"
    assert search_query("and in Korea?", []) == "and in Korea?"


def test_terms_the_follow_up_already_has_are_not_repeated():
    assert search_query("what about Mixi users?", ["How many users does Mixi have?"]) == "what about Mixi users?"


def test_key_terms_drop_fillers_and_duplicates_and_are_capped():
    assert key_terms("What did the Regus survey say about the survey of managers?") == ["Regus", "survey", "managers"]
    assert len(key_terms(" ".join(f"word{i}" for i in range(30)))) == 8


def test_a_chain_of_follow_ups_keeps_the_first_subject():
    first = "What is KISA responsible for?"
    second = search_query("and when was it founded?", [first])
    third = search_query("why?", [first, second])
    assert "KISA" in second and "KISA" in third and third.endswith("why?")
