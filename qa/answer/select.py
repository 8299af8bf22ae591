"""Select: which ranked sentences a reply quotes, and in what order."""

from __future__ import annotations

import re

from qa.answer.intent import ASKS_WHY, Intent
from qa.answer.patterns import DATE
from qa.answer.rank import Candidate
from qa.config import Settings

# "By Josh Bernoff", "Posted by QEQ Intern | 08.02.13", "— contributed by Chizuru Misawa".
_BYLINE = re.compile(r"^\W*(?i:((posted|written|contributed|published) )?by)\s+[A-Z]|^\W*(?i:author)\s*:")
BYLINE_WORDS = 12  # a byline or dateline is a short line of its own
# Who wrote a post, as its end may say: "— contributed by Chizuru Misawa" (not a comment's "Posted by").
_WRITER = re.compile(r"^\W*(?i:(written|contributed|authored) by)\s+[A-Z]")
# A sentence opening with one of these gives the reason for what the sentence before it says.
_BECAUSE = re.compile(r"\W*((this|that|it)(['’]s| is| was) )?(because|the reason)\b", re.IGNORECASE)
# A sentence opening with one of these adds to what the sentence before it says.
_ADDS = re.compile(r"\W*(and|also|plus|besides|moreover|furthermore|in addition|what['’]s more)\b", re.IGNORECASE)
# A sentence opening with one of these states an effect of what the sentence before it says.
_RESULT = re.compile(r"\W*(as a result|therefore|thus|hence|consequently|so|for this reason|because of this"
                     r"|(that|this)(['’]s| is) why)\b", re.IGNORECASE)


def select(intent: Intent, candidates: list[Candidate], *, settings: Settings,
           credits: list[Candidate] | None = None, runner_up_share: float = 0.5) -> list[Candidate]:
    """The best sentence, plus close runners-up that add something new.

    A runner-up is one whose P is at least ``runner_up_share`` of the best's (fitted with the
    model, see ``qa.training.judge.choose_runner_up``). Two sentences always fit; a third (a fourth
    for "why" and list questions) only while the reply stays within ``settings.max_words``: a close runner-up often
    holds the fact, but a reply should still read at a glance. Headings are left out
    beside a better sentence. A sentence that introduces a list or asks a question
    brings its items or its answer next (see ``_introduced``), up to
    ``settings.max_sentences`` of them, under the same word budget. ``credits`` (see
    ``credit_lines``) lead the reply to a question about who wrote a post or when. Asked
    why, a sentence that states an effect ("As a result, ...") comes after its cause, and one
    followed by its reason ("Because ...") brings it (see ``_reason``).
    """
    limit = settings.max_sentences + (1 if intent.wants_more else 0)
    asks_why = intent.asks_why
    best = candidates[0]
    by_span = {(c.hit.passage.id, c.span.start): c for c in candidates}
    chosen: list[Candidate] = []
    length = 0

    def fits(cand: Candidate) -> bool:
        return len(chosen) < 2 or length + len(cand.text.split()) <= settings.max_words

    def take(items: list[Candidate]) -> None:
        """Quote ``items`` in order, up to the first already quoted or over the word budget."""
        nonlocal length
        for item in items:
            if item in chosen or not fits(item):
                break
            chosen.append(item)
            length += len(item.text.split())

    for cand in candidates:
        if chosen and (len(chosen) >= limit or cand.score < best.score * runner_up_share):
            break
        if cand in chosen or not fits(cand):
            continue
        if chosen and (cand.fragment or any(_jaccard(cand.words, other.words) > 0.6 for other in chosen)):
            continue  # a heading beside the answer, or a near-duplicate, adds nothing
        # "... personal purposes at work. And job-hopping isn't common." before "As a result, ..."
        take(_causes(cand, by_span) if asks_why else [])
        chosen.append(cand)
        length += len(cand.text.split())
        # "Mixi resists search engines." before "Why? Because it's the guardian ..."
        take(_reason(cand, by_span) if asks_why else [])
        take(_introduced(cand, by_span, most=settings.max_sentences))
    return _credit_first(chosen, credits)


def _credit_first(chosen: list[Candidate], credits: list[Candidate] | None) -> list[Candidate]:
    """For "Who wrote ...?" the byline, for "When was ... published?" the dateline, first.

    Such a question describes a post ("the post about consumers in Japan and Korea"), so
    its best sentence is the post's title or a line of its text; the answer is a short
    line of the same document, "By Josh Bernoff" or "September 07, 2009", which shares no
    words with the question. It leads the reply; the sentence that names the post follows.
    A post posted by an account ("Posted by QEQ Intern") may name its writer further down
    ("— contributed by Chizuru Misawa"): that line comes second.
    """
    if not credits:
        return chosen
    lead = credits[:1]  # the post's own, not a comment's further down
    if _BYLINE.search(lead[0].text):  # a byline, not a dateline: the writer it credits comes second
        lead += [c for c in credits[1:] if _WRITER.match(c.text)][:1]
    return [*lead, *(c for c in chosen if c not in lead)]


