"""Questions about the SQuAD articles worded the way users word them: how the decision does on them
held out, and whether fitting on them helps.

SQuAD's questions were written beside their paragraph, in its words; the project's questions
paraphrase, describe a name instead of giving it, and name the document they half remember. Every
model fitted on SQuAD alone learned that a question term missing from a sentence marks a wrong
one (README here). ``qa/training/user_worded.jsonl`` holds 2,048 questions about the 32 articles of
``../shared/data``, written in two rounds (2026-12-04 and 2026-12-05) by eight helper sessions each,
four articles a session, from ``user_worded_prompt.md``; they were told to read only the articles
(not the code, not the project's questions; the second round also the first round's questions of
its articles, so as not to repeat them). Per article and round: 24 answerable questions, each with
its paragraph and an answer span copied from it, and 8 that the article does not answer; about a third each "plain"
(paraphrased), "described" (a person, place or thing described instead of named) and "sourced"
("…, according to the article on …"). The articles and the answer spans copied from them are
SQuAD's (CC BY-SA 4.0, Rajpurkar et al., 2016 and 2018); the questions are ours, under the same
licence. All 1,536 spans stand in their paragraphs; one that did not
would be dropped when read (``qa.training.examples.user_worded``). ``qa train`` now judges every
fit on them held out (never fitting on them) and writes the table to the manifest.

Gathers them as ``qa train`` does (``train.user_worded_rows``): asked of their own file's index
(answerable or unanswerable) and the answerable ones also of the other file's (out-of-corpus);
ids end in ``-user``. Then fits P's trees on ``qa train``'s four folds of whole articles, (A) on ``qa
train``'s rows alone, as shipped, and (B) with the user-worded rows of the fitting articles too,
and judges both on the held-out articles (``context_terms.judge``): the questions as written and
the user-worded ones apart, and those by style. ``--near NEAR.pkl`` adds their near misses
(``train.user_worded_near_rows``: one name, number or year of an answerable one swapped for one
the article never mentions), judged in every run, and a run (B') whose P fits on them too (what
``qa train --fit-user-worded`` does). ``--also ROWS.pkl`` adds a run (C) whose P also
fits on other rows, never judged (``same_topic_negatives.py``'s, say). ``--question-level``
instead judges ``question_level.py``'s question models on them (P's trees never fit on them; run
(F)'s question model does), each at the threshold ``qa train``'s rule sets on the questions as
written. ``--variants`` instead fits P's trees with columns left out or with smaller trees.

    python docs/experiments/user_worded.py --rows ROWS.pkl [--user USER.pkl] [--near NEAR.pkl]
        [--also SAME.pkl] [--question-level | --variants]
    python docs/experiments/user_worded.py --sources FOLDER    # the articles, one file each, for the helpers
    python docs/experiments/user_worded.py --assemble FOLDER...  # the helpers' files, a round each -> user_worded.jsonl

``ROWS.pkl``: rows gathered as ``qa train`` gathers them (``train.gather``, kept by ``rows.kept``);
``USER.pkl``: where the user-worded rows are kept (gathered when missing). Gathering and fitting
took 1 min 35 s with the articles' indexes already cached, 1 min 25 s with ``--also`` and the
rows kept; ``--question-level`` 1 min 9 s; ``--variants`` 2 min; ``--near`` 1 min 47 s, gathering
the 624 near misses.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from context_terms import judge, oof  # noqa: E402
from rows import kept, load_or_gather, print_table  # noqa: E402

from qa.answer.features import FEATURES  # noqa: E402
from qa.training.examples import USER_WORDED, USER_WORDED_SUFFIX, user_worded_lines  # noqa: E402
from qa.training.judge import questions  # noqa: E402

SUFFIX = USER_WORDED_SUFFIX
NEAR = "-near" + SUFFIX  # ids of the user-worded near misses (--near), user-worded questions too


def sources(folder: Path) -> None:
    """One file an article for the helpers (``v2_03.txt``: the 2.0 half's article 3): its title,
    then each paragraph numbered ``[pN]``."""
    from qa.training import train

    folder.mkdir(parents=True, exist_ok=True)
    for tag, name in zip(("v2", "v1"), train.DATA):
        data = json.loads((train.SHARED_DATA / name).read_text(encoding="utf-8"))
        for a, article in enumerate(data["data"]):
            text = f"# {article['title'].replace('_', ' ')}\n\n" + "".join(
                f"[p{j}] {p['context']}\n\n" for j, p in enumerate(article["paragraphs"]))
            (folder / f"{tag}_{a:02d}.txt").write_text(text, encoding="utf-8")


def assemble(folders: list[Path]) -> None:
    """Join the helpers' files (``v2_03.jsonl``: the 2.0 half's article 3; ``v1_…``: the 1.1 file's)
    into ``USER_WORDED``, each line given its article key (as ``qa train``'s: ``f0/003``) and an id
    numbered within its article, the folders' files read in the order given (each round's
    questions after the rounds before, so that their ids stay)."""
    lines = []
    for path in sorted(folders[0].glob("v[12]_*.jsonl")):
        file = {"v2": "f0", "v1": "f1"}[path.stem[:2]]
        article = f"{file}/{int(path.stem[3:]):03d}"
        texts = [t for folder in folders for t in (folder / path.name).read_text(encoding="utf-8").splitlines()]
        for n, text in enumerate(t for t in texts if t.strip()):
            line = json.loads(text)
            answerable = line.get("answerable", True) is not False
            lines.append({"id": f"{article.replace('/', '-')}-{n:02d}", "article": article,
                          "question": line["question"], "answerable": answerable,
                          **({"paragraph": line["paragraph"], "answer": line["answer"]} if answerable else {}),
                          "kind": line.get("kind"), "style": line.get("style")})
    USER_WORDED.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    print(f"{len(lines)} questions from {', '.join(map(str, folders))} written to {USER_WORDED}", file=sys.stderr)


def gather(out: Path) -> list[dict]:
    """The user-worded rows as ``qa train`` gathers them (``train.user_worded_rows``), kept at ``out``."""
    from qa.training import train

    sets = train._indexed([train.SHARED_DATA / n for n in train.DATA], None)
    return kept(train.user_worded_rows(sets), len(FEATURES), out)


def gather_near(out: Path) -> list[dict]:
    """The near misses of the user-worded answerable questions as ``qa train`` gathers them
    (``train.user_worded_near_rows``: one name, number or year swapped for one the article never
    mentions, every one that has something to swap), kept at ``out``; ids end in ``NEAR``."""
    from qa.training import train

    sets = train._indexed([train.SHARED_DATA / n for n in train.DATA], None)
    return kept(train.user_worded_near_rows(sets, seed=train.SEED), len(FEATURES), out)


def question_level(rows: list[dict], user: np.ndarray) -> dict[str, dict]:
    """``question_level.py``'s question models (its P's trees never fit on the user-worded rows; its
    run (F)'s question model does), each at the threshold ``qa train``'s rule sets on the questions as
    written and at the bar, judged on those and on the user-worded ones apart."""
    from question_level import OUT_OF_CORPUS_BAR, stacked

    from qa.training.judge import choose_threshold

    p, q, scores = stacked(rows, user)
    outcome = questions(rows, q, p)
    runs = {"(A) best P (shipped)": np.array([o["p"] for o in outcome]), **scores}
    results = {}
    for name, score in runs.items():
        these = [{**o, "p": float(s)} for o, s in zip(outcome, score)]
        written = [o for o, u in zip(these, user) if not u]
        ooc = sorted(o["p"] for o in written if o["kind"] == "out_of_corpus")
        cuts = {"own threshold": choose_threshold(written),
                "at the bar": ooc[math.ceil(OUT_OF_CORPUS_BAR * len(ooc)) - 1] + 1e-9}
        results[name] = row = {}
        for label, cut in cuts.items():
            for part, mine in (("as written", written), ("user-worded", [o for o, u in zip(these, user) if u])):
                row.update(shares(f"{part}, {label}", mine, lambda o, cut=cut: o["p"] >= cut))
    return results


def shares(label: str, outcome: list[dict], answered) -> dict:
    """The share of ``outcome``'s answerable questions ``answered`` (and right), and of each kind of
    negative not, each keyed ``label: …``."""
    answerable = [o for o in outcome if o["kind"] == "answerable"]
    out = {f"{label}: answerable answered": share([answered(o) for o in answerable]),
           f"{label}: right and answered": share([o["right"] and answered(o) for o in answerable])}
    for kind in ("unanswerable", "out_of_corpus", "near_miss"):
        negative = [not answered(o) for o in outcome if o["kind"] == kind]
        if negative:
            out[f"{label}: {kind} abstained"] = share(negative)
    return out


def vetoed(rows: list[dict], outcome: list[dict], threshold: float) -> dict:
    """As ``ask()`` decides: at ``threshold``, with the checks ``qa train``'s rule keeps as vetoes
    (``choose_vetoes`` on the questions as written), the shares for both kinds of question
    (``outcome``: the run's ``judge.questions``)."""
    from qa.training.judge import _answered, choose_vetoes

    user = [r["id"].endswith(SUFFIX) for r in rows]
    vetoes = choose_vetoes([o for o, u in zip(outcome, user) if not u], threshold)
    out = {"with vetoes: vetoes": ", ".join(vetoes)}
    for part, flag in (("as written", False), ("user-worded", True)):
        out.update(shares(f"{part}, with vetoes", [o for o, u in zip(outcome, user) if u == flag],
                          lambda o: _answered(o, threshold, vetoes)))
    return out


def variants(rows: list[dict]) -> dict[str, dict]:
    """P's trees with columns left out or smaller trees, judged as ``ask()`` decides, on both sets:
    is the shipped fit tied to SQuAD's wording in a way a leaner one is not?"""
    every = list(range(len(FEATURES)))

    def without(*prefixes: str) -> list[int]:
        return [c for c in every if not FEATURES[c].startswith(prefixes)]

    runs = {"(A) as shipped": (every, None), "(V1) no check_ columns": (without("check_"), None),
            "(V2) no question-size columns": (without("question_terms", "question_names", "question_numbers"), None),
            "(V3) no gap or best_ columns": (without("cosine_gap", "coverage_gap", "best_"), None),
            "(V4) smaller trees (7 leaves, 200 rows a leaf)": (every, {"num_leaves": 7, "min_data_in_leaf": 200})}
    results = {}
    for name, (columns, params) in runs.items():
        p, q = oof(rows, columns, False, SUFFIX, params)
        judged = judge(rows, p, q, False, SUFFIX)
        decided = vetoed(rows, questions(rows, q, p), judged["threshold"])
        results[name] = {"threshold": judged["threshold"], "as written: sentence@1": judged["as written: sentence@1"],
                         "user-worded: sentence@1": judged["copies: sentence@1"],
                         "user-worded: AUROC unanswerable": judged["copies: AUROC unanswerable"],
                         **{k: v for k, v in decided.items() if k != "with vetoes: vetoes"}}
        print(name, "done", file=sys.stderr, flush=True)
    return results


def share(flags: list[bool]) -> float:
    return round(float(np.mean(flags)), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, help="rows gathered as qa train gathers them")
    parser.add_argument("--user", type=Path, default=Path("user_worded_rows.pkl"))
    parser.add_argument("--also", type=Path, help="rows P's trees also fit on in a run (C), never judged (e.g. "
                                                  "same_topic_negatives.py's same-topic rows)")
    parser.add_argument("--near", type=Path, help="where the user-worded near misses are kept (gathered when "
                                                  "missing): judged in every run, fitted on in a run (B')")
    parser.add_argument("--question-level", action="store_true",
                        help="judge question_level.py's question models on the user-worded rows instead")
    parser.add_argument("--variants", action="store_true",
                        help="P's trees with columns left out or smaller, judged on both sets, instead")
    parser.add_argument("--sources", type=Path, help="write the articles for the helpers into this folder")
    parser.add_argument("--assemble", type=Path, nargs="+",
                        help="write user_worded.jsonl from the helpers' files in these folders, one a round")
    args = parser.parse_args()
    if args.sources:
        return sources(args.sources)
    if args.assemble:
        return assemble(args.assemble)
    if not args.rows:
        parser.error("--rows is required")
    plain = pickle.loads(args.rows.read_bytes())
    user = load_or_gather(args.user, gather)
    n = len(FEATURES)
    print(f"{len(plain)} questions as written, {len(user)} user-worded rows", file=sys.stderr)
    rows = plain + user
    if args.question_level:
        return print_table(question_level(rows, np.array([r["id"].endswith(SUFFIX) for r in rows])))
    if args.variants:
        return print_table(variants(rows))
    style = styles()
    if args.near:
        rows += load_or_gather(args.near, gather_near)
    # Each run: its rows, and which of them its fit leaves out (ids ending so); judged on all of rows.
    runs = {"(A) qa train's rows (shipped)": (rows, SUFFIX), "(B) + the user-worded rows": (rows, NEAR)}
    if args.near:
        runs["(B') + the user-worded rows and their near misses"] = (rows, None)
    if args.also:
        also = pickle.loads(args.also.read_bytes())
        runs["(C) + the rows of --also, not the user-worded ones"] = (rows + also, SUFFIX)
    results = {}
    for name, (these, leave_out) in runs.items():
        p, q = oof(these, list(range(n)), leave_out is None, leave_out or SUFFIX)
        p, q = p[q < len(rows)], q[q < len(rows)]  # judged on the same questions in every run
        with_user = leave_out != SUFFIX  # the run's threshold is set on the user-worded rows too
        judged = judge(rows, p, q, with_user, SUFFIX)
        outcome = questions(rows, q, p)
        results[name] = {k.replace("copies", "user-worded"): v for k, v in judged.items()
                         if args.near or not ("copies" in k and "near_miss" in k)}  # none made without --near
        results[name].update(by_style(rows, outcome, style, results[name]))
        results[name].update(vetoed(rows, outcome, judged["threshold"]))
        print(name, "done", file=sys.stderr, flush=True)
    print_table(results)


def styles() -> dict[str, str]:
    """Each user-worded question's style (plain, described, sourced), by its row id."""
    return {f"{x['id']}{SUFFIX}": x["style"] for x in user_worded_lines()}


def by_style(rows: list[dict], outcome: list[dict], style: dict[str, str], judged: dict) -> dict:
    """The user-worded answerable questions' answered and right shares by style (``outcome``: the run's
    ``judge.questions``), at the run's own threshold and at the bar (both from ``judged``)."""
    out = {}
    for kind in ("plain", "described", "sourced"):
        mine = [o for o, r in zip(outcome, rows) if r["kind"] == "answerable" and style.get(r["id"]) == kind]
        for label in ("threshold", "at the bar"):
            out.update(shares(f"user-worded {kind} ({len(mine)}), {label}", mine,
                              lambda o, cut=judged[label]: o["p"] >= cut))
    return out


if __name__ == "__main__":
    main()
