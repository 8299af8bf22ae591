"""Train: fit the answer decision on SQuAD, judge it on held-out articles, write it with its manifest.

``qa train`` asks every SQuAD question through the real pipeline (``qa.training.examples``), fits
gradient-boosted trees (LightGBM) on P(this candidate sentence answers the question),
cross-validates by article, sets the threshold and the vetoing checks (``qa.training.judge``) on the held-out
predictions only, and writes ``decision.json`` and ``manifest.json``. The same data,
seed and code give the same file. Questions worded as users word them (``examples.USER_WORDED``) are
judged by the same folds, and fitted on with the other folds' articles only with
``--fit-user-worded``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from qa.answer.decide import (
    GATE_FILE,
    MANIFEST_FILE,
    MODEL_DIR,
    MODEL_FILE,
    RANKER_FILE,
    READER_FILE,
    READINGS_FILE,
    Trees,
    digest,
    reply_order,
)
from qa.config import PROJECT_ROOT, default_settings
from qa.swap import replace_file, write_atomically
from qa.training import same_topic
from qa.training.judge import (
    choose_ranker_weight,
    choose_runner_up,
    choose_threshold,
    choose_vetoes,
    heldout,
    out_of_corpus_floor,
    questions,
    sentence_at_1,
    table,
)
from qa.training.manifest import gate_entry, reader_entry, user_worded_entry, write, write_manifest

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
DATA = ("squad-v2.0-dev-half.json", "squad-v1.1-dev-train16.json")
SEED = 0
FOLDS = 4
ROUNDS = 300
PARAMS = {
    "objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 40,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
    "deterministic": True, "force_row_wise": True, "num_threads": 2, "verbose": -1,
}
NEAR_MISS_SHARE = 0.35  # of each file's answerable questions, swapped into near misses
OUT_OF_CORPUS_SHARE = 0.3  # of each file's answerable questions, asked of the other file's index
# The ranker: trees fitted with LambdaRank, one group a question, to order its sentences; the
# reply's order is logit(P) + weight x its score, the weight chosen held out (qa.training.judge).
RANKER_PARAMS = {**PARAMS, "objective": "lambdarank", "lambdarank_truncation_level": 10}


def run(args) -> int:
    """``qa train``: collect examples, cross-validate, fit, write; print the held-out table."""
    if getattr(args, "rechoose_reader", False):
        return rechoose_reader(Path(args.out) if args.out else MODEL_DIR)
    files = [Path(f) for f in args.data] if args.data else [SHARED_DATA / name for name in DATA]
    for f in files:
        if not f.is_file():
            raise ValueError(f"{f} is missing: pass SQuAD files with --data (see README, Training)")
    out = Path(args.out) if args.out else MODEL_DIR
    if getattr(args, "rejudge", False):
        return rejudge(files, out)
    if getattr(args, "gate", False):
        return refit_gate(files, out)
    _check_out(out)  # before hours of work, not after
    sets = _indexed(files, args.articles)
    rows, judged = _gathered(sets, seed=args.seed)
    with_reader = getattr(args, "reader", True)
    watched = same_topic.rows(sets, seed=args.seed) if with_reader else None
    fit_judged = getattr(args, "fit_user_worded", False)
    with_gate = getattr(args, "with_gate", False)
    report = fit_and_judge(rows, seed=args.seed, rounds=args.rounds, judged=judged, fit_judged=fit_judged,
                           watched=watched)
    work = None

    def fill(staging: Path) -> None:
        nonlocal work
        if with_reader:
            report["reader"], work = train_reader(rows, report, staging, seed=args.seed,
                                                  steps=getattr(args, "reader_steps", None))
            report["gate"] = train_gate(rows, report, work, seed=args.seed)
        # The gate is judged on every refit, but answers only when asked for: held out, it has yet to
        # answer as many user-worded questions as P's threshold (docs/evaluation.md, 2026-12-04).
        write(staging, {**report, "gate": report.get("gate") if with_gate else None}, files, rows, seed=args.seed,
              articles=args.articles, params=PARAMS, ranker_params=RANKER_PARAMS, fit_judged=fit_judged)
        _check_out(out)  # nothing else put there while the model was made

    write_atomically(out, fill)  # written beside ``out``, then swapped in whole: a stop leaves the old model
    if work is not None:  # written: nothing left to resume but the folds' readers, kept to read other questions
        for left in work.iterdir():
            if not left.name.endswith(".int8.onnx") or left.name == READER_FILE:
                left.unlink(missing_ok=True)
        print(f"kept each fold's reader in {work}", file=sys.stderr)
    print(table(report["heldout"]))
    print_user_worded(report["judged_heldout"], fit_judged)
    if report.get("reader"):
        held = report["reader"]["heldout"]
        print(f"reader: answer-sentence@1 held out {held['sentence@1_trees']} (trees) -> {held['sentence@1_reread']} "
              f"(re-read; the right one within the top {report['reader']['top']} {held['sentence@1_within_top']}); "
              f"weight {report['reader']['weight']}, margin {report['reader']['margin']}, "
              f"read for {held['share_read_at_margin']} of the answerable questions")
    if report.get("gate"):
        print_gate(report["gate"])
        if not with_gate:
            print("gate: not written (--with-gate names it in the model; `qa train --gate` fits it again)")
    held = report["ranker_heldout"]
    print(f"ranker: answer-sentence@1 held out {held['sentence@1_p']} (by P) -> {held['sentence@1_keys']} "
          f"(logit(P) + weight x its score; weight {report['ranker_weight']}, per fold {report['ranker_per_fold']})")
    print(f"threshold {report['threshold']:.4f}; runner-up share {report['runner_up_share']}; "
          f"vetoes: {', '.join(report['vetoes']) or 'none'}")
    print(f"wrote {out / MODEL_FILE} ({(out / MODEL_FILE).stat().st_size:,} bytes) and {out / MANIFEST_FILE}")
    return 0


def print_user_worded(judged: dict | None, fitted: bool) -> None:
    if judged is None:
        return
    print("held out, the user-worded questions and their near misses (qa/training/user_worded.jsonl; "
          + ("fitted on with the other folds' articles):" if fitted else "never fitted on):"))
    print(table(judged))


MODEL_FILES = (MODEL_FILE, RANKER_FILE, READER_FILE, READINGS_FILE, MANIFEST_FILE)


def _check_out(out: Path) -> None:
    """``qa train`` replaces ``out`` whole: it must be a model folder, an empty one, or not there yet."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file: give --out a folder for the fitted model")
    other = sorted(f.name for f in out.iterdir() if f.name not in MODEL_FILES) if out.is_dir() else []
    if other:
        raise ValueError(f"{out} holds other files than a fitted model ({', '.join(other[:3])}): "
                         "give --out an empty folder or a model folder")


