"""Text: the small string helpers every layer shares (one line, clipped, undecodable characters)."""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def one_line(text: str) -> str:
    """``text`` with every run of white space (line breaks too) made one space."""
    return " ".join(text.split())


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to at most ``limit`` characters with "…" when it is longer."""
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def excerpt(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters."""
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def replace_undecodable(text: str) -> str:
    """``text`` with lone surrogates made U+FFFD.

    Undecodable bytes reach us as lone surrogates (argv's surrogateescape, JSON ``"\\udcff"``);
    they cannot be encoded as UTF-8, so tokenizers, loggers and the browser all reject them.
    """
    return _SURROGATE.sub("\ufffd", text)
