"""Out of corpus, on the project's own questions: each asked of an index without its source.

The held-out out-of-corpus figures come from SQuAD questions asked of the other file's index.
This asks the project's answerable questions that name one source (``tests/eval``'s seed and
check sets, and ``../shared/eval``'s; a check question's source is the one seed document that
holds its answer, and it is left out when several or none do) of an index of the seed documents without that source,
once per document, and counts how often the reply abstains (the right outcome there), for each
model folder given, at its own threshold and vetoes. Nothing is fitted: the questions are test
questions, read here as a user would ask them of the wrong folder.

    python docs/experiments/seed_out_of_corpus.py [--model DIR ...]   # 10 seconds a model

``--reading BLEND.json`` instead asks each question also of the whole seed index (where it is
answerable) and reads the first three candidates of each reply with the shipped reader: how well
the best P, the best reading and ``reader_same_topic.py --blend``'s blend of the two (fitted on the
user-worded questions, never on these) tell the two apart (AUROC). Nothing is chosen on it.

With ``confidence_trees.patch`` applied and ``qa train --keep-reader --out DIR`` run, ``--model
qa/answer/model DIR`` compares the best P as the confidence with the confidence trees.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from qa.config import PROJECT_ROOT  # noqa: E402

SETS = (REPO / "tests" / "eval" / "seed_questions.jsonl", REPO / "tests" / "eval" / "check_questions.jsonl",
        PROJECT_ROOT.parent / "shared" / "eval" / "seed_questions.jsonl")


def only_holder(answers: list, texts: dict[str, str]) -> str | None:
    """The one document that holds a spelling of every fact of ``answers`` (the check set names no
    source); none when no document or several do."""
    facts = [[a] if isinstance(a, str) else a for a in answers]
    holders = [name for name, text in texts.items()
               if all(any(s.lower() in text for s in spellings) for spellings in facts)]
    return holders[0] if len(holders) == 1 else None


def main() -> None:
    from qa.answer.decide import MODEL_DIR, load
    from qa.api import Engine
    from qa.config import default_settings
    from qa.embed import Encoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", type=Path, default=[MODEL_DIR],
                        help="model folders fitted by `qa train`, each judged at its own threshold")
    parser.add_argument("--reading", type=Path, help="a blend written by reader_same_topic.py --blend: AUROCs instead")
    args = parser.parse_args()
    settings = default_settings().with_(abstain_below=-1e9)  # the threshold is applied below
    encoder = Encoder(settings.model, backend=settings.backend)
    decisions = {str(folder): load(folder) for folder in args.model}
    documents = sorted(p.name for p in (REPO / "seeds").iterdir() if p.is_file())
    texts = {name: (REPO / "seeds" / name).read_text(encoding="utf-8").lower() for name in documents}
    questions, unanswerable = [], []
    for path in SETS:
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                q = json.loads(line)
                if not q.get("answerable", True):
                    unanswerable.append(q["question"])
                    continue
                if not q.get("source"):
                    q["source"] = only_holder(q["answers"], texts)
                if q.get("source"):
                    questions.append((path.parent.parent.name + "/" + path.stem, q))
    if args.reading:
        return readings(questions, unanswerable, documents, settings, encoder, next(iter(decisions.values())),
                        json.loads(args.reading.read_text()))
    refused = {name: {} for name in decisions}
    with tempfile.TemporaryDirectory() as tmp:
        for left_out, index in without_each(Path(tmp), documents, settings, encoder):
            for name, decision in decisions.items():
                engine = Engine(index, encoder, settings, decision=decision)
                for where, q in questions:
                    if q["source"] == left_out:
                        answer = engine.ask(q["question"])
                        refused[name].setdefault(where, []).append(not answer.sentences or
                                                                  answer.confidence < decision.threshold)
    print(f"{sum(len(v) for v in next(iter(refused.values())).values())} answerable questions, each asked of the "
          "seed documents without its source\n")
    print("| abstained on (right) | " + " | ".join(refused) + " |\n|---|" + "---|" * len(refused))
    for where in next(iter(refused.values())):
        cells = [f"{sum(r[where])} of {len(r[where])} ({sum(r[where]) / len(r[where]):.3f})" for r in refused.values()]
        print(f"| {where} | " + " | ".join(cells) + " |")
    total = [(sum(sum(v) for v in r.values()), sum(len(v) for v in r.values())) for r in refused.values()]
    print("| all | " + " | ".join(f"{a} of {n} ({a / n:.3f})" for a, n in total) + " |")


def without_each(tmp: Path, documents: list[str], settings, encoder):
    """For each seed document: its name, and an index of the other seed documents (built in ``tmp``)."""
    from qa.evaluation.run import fresh_index

    for left_out in documents:
        docs = tmp / left_out / "docs"
        docs.mkdir(parents=True)
        for name in documents:
            if name != left_out:
                shutil.copy(REPO / "seeds" / name, docs / name)
        yield left_out, fresh_index(docs, docs.parent / "index", settings, encoder)


def readings(questions: list, unanswerable: list[str], documents: list[str], settings, encoder, decision,
             blend: dict) -> None:
    """AUROC of the best P, the best reading of the first three candidates and the blend: each
    answerable question asked of the whole seed index against asked without its source, and against
    the ``unanswerable`` questions asked of the whole seed index."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from qa.api import Engine
    from qa.evaluation.run import fresh_index

    def read(engine: Engine, question: str) -> tuple[float, float]:
        answer = engine.ask(question)
        texts = [c.text for c in answer.considered[:3]]
        p = min(max(answer.confidence, 1e-6), 1 - 1e-6)
        return float(np.log(p / (1 - p))), float(decision.reader.logits(question, texts).max()) if texts else -20.0

    scores, labels = [], []
    with tempfile.TemporaryDirectory() as tmp:
        whole = Engine(fresh_index(REPO / "seeds", Path(tmp) / "whole", settings, encoder), encoder, settings,
                       decision=decision)
        for left_out, index in without_each(Path(tmp), documents, settings, encoder):
            engine = Engine(index, encoder, settings, decision=decision)
            for _, q in questions:
                if q["source"] == left_out:
                    scores += [read(whole, q["question"]), read(engine, q["question"])]
                    labels += [1, 0]
        unanswerable = [read(whole, question) for question in unanswerable]
    s = np.array(scores)
    answerable = s[np.array(labels) == 1]
    rows = {f"answerable ({len(answerable)}) against asked without their source": (labels, s),
            f"answerable against the sets' unanswerable ({len(unanswerable)})":
                ([1] * len(answerable) + [0] * len(unanswerable), np.r_[answerable, np.array(unanswerable)])}
    print(f"{len(labels) // 2} answerable questions, asked of the seeds (answerable) and without their source\n")
    print("| AUROC | best P | best reading | blend |\n|---|---|---|---|")
    for name, (y, x) in rows.items():
        mixed = blend["logit_p"] * x[:, 0] + blend["reading"] * x[:, 1]
        print(f"| {name} | " + " | ".join(
            str(round(float(roc_auc_score(y, v)), 4)) for v in (x[:, 0], x[:, 1], mixed)) + " |")


if __name__ == "__main__":
    main()