def gather(files: list[Path], *, articles: int | None, seed: int, only: int | None = None) -> list[dict]:
    """Every example row of every file: its own questions, near misses, and out-of-corpus ones
    (``only``: just those asked of the index of file number ``only``)."""
    return _rows(_indexed(files, articles), seed=seed, only=only)


def _gathered(sets: list[tuple], *, seed: int) -> tuple[list[dict], list[dict]]:
    """``gather``'s rows of files already indexed (``_indexed``), and the rows of the user-worded
    questions (``user_worded_rows``) and their near misses (``user_worded_near_rows``), judged held
    out and fitted on only with ``--fit-user-worded``."""
    return _rows(sets, seed=seed), user_worded_rows(sets) + user_worded_near_rows(sets, seed=seed)


def _indexed(files: list[Path], articles: int | None) -> list[tuple]:
    """Per file: its parsed data (cut to ``articles``), its questions, its articles' texts, and an
    engine over an index of its articles."""
    from qa.api import Engine
    from qa.embed import Encoder
    from qa.evaluation.run import fresh_index
    from qa.training.examples import squad_questions

    settings = default_settings()
    encoder = Encoder(settings.model, backend=settings.backend)
    sets = []
    for i, path in enumerate(files):
        data = json.loads(path.read_text(encoding="utf-8"))
        if articles:
            data = {**data, "data": data["data"][:articles]}
            path = _subset(path, data)
        asked, texts = squad_questions(data, tag=f"f{i}")
        docs = _article_corpus(path, data)
        engine = Engine(fresh_index(docs, docs.parent / "index", settings, encoder), encoder, settings)
        sets.append((data, asked, texts, engine))
    return sets


