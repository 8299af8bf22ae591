"""Evaluate: ask a question set or a SQuAD file of every retriever, report tables, JSON and plots."""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from qa.config import cache_root
from qa.evaluation.metrics import Outcome, Question, by_kind, distinct, judge, summarize
from qa.evaluation.plots import check_available, plot_abstention, plot_recall
from qa.text import clip

MODES = ("hybrid", "bm25", "dense")
BASELINE = "hybrid, 0.1 decision"  # --compare: hybrid retrieval, version 0.1's hand-set decision
NO_READER = "hybrid, trees alone"  # --compare: the fitted decision without its reader (qa.answer.reader)
DEPTH = 20  # passages retrieved per question; recall@k and MRR rank their distinct sources


def load_questions(path: str | Path) -> list[Question]:
    """A .jsonl question set (see docs/evaluation.md): one object a line with question, answers, source."""
    questions = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            questions.append(Question(
                id=str(row.get("id", f"line{n}")), question=row["question"],
                answers=_answers(row.get("answers", [])),
                source=row.get("source"), answerable=row.get("answerable", True), kind=row.get("kind", ""),
            ))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} line {n} is not a question object ({exc}): fix that line") from None
    if not questions:
        raise ValueError(f"{path} holds no questions: add one JSON object a line")
    return questions


def _answers(facts) -> tuple[tuple[str, ...], ...]:
    """The expected facts, each its alternatives: [["LINE", "Line"], "Facebook"] (a bare string
    is one fact of one spelling)."""
    groups = [[f] if isinstance(f, str) else f for f in facts] if isinstance(facts, list) else None
    if groups is None or not all(isinstance(g, list) and g and all(isinstance(a, str) and a.strip() for a in g)
                                 for g in groups):
        raise TypeError("answers must be a list of facts, each a string or a list of alternative strings, "
                        f"not {json.dumps(facts)}")
    return tuple(tuple(g) for g in groups)


def load_squad(path: str | Path) -> tuple[list[Question], dict[str, str]]:
    """A SQuAD v1.1/v2.0 file -> its questions and one document per paragraph, by file name."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a SQuAD JSON file ({exc}): pass a SQuAD v1.1 or v2.0 file") from None
    questions, documents = [], {}
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article["paragraphs"]):
            name = f"a{a:03d}_p{p:03d}.txt"
            documents[name] = paragraph["context"]
            for qa in paragraph["qas"]:
                answerable = not qa.get("is_impossible", False)
                answers = distinct(x["text"] for x in qa["answers"]) if answerable else ()
                questions.append(Question(id=qa["id"], question=qa["question"], answers=(answers,) if answers else (),
                                          source=name if answerable else None, answerable=answerable))
    return questions, documents


def squad_corpus(path: str | Path) -> tuple[list[Question], Path]:
    """The questions of a SQuAD file and the folder holding its paragraphs, written once."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    questions, documents = load_squad(path)
    docs = cache_root() / f"squad-{digest[:12]}" / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for name, text in documents.items():
        file = docs / name
        # Rewriting only what differs keeps the corpus hash, and so the index, valid.
        if not file.exists() or file.read_text(encoding="utf-8") != text:
            file.write_text(text, encoding="utf-8")
    return questions, docs


def fresh_index(docs: Path, index_dir: Path, settings, encoder, store: str | None = None):
    """The index of ``docs`` at ``index_dir``, rebuilt when missing, stale or built otherwise."""
    from qa.build import build_index
    from qa.embed import document_encoder
    from qa.index import IndexProblem, load_index

    if settings.document_precision == "auto":
        # What this machine builds: an index of the other precision is rebuilt, not reused.
        settings = settings.with_(document_precision=document_encoder(encoder, "auto")[1])
    try:
        index = load_index(index_dir)
        if index.manifest["settings"] == settings.build_part() and (
                store is None or index.manifest.get("store", {}).get("shown", "faiss") == store):
            return index
    except IndexProblem:
        pass
    return build_index(docs, index_dir, settings=settings, encoder=encoder, progress=True, store=store)


def sample(questions: list[Question], limit: int | None, seed: int) -> list[Question]:
    if limit is None or limit >= len(questions):
        return questions
    if limit < 1:
        raise ValueError("--limit must be at least 1")
    return random.Random(seed).sample(questions, limit)


def ask_all(engine, questions: list[Question], modes: tuple[str, ...]) -> dict[str, list[Outcome]]:
    """Every question of every retriever, timed one by one after a warm-up query."""
    results = {}
    with tqdm(total=len(questions) * len(modes), desc="asking", unit="q", file=sys.stderr) as bar:
        for mode in modes:
            bar.set_postfix_str(mode)
            engine.ask("warm-up question", k=DEPTH, mode=mode)
            results[mode] = []
            for q in questions:
                results[mode].append(_ask(engine, q, mode))
                bar.update()
    return results


