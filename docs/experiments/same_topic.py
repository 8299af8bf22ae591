"""Out of corpus on the same subject, in SQuAD: each question asked of its own article without
the paragraph that answers it.

``qa train``'s out-of-corpus negatives ask a question of the other file's index, whose articles
are on other subjects. A user who asks the wrong folder usually asks documents on the same
subject, and there the shipped decision refuses far less often (``seed_out_of_corpus.py``: 0.786
of the project's questions asked of the seed documents without their source). This asks the same
of SQuAD. For each file, every article's even paragraphs are taken out of one index and its odd
ones out of another; each answerable question is asked of the index without its paragraph (and
skipped when an answer's text still stands elsewhere in its article), of the whole file's index
(where it is answerable) and of the other file's (``qa train``'s out-of-corpus). Nothing is
fitted: this measures the shipped decision at its own threshold and vetoes.

    python docs/experiments/same_topic.py [--per-file 800]   # about 10 minutes

``--user-worded`` asks the answerable questions of ``qa/training/user_worded.jsonl`` instead
(written as users write, ``user_worded.py``), every one of them.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def without(data: dict, parity: int) -> dict:
    """``data`` with every article's paragraphs of that ``parity`` (0: the 1st, 3rd, …) taken out."""
    return {**data, "data": [{**a, "paragraphs": [p for j, p in enumerate(a["paragraphs"]) if j % 2 != parity]}
                             for a in data["data"]]}


def answerable(data: dict) -> list[dict]:
    """Every answerable question: its id, text, answers, article and paragraph numbers."""
    return [{"id": qa["id"], "question": qa["question"], "answers": [x["text"] for x in qa["answers"]],
             "article": a, "paragraph": j}
            for a, article in enumerate(data["data"]) for j, p in enumerate(article["paragraphs"])
            for qa in p["qas"] if not qa.get("is_impossible") and qa["answers"]]


def user_worded(tag: str) -> list[dict]:
    """The answerable questions of ``qa/training/user_worded.jsonl`` about file ``tag``'s articles,
    in ``answerable``'s form."""
    from qa.training.examples import user_worded_lines

    return [{"id": x["id"], "question": x["question"], "answers": [x["answer"]], "article": int(x["article"][3:]),
             "paragraph": x["paragraph"]}
            for x in user_worded_lines() if x["answerable"] and x["article"].startswith(f"{tag}/")]


def taken_out(questions: list[dict], parity: int, kept: dict[str, str]) -> set[str]:
    """The ids of ``questions`` (as ``answerable`` gives them) whose paragraph ``without(data, parity)``
    takes out and whose answers' text stands nowhere in what is ``kept`` of their article (its
    ``article_files``)."""
    return {q["id"] for q in questions if q["paragraph"] % 2 == parity
            and not any(t in kept[f"a{q['article']:03d}.txt"] for t in q["answers"])}


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from qa.answer.decide import load
    from qa.api import Engine
    from qa.config import default_settings
    from qa.embed import Encoder
    from qa.evaluation.run import fresh_index
    from qa.training import train
    from qa.training.examples import article_files

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-file", type=int, default=800, help="answerable questions drawn from each file")
    parser.add_argument("--user-worded", action="store_true",
                        help="ask every answerable question of qa/training/user_worded.jsonl instead")
    args = parser.parse_args()
    settings = default_settings()
    open_settings = settings.with_(abstain_below=-1e9)  # the threshold is applied below
    encoder = Encoder(settings.model, backend=settings.backend)
    decision = load()
    files = [train.SHARED_DATA / name for name in train.DATA]
    datas = [json.loads(f.read_text(encoding="utf-8")) for f in files]

    def engine(docs: Path) -> Engine:
        return Engine(fresh_index(docs, docs.parent / "index", settings, encoder), encoder, open_settings,
                      decision=decision)

    def asked(e: Engine, question: str) -> tuple[float, bool]:
        answer = e.ask(question)
        return answer.confidence, bool(answer.sentences) and answer.confidence >= decision.threshold

    whole = [engine(train._article_corpus(f, d)) for f, d in zip(files, datas)]  # as `qa train` builds them
    results = {"whole file (answerable)": [], "same article, paragraph out": [], "other file (qa train's)": []}
    skipped = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, data in enumerate(datas):
            if args.user_worded:
                questions = user_worded(f"f{i}")
            else:
                questions = answerable(data)
                questions = random.Random(i).sample(questions, min(args.per_file, len(questions)))
            for parity in (0, 1):
                kept = without(data, parity)
                docs = Path(tmp) / f"f{i}-{parity}" / "docs"
                docs.mkdir(parents=True)
                texts = article_files(kept)
                for name, text in texts.items():
                    (docs / name).write_text(text, encoding="utf-8")
                part = engine(docs)
                out = taken_out(questions, parity, texts)
                for q in questions:
                    if q["paragraph"] % 2 != parity:
                        continue
                    if q["id"] not in out:
                        skipped += 1  # the answer still stands in another paragraph
                        continue
                    results["same article, paragraph out"].append(asked(part, q["question"]))
                    results["whole file (answerable)"].append(asked(whole[i], q["question"]))
                    results["other file (qa train's)"].append(asked(whole[1 - i], q["question"]))
                print(f"file {i + 1}, parity {parity} done", file=sys.stderr, flush=True)
    n = len(results["whole file (answerable)"])
    drawn = "user-worded, every one" if args.user_worded else f"{args.per_file} drawn a file"
    print(f"{n} answerable questions ({drawn}; {skipped} skipped whose answer stands "
          f"in another paragraph of their article); shipped decision, threshold {decision.threshold:.4f}\n")
    print("| asked of | answered | abstained on | AUROC against the whole file's |\n|---|---|---|---|")
    positive = [c for c, _ in results["whole file (answerable)"]]
    for name, got in results.items():
        answered = np.mean([a for _, a in got])
        scores = positive + [c for c, _ in got]
        auroc = "" if name.startswith("whole") else f"{roc_auc_score([1] * n + [0] * len(got), scores):.4f}"
        print(f"| {name} | {answered:.4f} | {1 - answered:.4f} | {auroc} |")


if __name__ == "__main__":
    main()