def _rows(sets: list[tuple], *, seed: int, only: int | None = None) -> list[dict]:
    import random

    from qa.training.examples import collect, name_pool, near_misses

    rows = []
    for i, (_, asked, texts, engine) in enumerate(sets):
        if only is not None and i != only:
            continue
        others = _answerable_elsewhere(sets, i)
        pool = name_pool(others)
        near = near_misses(asked, texts, pool, share=NEAR_MISS_SHARE, seed=seed + i)
        rng = random.Random(seed + 100 + i)
        outside = [q for q in others if rng.random() < OUT_OF_CORPUS_SHARE / max(len(sets) - 1, 1)]
        print(f"asking {len(asked)} + {len(near)} near-miss + {len(outside)} out-of-corpus questions of "
              f"index {i + 1} of {len(sets)}", file=sys.stderr)
        rows += collect(engine, asked) + collect(engine, near) + collect(engine, outside, kind="out_of_corpus")
    return rows


def _answerable_elsewhere(sets: list[tuple], i: int) -> list:
    """The answerable SQuAD questions of every file but the ``i``-th: its out-of-corpus questions
    and the pool of names its near misses swap in."""
    return [q for j, (_, asked, _, _) in enumerate(sets) if j != i for q in asked if q.kind == "answerable"]


def user_worded_rows(sets: list[tuple]) -> list[dict]:
    """Rows of ``USER_WORDED``'s questions, asked of their own file's index, and the answerable
    ones also of the other files' (out-of-corpus); for judging only."""
    from qa.training.examples import collect, user_worded, user_worded_lines

    lines = user_worded_lines()
    mine = [user_worded(data, f"f{i}", lines) for i, (data, _, _, _) in enumerate(sets)]
    rows = []
    for i, (_, _, _, engine) in enumerate(sets):
        others = [q for j, theirs in enumerate(mine) if j != i for q in theirs if q.kind == "answerable"]
        print(f"asking {len(mine[i])} user-worded + {len(others)} of them out-of-corpus of index {i + 1} "
              f"of {len(sets)}", file=sys.stderr)
        rows += collect(engine, mine[i]) + collect(engine, others, kind="out_of_corpus")
    return rows


def user_worded_near_rows(sets: list[tuple], *, seed: int) -> list[dict]:
    """Rows of near misses of ``USER_WORDED``'s answerable questions (``examples.user_worded_near``:
    every one with a name, number or year to swap), asked of their own file's index."""
    from qa.training.examples import collect, name_pool, user_worded, user_worded_lines, user_worded_near

    lines = user_worded_lines()
    rows = []
    for i, (data, _, texts, engine) in enumerate(sets):
        pool = name_pool(_answerable_elsewhere(sets, i))
        near = user_worded_near(user_worded(data, f"f{i}", lines), texts, pool, seed=seed + 300 + i)
        print(f"asking {len(near)} near misses of the user-worded questions of index {i + 1} of {len(sets)}",
              file=sys.stderr)
        rows += collect(engine, near)
    return rows


