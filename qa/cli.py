"""Command line: ``qa build``, ``qa ask``, ``qa chat``, ``qa eval``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from qa.config import DEFAULT_DOCS_DIR, DEFAULT_INDEX_DIR


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _log_warnings()
    try:
        return args.run(args)
    except BrokenPipeError:  # the reader went away (`qa ask … | head -2`): nothing of qa's went wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 1
    except (ValueError, OSError) as exc:  # domain errors (IndexProblem is a ValueError) and I/O
        print(f"qa: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 130


def _log_warnings() -> None:
    """Show the "qa" logger's warnings (skipped files, ...) as one-liners, once per process."""
    logger = logging.getLogger("qa")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("qa: warning: %(message)s"))
        logger.addHandler(handler)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other error of ``qa``."""

    def error(self, message: str):
        hint = f"see `{self.prog} --help`"
        if self.prog == "qa ask":
            hint += "; a question that starts with '-' goes after --: qa ask -- '-x ...'"
        self.exit(2, f"qa: error: {message} ({hint})\n")


def _path(value: str) -> str:
    """A folder or file argument; an empty one ("--index ''") names nothing and is refused."""
    if not value.strip():
        raise argparse.ArgumentTypeError("an empty path names no folder")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qa", description="Grounded answers from your documents, quoted and cited.")
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="index a folder of documents")
    build.add_argument("--docs", type=_path, default=None,
                       help="folder of .txt/.md/.html/.pdf/.docx/.pptx files (default: the folder the index was built "
                            f"from, or {DEFAULT_DOCS_DIR})")
    build.add_argument("--index", type=_path, default=str(DEFAULT_INDEX_DIR),
                       help="index folder to write (default: %(default)s)")
    build.add_argument("--model", type=_path, default=None,
                       help="local sentence-transformers folder (default: bundled all-MiniLM-L6-v2)")
    build.add_argument("--store", default=None,
                       help="where passages and vectors go: faiss (files in --index), milvus://HOST:PORT/COLLECTION "
                            "or milvus:FILE.db (Milvus Lite) (default: as the index being replaced, else faiss)")
    build.add_argument("--ray", default=None, metavar="ADDRESS",
                       help="embed on the Ray cluster at ADDRESS (HOST:PORT, or auto for the running one)")
    build.set_defaults(run=_build)

    ask = sub.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--index", type=_path, default=str(DEFAULT_INDEX_DIR), help="index folder (default: %(default)s)")
    ask.add_argument("-k", type=int, default=None, help="passages to retrieve (default: 5)")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("--explain", action="store_true",
                     help="also print what the question asks for, the best candidates with P and their features, "
                          "and any check that vetoed")
    ask.set_defaults(run=_ask)

    chat = sub.add_parser("chat", help="chat in the browser (Gradio)")
    chat.add_argument("--index", type=_path, default=str(DEFAULT_INDEX_DIR), help="index folder (default: %(default)s)")
    chat.add_argument("--host", default="127.0.0.1")
    chat.add_argument("--port", type=int, default=7860)
    chat.add_argument("--read-only", action="store_true", help="no uploads: hide the panel, refuse them in the API")
    chat.add_argument("--auth", type=_path, default=None, metavar="FILE|env:NAME",
                      help="log in with the user:password lines of FILE (or of environment variable NAME) "
                           "to use the chat and the API")
    chat.set_defaults(run=_chat)

    ev = sub.add_parser("eval", help="measure answers and retrieval on a question set or SQuAD")
    ev.add_argument("questions", nargs="?", help="questions .jsonl (see docs/evaluation.md)")
    ev.add_argument("--index", type=_path, default=str(DEFAULT_INDEX_DIR), help="index folder (default: %(default)s)")
    ev.add_argument("--squad", default=None, help="a SQuAD v1.1/v2.0 .json file (open-corpus benchmark)")
    ev.add_argument("--limit", type=int, default=None, help="ask at most this many questions")
    ev.add_argument("--seed", type=int, default=0, help="seed for --limit sampling")
    ev.add_argument("--compare", action="store_true", help="also run BM25-only and dense-only baselines")
    ev.add_argument("--store", default=None,
                    help="with --squad: where its index keeps passages and vectors (as `qa build --store`)")
    ev.add_argument("--out", type=_path, default=None, help="folder for the JSON report and plots")
    ev.set_defaults(run=_eval)

    train = sub.add_parser("train", help="fit the answer decision on SQuAD (held-out by article) and write it")
    train.add_argument("--data", nargs="+", type=_path, default=None,
                       help="SQuAD .json files (default: the two files in ../shared/data)")
    train.add_argument("--articles", type=int, default=None, help="use only the first N articles of each file")
    train.add_argument("--rounds", type=int, default=None, help="boosting rounds (default: 300)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", type=_path, default=None, help="folder to write (default: qa/model, the shipped one)")
    train.add_argument("--no-reader", dest="reader", action="store_false",
                       help="fit the trees only, without the cross-encoder that re-reads their best sentences")
    train.add_argument("--reader-steps", type=int, default=None,
                       help="stop each fit of the reader after N batches (default: two epochs; for quick runs)")
    train.add_argument("--fit-user-worded", action="store_true",
                       help="fit the trees and ranker on the user-worded questions and their near misses too "
                            "(held out by article like every row; the reader and the threshold stay on SQuAD's)")
    train.add_argument("--with-gate", action="store_true",
                       help="name the gate in the model, so that ask() answers by it (without: it is fitted and "
                            "judged with the reader, its table printed, but not written)")
    train.add_argument("--gate", action="store_true",
                       help="only fit the gate of the model in --out again, from the fold readers its run kept, "
                            "and name it in the model")
    train.add_argument("--rechoose-reader", action="store_true",
                       help="only choose the reader's weight and margin again, on the held-out readings beside it")
    train.add_argument("--rejudge", action="store_true",
                       help="only measure the model in --out on held-out articles again (its trees are fitted "
                            "again, about 15 minutes, and must come out the same; the reader is not)")
    train.set_defaults(run=_train)
    return parser


def _build(args) -> int:
    from qa.build import build_index
    from qa.config import default_settings
    from qa.embed import Encoder
    from qa.index import recorded_docs

    settings = default_settings().with_(model=args.model)
    # Rebuild what the index was built from (even a damaged one: its manifest says), or the seeds.
    docs = args.docs or recorded_docs(args.index) or DEFAULT_DOCS_DIR
    if args.ray:
        from qa.distributed import RayEncoder

        encoder = RayEncoder(args.ray, settings)  # an unreachable cluster fails here, before any work
    else:
        encoder = Encoder(settings.model, backend=settings.backend)
    index = build_index(docs, args.index, settings=settings, encoder=encoder, progress=sys.stderr.isatty(),
                        store=args.store)
    m = index.manifest
    print(f"indexed {m['documents']} documents of {docs}, {m['passages']} passages, {m['sentences']} sentences "
          f"into {index.root} in {m['build_seconds']} s ({m['embedded']} texts embedded, {m['reused']} reused)")
    for line in m["skipped"]:
        print(f"skipped {line}")
    return 0


def _ask(args) -> int:
    from qa.api import engine

    answer = engine(args.index).ask(args.question, k=args.k)
    if args.json:
        data = answer.to_dict()
        if args.explain:
            data["explain"] = explain_dict(answer)
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(answer)
        print(f"\nconfidence {answer.confidence:.2f}: P(the best sentence answers), from the fitted model")
        if args.explain:
            print("\n" + explain(answer))
    return 0


def explain_dict(answer) -> dict:
    from dataclasses import asdict

    from qa.answer.intent import read

    intent = {k: (sorted(v) if isinstance(v, frozenset) else v) for k, v in asdict(read(answer.question)).items()}
    return {"intent": intent, "vetoed_by": list(answer.vetoed_by), "gate": answer.gate,
            "candidates": [asdict(c) for c in answer.considered]}


def explain(answer) -> str:
    """What the answer stage saw: the question's intent, the best candidates with P, the vetoes."""
    data = explain_dict(answer)
    wants = [k for k, v in data["intent"].items() if v is True]
    lines = [f"intent: kind {data['intent']['kind']}; names {data['intent']['names'] or '-'}; "
             f"wants {', '.join(wants) or 'nothing in particular'}",
             f"vetoed by: {', '.join(answer.vetoed_by) or 'none'}",
             "gate (answer or not; qa.answer.decide.Gate): " + {True: "answer", False: "abstain", None: "none, P's "
                                                                  "threshold decides"}[answer.gate],
             "candidates in the reply's order (P, the reader's logit if it re-read them, then the features):"]
    for i, c in enumerate(answer.considered, 1):
        read = f", read {c.reading:+.2f}" if c.reading is not None else ""
        lines.append(f"{i}. P {c.p:.3f}{read}  {c.source} {c.start}-{c.end}: {' '.join(c.text.split())[:100]}")
        lines.append("   " + ", ".join(f"{k} {v:g}" for k, v in c.features.items()))
    return "\n".join(lines)


def _chat(args) -> int:
    from qa.chat.app import serve

    return serve(index_dir=args.index, host=args.host, port=args.port, read_only=args.read_only, auth=args.auth)


def _train(args) -> int:
    from qa.training.train import ROUNDS, run

    args.rounds = args.rounds or ROUNDS
    return run(args)


def _eval(args) -> int:
    from qa.evaluation.run import run

    return run(args)