def _ask(engine, q: Question, mode: str) -> Outcome:
    from qa.index import IndexProblem

    started = time.perf_counter()
    try:
        answer = engine.ask(q.question, k=DEPTH, mode=mode)
    except IndexProblem:
        raise
    except ValueError:  # a question ask() refuses (empty, no words) gets no reply at all
        return Outcome(q, (), (), (), 0.0, time.perf_counter() - started)
    seconds = time.perf_counter() - started
    return Outcome(
        question=q, sources=distinct(h.passage.source for h in answer.passages), sentences=answer.sentences,
        cited=tuple(c.source for c in answer.citations), confidence=answer.confidence, seconds=seconds,
        gate=answer.gate,
    )


def run(args) -> int:
    """``qa eval``: measure the engine (and with --compare the baselines); return 0."""
    from qa.answer.baseline import Baseline
    from qa.answer.decide import MODEL_DIR, load
    from qa.api import Engine
    from qa.config import default_settings
    from qa.embed import Encoder

    if bool(args.questions) == bool(args.squad):
        raise ValueError("pass a questions .jsonl file or --squad FILE.json (one of them)")
    check_available()
    settings = default_settings()
    encoder = Encoder(settings.model, backend=settings.backend)
    questions, index = _dataset(args, settings, encoder)
    questions = sample(questions, args.limit, args.seed)
    # Abstention off: every question gets its best sentences and a confidence, and the
    # threshold is applied here, so one run also yields the whole threshold curve.
    decision = load(settings.decision_model or MODEL_DIR)
    threshold = decision.threshold if settings.abstain_below is None else settings.abstain_below
    open_settings = settings.with_(abstain_below=-1e9)
    results = ask_all(Engine(index, encoder, open_settings, decision=decision), questions,
                      MODES if args.compare else MODES[:1])
    if args.compare and decision.reader is not None:  # the same decision, in P's order alone
        results[NO_READER] = ask_all(Engine(index, encoder, open_settings.with_(reader=False), decision=decision),
                                     questions, MODES[:1])["hybrid"]
    if settings.abstain_below is not None:  # a threshold set by hand decides, not the gate
        results = {mode: [replace(o, gate=None) for o in outcomes] for mode, outcomes in results.items()}
    thresholds = dict.fromkeys(results, threshold)
    if args.compare:  # the same retrieval, with version 0.1's hand-set decision
        results[BASELINE] = ask_all(Engine(index, encoder, open_settings, decision=Baseline()), questions,
                                    MODES[:1])["hybrid"]
        thresholds[BASELINE] = Baseline.threshold
    report = make_report(args, questions, index, settings, results, thresholds, decision.manifest)
    out = Path(args.out) if args.out else Path("artifacts") / f"eval-{_name(Path(args.squad or args.questions), args)}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _write_outcomes(out / "outcomes.jsonl", results, thresholds)
    plots = [plot_recall(report, out / "recall.png"), plot_abstention(report, out / "abstention.png")]
    print(markdown(report))
    if not args.squad:
        print(failures(results["hybrid"], threshold))
    print(f"\nwrote {out / 'report.json'}, {out / 'outcomes.jsonl'}, " + ", ".join(str(p) for p in plots))
    return 0


def _dataset(args, settings, encoder):
    from qa.index import load_index

    if args.squad:
        questions, docs = squad_corpus(args.squad)
        store = getattr(args, "store", None)
        folder = docs.parent / ("index" if store in (None, "faiss") else "index-milvus")
        return questions, fresh_index(docs, folder, settings, encoder, store)
    return load_questions(args.questions), load_index(args.index)


def make_report(args, questions: list[Question], index, settings, results: dict[str, list[Outcome]],
                thresholds: dict[str, float], decision: dict) -> dict:
    """Every number of the run, with what it was measured on, with which settings and which decision."""
    threshold = thresholds["hybrid"]
    return {
        "dataset": {"path": str(Path(args.squad or args.questions).resolve()),
                    "kind": "squad" if args.squad else "jsonl", "questions": len(questions),
                    "answerable": sum(q.answerable for q in questions), "limit": args.limit, "seed": args.seed},
        "settings": settings.as_dict(), "abstain_below": threshold, "thresholds": thresholds,
        "decision": {k: decision.get(k) for k in ("model", "rebuild", "threshold", "threshold_rule", "vetoes",
                                                   "split", "data", "heldout", "reader")},
        "passages_per_question": DEPTH,
        "index": _index_facts(index),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "retrievers": {mode: summarize(outcomes, threshold=thresholds[mode]) for mode, outcomes in results.items()},
        "hybrid_by_kind": by_kind(results["hybrid"], threshold=threshold),
    }


