"""The shared string helpers: one line, clipped, undecodable characters."""

from qa.text import clip, excerpt, one_line, replace_undecodable


def test_one_line_makes_every_run_of_white_space_one_space():
    assert one_line("  a\r\n\tb   c\n") == "a b c"


def test_clip_cuts_to_the_limit_with_an_ellipsis_only_when_longer():
    assert clip("short\ntext", 20) == "short text"
    assert clip("abcdefghij", 10) == "abcdefghij"
    assert clip("abcdefghijk", 10) == "abcdefghi…" and len(clip("abcdefghijk", 10)) == 10


def test_excerpt_cuts_at_a_word_boundary():
    text = "one two three four five"
    assert excerpt(text, 100) == text
    assert excerpt(text, 12) == "one two…"


def test_replace_undecodable_makes_lone_surrogates_replacement_characters():
    assert replace_undecodable("tea \udcff\udcfe ok") == "tea \ufffd\ufffd ok"
    assert replace_undecodable("ok ✓").encode("utf-8") == "ok ✓".encode()