def _article_corpus(path: Path, data: dict) -> Path:
    """The folder of one file per article of a SQuAD file (see ``qa.training.examples.article_files``), written once."""
    from qa.config import cache_root
    from qa.training.examples import article_files, write_articles

    return write_articles(cache_root() / f"squad-articles-{digest(path)[:12]}" / "docs", article_files(data))


def _subset(path: Path, data: dict) -> Path:
    """A SQuAD file of the first articles only, for quick runs (CI trains on two of each file)."""
    from qa.config import cache_root

    out = cache_root() / "train-subsets" / f"{path.stem}-{len(data['data'])}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data)
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
    return out


def _matrix(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and each row's question number, for the rows that have candidates."""
    x = [r["features"] for r in rows if len(r["features"])]
    y = [r["labels"] for r in rows if len(r["features"])]
    q = [np.full(len(r["features"]), i) for i, r in enumerate(rows) if len(r["features"])]
    return np.concatenate(x), np.concatenate(y), np.concatenate(q)


def _fit(x: np.ndarray, y: np.ndarray, *, seed: int, rounds: int):
    import lightgbm

    return lightgbm.train({**PARAMS, "seed": seed}, lightgbm.Dataset(x, y.astype(int)), rounds)


def _fit_ranker(x: np.ndarray, y: np.ndarray, q: np.ndarray, *, seed: int, rounds: int):
    """LambdaRank trees over ``x`` (a question's candidates contiguous, as ``_matrix`` gives them)."""
    import lightgbm

    data = lightgbm.Dataset(x, y.astype(int))
    data.set_group(np.unique(q, return_counts=True)[1])  # q rises, so the counts come in row order
    return lightgbm.train({**RANKER_PARAMS, "seed": seed}, data, rounds)


def _check_export(mine, lightgbm_s, x: np.ndarray) -> None:
    gap = float(np.max(np.abs(mine(x[:2000]) - lightgbm_s(x[:2000]))))
    if gap > 1e-6:
        raise RuntimeError(f"the exported trees differ from LightGBM's by {gap}: a bug in qa.answer.decide.Trees")


def fit_and_judge(rows: list[dict], *, seed: int, rounds: int = ROUNDS, judged: list[dict] | None = None,
                  fit_judged: bool = False, watched: list[dict] | None = None) -> dict:
    """Out-of-fold P for every candidate (folds of whole articles), the held-out metrics of the
    learned and the baseline decisions, the threshold and vetoes set on them, and the final model.
    ``judged``: rows each judged by the fold that holds its article out, and fitted on by the
    trees and ranker of the other folds and the final fit only if ``fit_judged``. The folds, the
    threshold, the vetoes and the reader's examples come from ``rows`` alone either way. ``watched``:
    rows read held out the same way and never fitted on (the same-topic ones, for the gate)."""
    from sklearn.model_selection import GroupKFold

    x, y, q = _matrix(rows)
    groups = np.array([rows[i]["article"] for i in q])
    oof, oof_ranked = np.zeros(len(y)), np.zeros(len(y))
    folds = min(FOLDS, len(set(groups)))
    held_out_articles, fold_questions = [], []
    other, seen = _Judged(judged or []), _Judged(watched or [])
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        held_out_articles.append(set(groups[test]))
        fit = other.joined(held_out_articles[-1], x[train], y[train], q[train]) if fit_judged else \
            (x[train], y[train], q[train])
        trees = _fit(*fit[:2], seed=seed, rounds=rounds)
        ranker = _fit_ranker(*fit, seed=seed, rounds=rounds)
        oof[test], oof_ranked[test] = trees.predict(x[test]), ranker.predict(x[test])
        fold_questions.append(set(q[test].tolist()))
        other.predict(held_out_articles[-1], trees, ranker)
        seen.predict(held_out_articles[-1], trees, ranker)
    # Each fold's order with the weight chosen on the other folds: the held-out table's; then
    # the weight chosen on all of them, for the shipped ranker.
    everything = set(q.tolist())
    per_fold = [choose_ranker_weight(rows, q, oof, oof_ranked, everything - mine) for mine in fold_questions]
    keys = np.zeros(len(y))
    for w, mine in zip(per_fold, fold_questions):
        at = np.isin(q, list(mine))
        keys[at] = reply_order(oof[at], oof_ranked[at], w)
    weight = choose_ranker_weight(rows, q, oof, oof_ranked, everything)
    outcome = questions(rows, q, oof, keys)
    threshold = choose_threshold(outcome)
    vetoes = choose_vetoes(outcome, threshold)
    threshold = out_of_corpus_floor(outcome, threshold, vetoes)
    judged_heldout = other.heldout(held_out_articles, per_fold, threshold, vetoes) if judged is not None else None
    share, curve = choose_runner_up(rows, q, oof, threshold, keys)
    fit = other.joined(set(), x, y, q) if fit_judged else (x, y, q)
    booster = _fit(*fit[:2], seed=seed, rounds=rounds)
    trees = Trees.from_lightgbm(booster.dump_model())
    _check_export(trees.predict, booster.predict, x)
    ranker = None
    if weight:
        ranker_booster = _fit_ranker(*fit, seed=seed, rounds=rounds)
        ranker = Trees.from_lightgbm(ranker_booster.dump_model())
        _check_export(ranker.margin, ranker_booster.predict, x)  # LambdaRank predicts the raw score
    return {"trees": trees, "threshold": threshold, "vetoes": vetoes, "folds": folds, "oof": oof, "q": q,
            "keys": keys, "held_out_articles": held_out_articles,
            "ranker": ranker, "ranker_weight": weight, "ranker_per_fold": per_fold,
            "ranker_heldout": {"sentence@1_p": round(sentence_at_1(rows, q, oof, everything), 4),
                               "sentence@1_ranker_alone": round(sentence_at_1(rows, q, oof_ranked, everything), 4),
                               "sentence@1_keys": round(sentence_at_1(rows, q, keys, everything), 4)},
            "runner_up_share": share, "runner_up_curve": curve, "heldout": heldout(outcome, threshold, vetoes),
            "judged_heldout": judged_heldout, "per_fold": per_fold, "outcome": outcome, "fit_judged": fit_judged,
            "judged": other, "watched": seen}  # their held-out P and order: ``_Judged.keys`` and ``outcome``


class _Judged:
    """Rows judged held out: each fold's trees and ranker read the ones whose article that fold
    holds out, and they are judged at the threshold and vetoes the other rows set. ``joined`` adds
    the rest to a fold's fit, for ``--fit-user-worded``."""

    def __init__(self, rows: list[dict]):
        self.rows = rows
        if any(len(r["features"]) for r in rows):
            self.x, self.y, self.q = _matrix(rows)
        else:  # nothing to read
            self.x, self.y, self.q = np.zeros((0, 0), np.float32), np.zeros(0, bool), np.zeros(0, int)
        self.p, self.ranked = np.zeros(len(self.q)), np.zeros(len(self.q))
        self.article = np.array([rows[i]["article"] for i in self.q], dtype=object)  # each candidate's

    def _at(self, articles: set) -> np.ndarray:
        return np.isin(self.article, list(articles))

    def joined(self, articles: set, x: np.ndarray, y: np.ndarray, q: np.ndarray) -> tuple:
        """A fit's ``x``, ``y`` and ``q`` with these rows added, but for those of ``articles`` (held
        out); their question numbers follow ``q``'s, so each question's candidates stay contiguous."""
        at = ~self._at(articles)
        if not at.any():
            return x, y, q
        return (np.concatenate([x, self.x[at]]), np.concatenate([y, self.y[at]]),
                np.concatenate([q, self.q[at] + (int(q.max()) + 1 if len(q) else 0)]))

    def predict(self, articles: set, trees, ranker) -> None:
        if (at := self._at(articles)).any():
            self.p[at], self.ranked[at] = trees.predict(self.x[at]), ranker.predict(self.x[at])

    def keys(self, held_out_articles: list[set], per_fold: list[float]) -> np.ndarray:
        """Each candidate's place in the reply's order, read by the fold that holds its article out."""
        keys = np.zeros(len(self.q))
        for articles, w in zip(held_out_articles, per_fold):
            if (at := self._at(articles)).any():
                keys[at] = reply_order(self.p[at], self.ranked[at], w)
        return keys

    def outcome(self, held_out_articles: list[set], per_fold: list[float]) -> list[dict]:
        """Each row's question, held out (``judge.questions``)."""
        return questions(self.rows, self.q, self.p, self.keys(held_out_articles, per_fold))

    def heldout(self, held_out_articles: list[set], per_fold: list[float], threshold: float, vetoes: list[str]) -> dict:
        return heldout(self.outcome(held_out_articles, per_fold), threshold, vetoes)


def train_reader(rows: list[dict], report: dict, out: Path, *, seed: int, steps: int | None) -> tuple[dict, Path]:
    """Cross-validate the reader on the trees' folds and out-of-fold P, fit it on every article,
    export it beside the trees (``qa.training.reader``); what the manifest says of it, and the
    folder its folds were kept in."""
    from qa.config import BUNDLED_MODEL
    from qa.embed import model_path
    from qa.training import reader

    base = model_path(BUNDLED_MODEL)
    # Each fold's readings and the final model are kept as they are made: a run killed in the
    # reader's two hours starts again where it stopped (the same examples, folds and seed).
    examples, extra, work = reader_work(rows, report, seed=seed, steps=steps, user_worded=report["fit_judged"])
    readings, fold = reader.cross_validate(examples, report["held_out_articles"], base, seed=seed, steps=steps,
                                           work=work, extra=extra)
    reader.save_readings(out / READINGS_FILE, examples, readings, fold)  # to choose weight and margin again
    kept = work / READER_FILE
    if kept.exists():
        print(f"reader: the final fit, read from {work}", file=sys.stderr)
    else:
        print(f"reader: the final fit, {len(examples)} + {len(extra)} user-worded questions", file=sys.stderr)
        model, tokenizer = reader.fit([*examples, *extra], base, seed=seed, steps=steps)
        work.mkdir(parents=True, exist_ok=True)
        replace_file(kept, lambda tmp: reader.export(model, tokenizer, tmp), suffix=".tmp.onnx")
    shutil.copyfile(kept, out / READER_FILE)
    entry = reader_entry(reader.judge(examples, readings, fold),
                         pairs=int(sum(len(e["texts"]) for e in [*examples, *extra])), seed=seed, steps=steps,
                         user_worded=len(extra))
    return entry, work


def reader_work(rows: list[dict], report: dict, *, seed: int, steps: int | None,
                user_worded: bool) -> tuple[list[dict], list[dict], Path]:
    """The reader's examples (the first candidates of the answerable questions, in the held-out
    reply order), with ``user_worded`` the user-worded answerable questions' too (the report's
    judged rows, in their held-out order: fitted on, never read for the weight and margin), and the
    folder its folds are kept in, named by them (``reader.work_folder``)."""
    from qa.config import BUNDLED_MODEL
    from qa.training import reader

    examples, extra = reader.items(rows, report["q"], report["keys"]), []
    if user_worded and (judged := report["judged"]).rows:
        extra = reader.items(judged.rows, judged.q, judged.keys(report["held_out_articles"], report["per_fold"]))
    return examples, extra, reader.work_folder(examples, report["held_out_articles"], BUNDLED_MODEL, seed=seed,
                                               steps=steps, extra=extra)


def train_gate(rows: list[dict], report: dict, work: Path, *, seed: int) -> dict:
    """The gate (``qa.training.gate``) fitted on every kind of question, each read by the fold reader
    that held its article out (kept in ``work``), P and the reply's order held out the same way."""
    from qa.training import gate

    records = gate_records(rows, report)
    readings = gate.read(records, work, len(report["held_out_articles"]))
    return gate.fit_and_judge(records, readings, folds=len(report["held_out_articles"]), seed=seed,
                              p_threshold=report["threshold"])


def gate_records(rows: list[dict], report: dict) -> list[dict]:
    """``gate.questions`` of ``rows`` and of the report's judged and watched rows, all held out."""
    from qa.training import gate

    fold_of = {a: k for k, articles in enumerate(report["held_out_articles"]) for a in articles}
    vetoes = set(report["vetoes"])
    records = gate.questions(rows, report["q"], report["oof"], report["keys"], fold_of, report["outcome"], vetoes)
    for judged in (report["judged"], report["watched"]):
        if judged.rows:
            held = report["held_out_articles"], report["per_fold"]
            records += gate.questions(judged.rows, judged.q, judged.p, judged.keys(*held), fold_of,
                                      judged.outcome(*held), vetoes)
    return records


def print_gate(fitted: dict) -> None:
    """The gate's held-out table against P's: each group's answered or refused share, and AUROC."""
    held = fitted["heldout"]
    print("| held out by article | gate | P at its threshold |\n|---|---|---|")
    for group, mine in held["gate"].items():
        theirs = held["p"][group]
        if "answered" in mine:
            print(f"| {group} ({mine['questions']}): answered; right and answered | {mine['answered']}; "
                  f"{mine['right_and_answered']} | {theirs['answered']}; {theirs['right_and_answered']} |")
        else:
            print(f"| {group} ({mine['questions']}): refused; AUROC | {mine['refused']}; {mine['auroc']} | "
                  f"{theirs['refused']}; {theirs['auroc']} |")
    print(f"gate: threshold {fitted['threshold']:.4f} (a margin); the reader runs for {held['read_only_for']} "
          "of the questions")


def refit_gate(files: list[Path], folder: Path) -> int:
    """``qa train --gate``: the gate of the model in ``folder`` fitted again, from the fold readers
    the run that made it kept (8.5 minutes on a 2-core Xeon, instead of hours). The trees are fitted
    again first and must come out as shipped (``_fit_again``); the reader's examples must name the
    folder the fold readers were kept in."""
    from qa.training import reader

    manifest, rows, report = _fit_again(files, folder, same_topic_rows=True)
    training = manifest["reader"]["training"]
    _, _, work = reader_work(rows, report, seed=manifest["seed"], steps=training["steps"],
                             user_worded=bool(training.get("user_worded_questions")))
    missing = [k for k in range(report["folds"]) if not reader.fold_graph(work, k).exists()]
    if missing:
        raise ValueError(f"no fold reader {missing[0]} in {work} (kept by `qa train` since 2026-12-04): "
                         "run `qa train` to refit it all")
    fitted = train_gate(rows, report, work, seed=manifest["seed"])
    fitted["trees"].save(folder / GATE_FILE)
    manifest["gate"] = gate_entry(fitted, folder)
    if not manifest["rebuild"].endswith(" --with-gate"):  # the command that makes this model, gate and all
        manifest["rebuild"] += " --with-gate"
    write_manifest(folder, manifest)
    print_gate(fitted)
    print(f"wrote {folder / GATE_FILE} and its entry in {folder / MANIFEST_FILE}")
    return 0


def rechoose_reader(folder: Path) -> int:
    """``qa train --rechoose-reader``: choose the reader's weight and margin again on the held-out
    readings beside it (``qa.training.reader.judge``, the grid as it is now) and rewrite its
    manifest entry; no training, the reader itself is unchanged."""
    from qa.training import reader

    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    old = manifest.get("reader")
    if not old or not old.get("readings"):
        raise ValueError(f"{folder} has no reader with held-out readings: run `qa train`")
    if digest(folder / old["readings"]) != old["readings_sha256"]:
        raise ValueError(f"{folder / old['readings']} does not match its manifest: run `qa train`")
    judged = reader.judge(*reader.load_readings(folder / old["readings"]))
    training = old["training"]
    manifest["reader"] = {**reader_entry(judged, pairs=training["pairs"], seed=training["seed"],
                                         steps=training["steps"], user_worded=training.get("user_worded_questions", 0)),
                          "sha256": old["sha256"], "readings_sha256": old["readings_sha256"]}
    write_manifest(folder, manifest)
    held = judged["heldout"]
    print(f"reader: weight {old['weight']} -> {judged['weight']}, margin {old['margin']} -> {judged['margin']}; "
          f"answer-sentence@1 held out {held['sentence@1_reread']} (per fold {held['per_fold_weight_margin']}), "
          f"read for {held['share_read_at_margin']} of the answerable questions")
    return 0


def rejudge(files: list[Path], folder: Path) -> int:
    """``qa train --rejudge``: the held-out table of the model in ``folder`` measured again by the
    code as it is now, without the reader's two hours, once the trees come out as shipped
    (``_fit_again``); only then is the table rewritten."""
    manifest, _, report = _fit_again(files, folder)
    manifest["heldout"] = report["heldout"]
    manifest["user_worded"] = user_worded_entry(report["judged_heldout"], report["fit_judged"])
    write_manifest(folder, manifest)
    print(table(report["heldout"]))
    print_user_worded(report["judged_heldout"], report["fit_judged"])
    print(f"rewrote the held-out table of {folder / MANIFEST_FILE}; the model itself is unchanged")
    return 0


def _fit_again(files: list[Path], folder: Path, *, same_topic_rows: bool = False) -> tuple[dict, list[dict], dict]:
    """The manifest of the model in ``folder``, the rows and the report of ``fit_and_judge`` run
    again as it was run (``same_topic_rows``: with the same-topic rows the gate reads). The trees are
    cross-validated and fitted again, which must give the shipped trees and ranker to the byte and
    the same threshold, vetoes and runner-up share (the same data, seed and libraries), and the same
    reply order for the sentences its reader read held out."""
    import hashlib

    from qa.training import reader

    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    if [{"file": f.name, "sha256": digest(f)} for f in files] != manifest["data"]:
        raise ValueError(f"the model in {folder} was fitted on other data than {', '.join(map(str, files))}")
    sets = _indexed(files, manifest["articles_per_file"])
    rows, judged = _gathered(sets, seed=manifest["seed"])
    watched = same_topic.rows(sets, seed=manifest["seed"]) if same_topic_rows else None
    fit_judged = bool((manifest.get("user_worded") or {}).get("fitted"))
    report = fit_and_judge(rows, seed=manifest["seed"], rounds=manifest["rounds"], judged=judged,
                           fit_judged=fit_judged, watched=watched)
    ranker = hashlib.sha256(report["ranker"].dumps()).hexdigest() if report["ranker"] is not None else None
    same = hashlib.sha256(report["trees"].dumps()).hexdigest() == manifest["sha256"] and \
        ranker == (manifest.get("ranker") or {}).get("sha256") and \
        (report["threshold"], report["vetoes"], report["runner_up_share"]) == \
        (manifest["threshold"], manifest["vetoes"], manifest["runner_up_share"])
    if same and manifest.get("reader"):
        read, _, _ = reader.load_readings(folder / manifest["reader"]["readings"])
        examples = reader.items(rows, report["q"], report["keys"])
        same = len(read) == len(examples) and all(np.array_equal(a["keys"], b["keys"]) for a, b in zip(read, examples))
    if not same:
        raise ValueError(f"fitted again, the trees differ from the ones in {folder} (or their ranker, threshold, "
                         "vetoes or the reader's order do; other libraries or code?): run `qa train` to refit it all")
    return manifest, rows, report