def credit_lines(intent: Intent, best: Candidate, candidates: list[Candidate]) -> list[Candidate] | None:
    """The bylines (for "Who wrote ...?") or datelines (for "When was ... published?") of the
    ``best`` sentence's document among ``candidates``, in document order; ``None`` when the
    question asks neither who wrote something nor when it appeared."""
    if intent.asks_author:
        wanted = _BYLINE.search
    elif intent.asks_published:
        wanted = DATE.search
    else:
        return None
    source = best.hit.passage.source
    lines = [c for c in candidates
             if c.hit.passage.source == source and len(c.text.split()) <= BYLINE_WORDS and wanted(c.text)]
    return sorted(lines, key=lambda c: c.span.start)


# A sentence opening with one of these starts a list that the sentence before announced
# ("Japanese companies are behind for several reasons. First, ...").
_FIRST_ITEM = re.compile(r"(first(ly)?|first of all|to (begin|start) with|1[.)])[\s,:]", re.IGNORECASE)
_NEXT_ITEM = re.compile(r"(second(ly)?|third(ly)?|fourth(ly)?|next|finally|lastly|[2-9][.)])[\s,:]", re.IGNORECASE)


def _introduced(cand: Candidate, by_span: dict, *, most: int) -> list[Candidate]:
    """The sentences that ``cand`` introduces, in order, at most ``most`` of them.

    "Keep these rules in mind:" says nothing without the rules that follow, "We are
    behind for several reasons." nothing without "First, ...", and a question in the
    text ("Is zlib thread-safe?") nothing without its answer: they often score lower
    for sharing fewer of the question's words. After a colon, the next sentences are
    the items; after a question, the sentences up to the next question; otherwise, a
    next sentence that opens with "First" begins a list that runs on while sentences
    open with "Second", "Finally" and the like.
    """
    items: list[Candidate] = []
    end = cand.text.rstrip()[-1:]
    for follower in _after(cand, by_span, most):
        opens_item = _FIRST_ITEM if not items else _NEXT_ITEM
        if follower is None or not (end in ":?" or opens_item.match(follower.text)):
            break
        if end == "?" and follower.text.rstrip().endswith("?"):
            break  # the next question: this one's answer, if any, is over
        items.append(follower)
    return items


def _causes(cand: Candidate, by_span: dict) -> list[Candidate]:
    """The sentences before ``cand`` when ``cand`` states their effect ("As a result, ...", "That's why ...").

    Asked "Why haven't work-based social activities caught on?", the best sentence is often
    the one that repeats the question's words, "As a result, work-based social activities
    just haven't caught on"; the reason is the sentence before it, "And job-hopping isn't
    common", and, as its "And" says, the one before that: "people are discouraged from using
    the Internet for personal purposes at work."
    """
    if not _RESULT.match(cand.text):
        return []
    causes: list[Candidate] = []
    for before in _before(cand, by_span, 2):
        if before is None or before.fragment:
            break
        causes.insert(0, before)
        if not _ADDS.match(before.text):
            break
    return causes


def _reason(cand: Candidate, by_span: dict) -> list[Candidate]:
    """The sentences after ``cand`` that give its reason: "Because ...", or "Why?" and "Because ...".

    Asked "Why is Mixi unwilling to let search engines in?", the best sentence repeats the
    question's words, "Mixi resists search engines with a passion"; the reason follows it.
    """
    after = _after(cand, by_span, 2)
    if after and after[0] is not None and _BECAUSE.match(after[0].text):
        return after[:1]
    if (len(after) == 2 and None not in after and _BECAUSE.match(after[1].text)
            and ASKS_WHY.search(after[0].text) and after[0].text.rstrip().endswith("?")):
        return after
    return []


def _before(cand: Candidate, by_span: dict, n: int) -> list[Candidate | None]:
    """The (at most) ``n`` sentences before ``cand`` in its passage, nearest first: each one's candidate, or None."""
    spans = cand.hit.passage.sentences
    end = spans.index(cand.span)
    return [by_span.get((cand.hit.passage.id, span.start)) for span in reversed(spans[max(end - n, 0):end])]


def _after(cand: Candidate, by_span: dict, n: int) -> list[Candidate | None]:
    """The (at most) ``n`` sentences after ``cand`` in its passage: each one's candidate, or None."""
    spans = cand.hit.passage.sentences
    start = spans.index(cand.span) + 1
    return [by_span.get((cand.hit.passage.id, span.start)) for span in spans[start:start + n]]


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
