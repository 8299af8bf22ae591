"""Experiment (not shipped): questions whose answer takes two sentences from two documents.

The seed set's "two-source" questions ("…what share of Japanese internet users have a Twitter
account, and what are major Japanese corporations increasingly doing with Twitter?") need a
fact from each of two posts. The decision scores one sentence at a time, so none of them
scores well and the reply abstains or quotes one half. This measures, on SQuAD instead of on
those questions:

1. how today's reply fares on two-source questions made from two answerable SQuAD questions
   of two articles of one file (three wordings: "Q1, and q2?", "Putting two articles together:
   Q1, and q2?", "Q1? And Q2?"), asked open-corpus of the file's index (one document per
   article, as ``qa train`` asks);
2. how often both answer sentences are among the candidates at all;
3. whether a pair model (LightGBM over pairs of the first candidates: their P, their coverage of
   the question's terms and names alone and together, whether they share a document) finds the
   pair, and how often it would fire on the first question asked alone. Fitted on one file's
   questions, judged on the other's: the articles never meet.

4. with ``--second N``: a second search for the part the first candidate leaves uncovered (the
   question's vector with that sentence's direction taken out, hybrid with the question's terms
   the sentence lacks), its first N candidates after the first search's N, and the pair model
   over those 2N.

    python docs/experiments/two_sources.py [--per-file 300] [--passages 5] [--top 10 20]
    python docs/experiments/two_sources.py --second 10 --top 20 [--per-file 1000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
FILES = [REPO.parent / "shared/data/squad-v2.0-dev-half.json", REPO.parent / "shared/data/squad-v1.1-dev-train16.json"]
WORDINGS = [lambda a, b: f"{a.rstrip('?').rstrip()}, and {_lower(b)}",
            lambda a, b: f"Putting two articles together: {a.rstrip('?').rstrip()}, and {_lower(b)}",
            lambda a, b: f"{a} And {b}"]


def _lower(question: str) -> str:
    return question if question[:2].isupper() else question[0].lower() + question[1:]


def ask(engine, decision, settings, question: str, parts, second: int = 0) -> dict:
    """Every candidate of ``question`` with its P, terms and, for each part, whether it holds its answer.

    ``second``: the first ``second`` candidates of the search, then those of the first ``second``
    of a second search for what the best sentence leaves uncovered (``second_search``) not
    already among them (paired out of 20 candidates, the second's first ten with their repeats
    kept out gave a better best pair than its first ten new ones: 0.391 / 0.357 against
    0.448 / 0.397 in a prototype, though they held both answers more often, 0.867 / 0.789)."""
    from qa.answer.compose import rank
    from qa.answer.intent import read
    from qa.lexical import tokenize
    from qa.retrieve import search

    intent = read(question)
    vector, focus_vector = engine.encode_query([question, intent.focus])
    tokens = tokenize([question])[0]

    def ranked(query_vector, query_tokens):  # the reply's order; every candidate weighed against the whole question
        hits = search(engine.index, query_vector, query_tokens, settings=settings, k=settings.answer_passages)
        return [c for c in rank(intent, hits, engine, query_vector=vector, focus_vector=focus_vector,
                                settings=settings, decision=decision) if not c.label]

    found = ranked(vector, tokens)
    if second and found:
        seen = {(c.hit.passage.source, c.span.start) for c in found[:second]}
        again = ranked(*second_search(vector, tokens, found[0]))
        found = found[:second] + [c for c in again[:second] if (c.hit.passage.source, c.span.start) not in seen]
    cands = [{"p": c.score, "source": c.hit.passage.source, "words": c.words, "cosine": c.cosine,
              "labels": [any(c.hit.passage.source == f and c.span.start < e and s < c.span.end for f, s, e in answers)
                         for answers in parts]}
             for c in found]
    return {"idf": {t: engine.idf(t) for t in intent.terms}, "names": intent.names, "cands": cands}


def second_search(vector: np.ndarray, tokens: list[str], best) -> tuple[np.ndarray, list[str]]:
    """The query for what ``best`` (the first sentence) leaves of the question: the question's
    vector with that sentence's direction taken out, and its terms the sentence lacks."""
    rest = vector - float(vector @ best.vector) * best.vector
    rest = (rest / max(float(np.linalg.norm(rest)), 1e-9)).astype(np.float32)
    return rest, [t for t in tokens if t not in best.words] or tokens


def gather(per_file: int, passages: int, second: int = 0) -> list[dict]:
    from qa.answer.decide import MODEL_DIR, load
    from qa.api import Engine
    from qa.config import default_settings
    from qa.embed import Encoder
    from qa.evaluation.run import fresh_index
    from qa.training.examples import squad_questions
    from qa.training.train import _article_corpus

    settings = default_settings().with_(answer_passages=passages)
    encoder, decision = Encoder(settings.model, backend=settings.backend), load(MODEL_DIR)
    rows = []
    for i, path in enumerate(FILES):
        data = json.loads(path.read_text(encoding="utf-8"))
        asked = [q for q in squad_questions(data, tag=f"f{i}")[0] if q.kind == "answerable"]
        docs = _article_corpus(path, data)
        engine = Engine(fresh_index(docs, docs.parent / "index", default_settings(), encoder), encoder, settings)
        rng = random.Random(i)
        for n in range(per_file):
            a, b = rng.sample(asked, 2)
            while a.article == b.article:
                a, b = rng.sample(asked, 2)
            two = ask(engine, decision, settings, WORDINGS[n % len(WORDINGS)](a.question, b.question),
                      [a.answers, b.answers], second)
            rows.append({**two, "kind": "two", "file": i})
            rows.append({**ask(engine, decision, settings, a.question, [a.answers], second), "kind": "one", "file": i})
        print(f"file {i + 1} of {len(FILES)} asked", file=sys.stderr)
    return rows