def _index_facts(index) -> dict:
    m = index.manifest
    seconds = m.get("build_seconds") or 0
    # A build that reused cached vectors says nothing about embedding speed.
    full = not m.get("reused")
    return {"root": str(index.root), "documents": m["documents"], "passages": m["passages"],
            "sentences": m["sentences"], "model": m["model"], "build_seconds": seconds,
            "full_build": full, "embedded": m.get("embedded"), "reused": m.get("reused"),
            "passages_per_second": round(m["passages"] / seconds, 1) if seconds and full else None}


def _name(dataset: Path, args) -> str:
    # The parent's parent tells tests/eval/x.jsonl from shared/eval/x.jsonl.
    name = f"{dataset.resolve().parent.parent.name}-{dataset.stem}"
    return name + (f"-n{args.limit}-s{args.seed}" if args.limit else "")


def _write_outcomes(path: Path, results: dict[str, list[Outcome]], thresholds: dict[str, float]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for mode, outcomes in results.items():
            for o in outcomes:
                row = {"retriever": mode, "id": o.question.id, **judge(o, threshold=thresholds[mode]),
                       "confidence": round(o.confidence, 4), "ms": round(o.seconds * 1000, 2),
                       "sources": list(o.sources[:5]), "reply": list(o.sentences)}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")


COLUMNS = [  # (header, metric key, is a latency)
    ("R@1", "recall@1", False), ("R@5", "recall@5", False), ("R@20", "recall@20", False), ("MRR", "mrr", False),
    ("sent@1 answered", "sentence@1_answered", False), ("sent@1 all", "sentence@1_all", False),
    ("hit answered", "answer_hit_answered", False), ("hit all", "answer_hit_all", False),
    ("cite acc", "citation_accuracy", False), ("abstain P", "abstain_precision", False),
    ("abstain R", "abstain_recall", False), ("answer rate", "answer_rate", False),
    ("p50 ms", "latency_ms_p50", True), ("p95 ms", "latency_ms_p95", True),
]


def markdown(report: dict) -> str:
    """One row per retriever, then what the columns count."""
    def cell(value, ms):
        return "–" if value is None else f"{value:.1f}" if ms else f"{value:.3f}"

    lines = ["| retriever | " + " | ".join(h for h, _, _ in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    for mode, m in report["retrievers"].items():
        lines.append(f"| {mode} | " + " | ".join(cell(m[key], ms) for _, key, ms in COLUMNS) + " |")
    d, ix = report["dataset"], report["index"]
    lines += ["", f"{d['questions']} questions ({d['answerable']} answerable) from {d['path']}; "
              f"abstain below P {report['abstain_below']:.3f} (the 0.1 decision: below its confidence 0.74); "
              "R@k and MRR over the distinct sources of "
              f"{report['passages_per_question']} passages; 'answered' = answerable questions not abstained on, "
              "'all' = every answerable question.",
              f"index: {ix['documents']} documents, {ix['passages']} passages, {ix['sentences']} sentences, "
              f"built in {ix['build_seconds']} s "
              + (f"({ix['passages_per_second']} passages/s)." if ix["full_build"] else
                 f"reusing {ix['reused']} cached vectors, embedding {ix['embedded']} (no build speed to report).")]
    if report["hybrid_by_kind"]:
        lines.append("hybrid, share right by kind: " + ", ".join(
            f"{kind} {k['right']:.2f} ({k['questions']})" for kind, k in report["hybrid_by_kind"].items()))
    return "\n".join(lines)


def failures(outcomes: list[Outcome], threshold: float, width: int = 118) -> str:
    """Two lines per question the engine got wrong: what was wanted, then what it said."""
    lines = []
    for o in outcomes:
        q, v = o.question, judge(o, threshold=threshold)
        got = f"{'abstained' if v['abstained'] else 'answered'} at conf {o.confidence:.2f}"
        cited = f", cites {', '.join(distinct(o.cited))}" if o.cited else ""
        if not q.answerable and not v["abstained"]:
            head = f"{q.id}: unanswerable, but {got}{cited}"
        elif q.answerable and (v["abstained"] or not v["hit"]):
            want = " + ".join("/".join(g) for g in q.answers)
            gold = f" (in {q.source}, retrieved at rank {v['rank'] or '>20'})" if q.source else ""
            head = f"{q.id}: wanted {want}{gold}; {got}{cited}"
        else:
            continue
        said = "«" + " ".join(o.sentences) + "»" if o.sentences else "(no sentence)"
        lines += [clip(head, width), "    " + clip(said, width - 4)]
    head = f"\nfailures (hybrid, {len(lines) // 2} of {len(outcomes)} questions):"
    return "\n".join([head, *lines]) if lines else "\nno failures (hybrid)"
