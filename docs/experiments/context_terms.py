"""Experiment (not shipped): tell a term that names the question's document from one that points elsewhere.

People name the file they ask about ("…, according to the Tribal Media House chief?"); on SQuAD,
whose questions were written beside their paragraph, a question term the sentence lacks marks a
wrong sentence, so such questions abstain (held out: answered 0.870 against 0.947 as written,
evaluation.md, 2026-12-01, night). Fitting on copies of SQuAD questions that name their article
won those back only by tolerating every missing term, and refused fewer out-of-corpus and
near-miss questions. What that entry asked for: columns that tell a term of the question's
context from one the sentence should hold. Per candidate, over the question's terms missing from
the sentence and its neighbours (IDF-weighted shares of all the question's terms):

- ``missing_spread``: those the document holds, each weighted by the share of the document's
  passages that hold it (a title or a subject runs through its document);
- ``missing_local``: the same terms weighted by the share that lack it (a term held by one other
  passage points at that passage);
- ``missing_lead``: those the document's first passage holds (its heading, byline, date);
- ``names_spread``: the mean share of the document's passages that hold a question name the
  window lacks (0 when it lacks none);
- ``document_passages``: log of the document's passage count (spread means little in a short one).

Gathers what ``qa train`` gathers (seed 0) and, as in the experiment of 2026-12-01, every list of
questions asked again, 30 % of them, naming their article ("…, according to the article about
Warsaw?", seven forms, by its title or one of its twelve most frequent names). Then fits P's
trees on ``qa train``'s folds of whole articles: (A) today: as written, ``FEATURES``; (B) with the
naming copies, ``FEATURES``; (C) with the copies and the five columns. Each is judged held out
on the questions as written and on the naming copies, at its own threshold (``qa train``'s rule,
on the rows it was fitted on), and at the threshold where it refuses 0.92 of the out-of-corpus
questions as written (the issue's bar), which puts the three on one footing.

    python docs/experiments/context_terms.py [--rows FILE.pkl] [--articles N]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rows import kept, load_or_gather, print_table  # noqa: E402

from qa.answer.features import FEATURES  # noqa: E402

EXTRA = ("missing_spread", "missing_local", "missing_lead", "names_spread", "document_passages")
CONTEXT_SHARE = 0.3  # of every list of questions, asked again naming their article
# How a question names its article (from commit 4783380): "{q}" the question without its mark,
# "{lq}" the same with a lower-case first letter, "{c}" a phrase of the article, "{d}" a word for it.
FORMS = ("{q}, according to the {d} about {c}?", "{q}, according to the {d} on {c}?", "{q} in the {d} about {c}?",
         "{q}, per the {d} on {c}?", "{q}, as the {d} about {c} says?", "In the {d} about {c}, {lq}?",
         "According to the {d} on {c}, {lq}?")
DOCUMENT_WORDS = ("article", "text", "post", "page", "document", "piece", "report")
CONTEXT_NAMES = 12
OUT_OF_CORPUS_BAR = 0.92


# -- the naming copies ---------------------------------------------------------------------------

def context_phrases(data: dict, tag: str) -> dict[str, list[str]]:
    """Per article key: its title and its most frequent names (not words the article also writes
    in lower case), the phrases a question can name it by."""
    from qa.answer.names import names

    out = {}
    for a, article in enumerate(data["data"]):
        title = re.sub(r"\s*\(.*?\)", "", article.get("title", "").replace("_", " ")).strip()
        text = " ".join(p["context"] for p in article["paragraphs"])
        lower = set(re.findall(r"\b[a-z]+\b", text))
        sentences = (s for p in article["paragraphs"] for s in re.split(r"(?<=[.!?;:])\s+|\n+", p["context"]))
        counts = Counter(n for s in sentences for n in names(s) if len(n) > 2 and n.lower() not in lower)
        frequent = [n for n, _ in counts.most_common(CONTEXT_NAMES)]
        out[f"{tag}/{a:03d}"] = list(dict.fromkeys(([title] if title else []) + frequent))
    return out


def naming(asked: list, phrases: dict[str, list[str]], rng: random.Random) -> list:
    """``CONTEXT_SHARE`` of ``asked``, every kind alike, asked again naming their own article by a
    phrase the question does not hold already; their answers and kind stay."""
    from qa.answer.names import names

    out = []
    for q in asked:
        if rng.random() >= CONTEXT_SHARE:
            continue
        choices = [c for c in phrases.get(q.article, ()) if c.lower() not in q.question.lower()]
        if not choices:
            continue
        c = choices[0] if rng.random() < 0.3 else rng.choice(choices)
        body = q.question.strip().rstrip("?. ").strip()
        lead = body.split(" ", 1)[0]
        keep = lead.isupper() or lead in names(body[len(lead):]) or any(lead in p for p in phrases[q.article])
        lq = body if keep else body[:1].lower() + body[1:]
        text = rng.choice(FORMS).format(q=body, lq=lq, c=c, d=rng.choice(DOCUMENT_WORDS))
        out.append(replace(q, id=f"{q.id}-ctx", question=text))
    return out


# -- the columns ---------------------------------------------------------------------------------

_documents: dict[tuple[int, str], tuple[list[frozenset], Counter]] = {}


def _document(index, source: str) -> tuple[list[frozenset], Counter]:
    """A document's passages' term sets and, per term, how many of its passages hold it."""
    key = (id(index), source)
    if key not in _documents:
        from qa.lexical import tokenize

        first, end = index.sources.get(source, (0, 0))
        sets = [frozenset(t) for t in tokenize([p.text for p in index.passages[first:end]])]
        _documents[key] = (sets, Counter(t for s in sets for t in s))
    return _documents[key]


def extra(intent, cands, evidence) -> np.ndarray:
    from qa.lexical import tokenize

    if not cands:
        return np.zeros((0, len(EXTRA)), np.float32)
    terms = sorted(intent.terms)
    idf = {t: evidence.idf(t) for t in terms}
    total = sum(idf.values()) or 1.0
    name_terms = [frozenset(t) for t in tokenize(list(intent.names))] if intent.names else []
    by_passage: dict[int, list] = {}
    for c in cands:
        by_passage.setdefault(c.hit.passage.id, []).append(c)
    rows = []
    for c in cands:
        passages, counts = _document(evidence.index, c.hit.passage.source)
        n = max(len(passages), 1)
        near = [o for o in by_passage[c.hit.passage.id] if abs(o.position - c.position) == 1]
        window = set(c.words).union(*(o.words for o in near))
        missing = [t for t in terms if t not in window]
        spread = sum(idf[t] * counts[t] / n for t in missing) / total
        local = sum(idf[t] * (1 - counts[t] / n) for t in missing if counts[t]) / total
        lead = sum(idf[t] for t in missing if passages and t in passages[0]) / total
        lacking = [s for s in name_terms if s and not s <= window]
        names_spread = (sum(sum(s <= p for p in passages) / n for s in lacking) / len(lacking)) if lacking else 0.0
        rows.append([spread, local, lead, names_spread, math.log(n)])
    return np.asarray(rows, np.float32)


# -- gathering and judging -----------------------------------------------------------------------

def gather(out: Path, articles: int | None = None) -> list[dict]:
    return gather_with(out, lambda intent, cands, evidence, article: extra(intent, cands, evidence), len(EXTRA),
                       articles)


def gather_with(out: Path, columns, width: int, articles: int | None = None) -> list[dict]:
    """What ``qa train`` gathers (seed 0), each list of questions as written and then its naming
    copies, with ``columns(intent, cands, evidence, article)``'s ``width`` columns beside ``FEATURES``
    (``article``: the key of the question's own article); kept at ``out``."""
    import qa.answer.compose as compose
    import qa.training.examples as examples
    from qa.training import train

    files = [train.SHARED_DATA / n for n in train.DATA]
    phrases: dict[str, list[str]] = {}
    for i, path in enumerate(files):
        phrases.update(context_phrases(json.loads(path.read_text(encoding="utf-8")), tag=f"f{i}"))
    plain_featurize, plain_collect = compose.featurize, examples.collect
    rng = random.Random(train.SEED + 200)
    article_of: dict[str, str] = {}

    def featurize(intent, cands, evidence):
        more = columns(intent, cands, evidence, article_of.get(intent.question))
        return np.hstack([plain_featurize(intent, cands, evidence), more])

    def collect(engine, asked, *, kind=None):  # each list as written, then its naming copies
        copies = naming(asked, phrases, rng)
        article_of.update({q.question: q.article for q in asked + copies})
        return plain_collect(engine, asked, kind=kind) + plain_collect(engine, copies, kind=kind)

    compose.featurize, examples.collect = featurize, collect
    try:
        rows = train.gather(files, articles=articles, seed=train.SEED)
    finally:
        compose.featurize, examples.collect = plain_featurize, plain_collect
    return kept(rows, len(FEATURES) + width, out)


def oof(rows: list[dict], columns: list[int], with_copies: bool, suffix: str = "-ctx",
        params: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold P over every candidate (``qa train``'s folds of whole articles), the trees fitted
    on the feature ``columns`` with ``qa train``'s parameters (and ``params`` over them), with or
    without the copies (ids ending in ``suffix``)."""
    import lightgbm
    from sklearn.model_selection import GroupKFold

    from qa.training import train

    x, y, q = train._matrix(rows)
    x = x[:, columns]
    copy = np.array([r["id"].endswith(suffix) for r in rows])[q]
    groups = np.array([rows[i]["article"] for i in q])
    p = np.zeros(len(y))
    for fit, test in GroupKFold(n_splits=train.FOLDS).split(x, y, groups):
        if not with_copies:
            fit = fit[~copy[fit]]
        booster = lightgbm.train({**train.PARAMS, **(params or {}), "seed": train.SEED},
                                 lightgbm.Dataset(x[fit], y[fit].astype(int)), train.ROUNDS)
        p[test] = booster.predict(x[test])
    return p, q


def judge(rows: list[dict], p: np.ndarray, q: np.ndarray, with_copies: bool, suffix: str = "-ctx") -> dict:
    """Held-out outcomes of one model on the questions as written, on their lowest quarter by
    coverage (the answerable ones whose answer sentence holds least of their terms: SQuAD's own
    rewordings) and on the copies (ids ending in ``suffix``): at the model's own threshold (``qa
    train``'s rule on the rows it was fitted on; vetoes left out) and at the bar."""
    from sklearn.metrics import roc_auc_score

    from qa.training.judge import choose_threshold, questions

    outcome = questions(rows, q, p)
    copy = [r["id"].endswith(suffix) for r in rows]
    written = [o for o, c in zip(outcome, copy) if not c]
    named = [o for o, c in zip(outcome, copy) if c]
    coverage = FEATURES.index("coverage")
    gold = {i: float(r["features"][r["labels"], coverage].max()) for i, r in enumerate(rows)
            if not copy[i] and r["kind"] == "answerable" and r["labels"].any()}
    low = [outcome[i] for i in sorted(gold, key=gold.get)[:len(gold) // 4]]
    threshold = choose_threshold(outcome if with_copies else written)
    ooc = sorted(o["p"] for o in written if o["kind"] == "out_of_corpus")
    at_bar = ooc[math.ceil(OUT_OF_CORPUS_BAR * len(ooc)) - 1] + 1e-9  # refuses >= 0.92 of them

    def share(flags) -> float:
        return round(float(np.mean(list(flags))), 4)

    def part(these: list[dict], cut: float) -> dict:
        answerable = [o for o in these if o["kind"] == "answerable"]
        row = {"answerable answered": share(o["p"] >= cut for o in answerable),
               "right and answered": share(o["right"] and o["p"] >= cut for o in answerable)}
        for kind in ("out_of_corpus", "near_miss", "unanswerable"):
            row[f"{kind} abstained"] = share(o["p"] < cut for o in these if o["kind"] == kind)
        return row

    out = {"threshold": round(threshold, 4), "at the bar": round(at_bar, 4)}
    for name, these in (("as written", written), ("copies", named)):
        answerable = [o for o in these if o["kind"] == "answerable"]
        out[f"{name}: questions"] = len(these)
        out[f"{name}: sentence@1"] = share(o["right"] for o in answerable)
        for kind in ("unanswerable", "out_of_corpus", "near_miss"):
            neg = [o for o in these if o["kind"] == kind]
            pos = [o for o in answerable if kind != "unanswerable" or o["file"] in {n["file"] for n in neg}]
            out[f"{name}: AUROC {kind}"] = round(float(roc_auc_score(
                [1] * len(pos) + [0] * len(neg), [o["p"] for o in pos + neg])), 4)
        for cut, label in ((threshold, "own threshold"), (at_bar, "at the bar")):
            out.update({f"{name}, {label}: {k}": v for k, v in part(these, cut).items()})
    out[f"lowest quarter ({len(low)}): sentence@1"] = share(o["right"] for o in low)
    for cut, label in ((threshold, "own threshold"), (at_bar, "at the bar")):
        out[f"lowest quarter, {label}: answered; right and answered"] = (
            f"{share(o['p'] >= cut for o in low)}; {share(o['right'] and o['p'] >= cut for o in low)}")
    return out


def compare(rows: list[dict], runs: dict[str, tuple[list[int], bool]], suffix: str = "-ctx") -> None:
    """Fit and judge each run (its name: the feature columns, and whether the fit takes the copies,
    ids ending in ``suffix``), then print their table side by side."""
    results = {}
    for name, (columns, with_copies) in runs.items():
        p, q = oof(rows, columns, with_copies, suffix)
        results[name] = judge(rows, p, q, with_copies, suffix)
        print(name, "done", file=sys.stderr, flush=True)
    print_table(results)


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, default=Path("context_terms_rows.pkl"))
    parser.add_argument("--articles", type=int, help="only the first N articles of each file (a quick run)")
    args = parser.parse_args()
    rows = load_or_gather(args.rows, gather, args.articles)
    n = len(FEATURES)
    compare(rows, {"(A) as written, FEATURES": (list(range(n)), False), "(B) + naming copies": (list(range(n)), True),
                   "(C) + copies + context columns": (list(range(n + len(EXTRA))), True)})


if __name__ == "__main__":
    main()