def _coverage(idf: dict, words) -> float:
    return sum(w for t, w in idf.items() if t in words) / (sum(idf.values()) or 1.0)


def _names(names, words) -> float:
    from qa.answer.names import mentions

    return 1.0 if not names else sum(mentions(n, words) for n in names) / len(names)


def pairs(row: dict, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of every pair of the first ``top`` candidates (label: it holds both answers)."""
    cands = row["cands"][:top]
    cov = [_coverage(row["idf"], c["words"]) for c in cands]
    nam = [_names(row["names"], c["words"]) for c in cands]
    best_p, best_cov = max((c["p"] for c in cands), default=0.0), max(cov, default=0.0)
    x, y = [], []
    for i, j in itertools.combinations(range(len(cands)), 2):
        a, b = cands[i], cands[j]
        both = a["words"] | b["words"]
        cu, nu = _coverage(row["idf"], both), _names(row["names"], both)
        x.append([max(a["p"], b["p"]), min(a["p"], b["p"]), cov[i], cov[j], cu, cu - max(cov[i], cov[j]),
                  nam[i], nam[j], nu, nu - max(nam[i], nam[j]), float(a["source"] == b["source"]),
                  a["cosine"], b["cosine"], i, j, best_p, best_cov, len(row["idf"]), len(row["names"])])
        y.append(row["kind"] == "two" and ((a["labels"][0] and b["labels"][1]) or (a["labels"][1] and b["labels"][0])))
    return np.asarray(x, np.float32).reshape(-1, 19), np.asarray(y, bool)


def judge(rows: list[dict], top: int, threshold: float, share: float) -> None:
    import lightgbm
    from sklearn.metrics import roc_auc_score

    made = [(r, *pairs(r, top)) for r in rows]
    for held in (0, 1):
        fit = [m for m in made if m[0]["file"] != held and len(m[1])]
        model = lightgbm.train({"objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 20,
                                "verbose": -1, "seed": 0},
                               lightgbm.Dataset(np.concatenate([m[1] for m in fit]),
                                                np.concatenate([m[2] for m in fit]).astype(int)), 200)
        two = [m for m in made if m[0]["file"] == held and m[0]["kind"] == "two"]
        one = [m for m in made if m[0]["file"] == held and m[0]["kind"] == "one"]
        best = {"two": [], "one": []}
        right = []
        for kind, group in (("two", two), ("one", one)):
            for _, x, y in group:
                s = model.predict(x) if len(x) else np.zeros(0)
                best[kind].append(float(s.max()) if len(s) else 0.0)
                if kind == "two":
                    right.append(bool(len(s) and y[int(np.argmax(s))]))
        quoted = []  # today's reply: the best, and runner-ups at ``share`` of its P, at most three
        for row, _, _ in two:
            c = row["cands"]
            said = [x for x in c[:3] if c and c[0]["p"] >= threshold and x["p"] >= share * c[0]["p"]]
            quoted.append(any(x["labels"][0] for x in said) and any(x["labels"][1] for x in said))
        auroc = roc_auc_score([1] * len(two) + [0] * len(one), best["two"] + best["one"])
        print(f"held out: file {held + 1} ({len(two)} two-source, {len(one)} one-source questions), top {top}")
        print(f"  today's reply quotes both answers {np.mean(quoted):.3f}")
        print(f"  both answer sentences among the candidates {np.mean([m[2].any() for m in two]):.3f}; "
              f"the pair model's best pair holds both {np.mean(right):.3f}; AUROC two- vs one-source {auroc:.3f}")
        for cut in (0.3, 0.5, 0.7):
            taken, alone = np.array(best["two"]) >= cut, np.array(best["one"]) >= cut
            print(f"  pair score >= {cut}: two-source taken {taken.mean():.3f} "
                  f"(both answers {np.mean(taken & right):.3f}), one-source taken {alone.mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-file", type=int, default=300, help="two-source questions made from each file")
    parser.add_argument("--passages", type=int, default=5, help="passages whose sentences are candidates")
    parser.add_argument("--top", type=int, nargs="+", default=[10, 20], help="candidates paired")
    parser.add_argument("--second", type=int, default=0,
                        help="pair the first N candidates with the first N of a second search for what the best "
                             "sentence leaves uncovered (then --top 2N)")
    args = parser.parse_args()
    from qa.answer.decide import MODEL_DIR, load

    decision = load(MODEL_DIR)
    rows = gather(args.per_file, args.passages, args.second)
    for top in args.top:
        judge(rows, top, decision.threshold, decision.runner_up_share)


if __name__ == "__main__":
    main()
