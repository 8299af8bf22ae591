"""Train the reader: MiniLM-L6 fine-tuned here as a cross-encoder over the trees' best few sentences.

Examples: for each answerable SQuAD question, the ``TOP`` candidates first in the reply's
out-of-fold order (logit(P) + the ranker's say, ``qa.training.train``), labelled by whether
they hold the answer (about 19,600 pairs).
The model: the bundled all-MiniLM-L6-v2 transformer with a linear head on its mean token,
fine-tuned for two epochs (AdamW, linear warm-up and decay) on each pair's binary cross-entropy
plus each question's softmax cross-entropy over its own sentences (held out, on P's order before
the ranker, answer-sentence@1 re-read 0.7942 against 0.7897 with the first term alone; on the
ranker's order, one epoch in fp32, 0.7786 -> 0.7956; two in bf16, as shipped, 0.7795 -> 0.8013).
Cross-validated on the trees' folds
of whole articles, each fold's model judged in int8 as ``qa.answer.reader`` runs it;
the weight of its logit beside that order's key, and the margin past which it is not run, are chosen
on those held-out readings (``judge``), which ship beside the model (``save_readings``) so that
both can be chosen again, and checked, without training again. The final model is exported to ONNX in int8
(``qa.onnx_graph.quantized``, every op it can: 23 MB). Needs PyTorch and transformers
(sentence-transformers' own dependencies); a fit of two epochs takes about 25 minutes a fold on two
cores of a CPU with native bf16 (0.7 s a step), about twice that in fp32 elsewhere.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np

from qa.answer.reader import MAX_TOKENS, Reader, combined, settled
from qa.swap import replace_file

TOP = 3  # sentences re-read per question: the right one is among the trees' top three 0.90 of the time
EPOCHS = 2
QUESTIONS_PER_BATCH = 5  # with their TOP sentences each: 15 pairs a step
LEARNING_RATE = 3e-5
WARMUP = 0.1  # share of the steps
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0)  # of the reader's logit by the key
# The lead of the first key over the runner-up's past which the reader is skipped.
MARGINS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 99.0)
MARGIN_TOLERANCE = 0.001  # answer-sentence@1 a margin may cost against always reading


def precision() -> str:
    """What the forward pass is computed in: bfloat16 (``torch.autocast``) where the CPU has
    native bf16 arithmetic (AVX-512 BF16, AMX): on an AMD EPYC a step took 0.70-0.80 s instead of
    1.05 s in fp32, and on one fold the reader re-read as well at its best weight (design.md);
    fp32 elsewhere, where bf16 would be emulated (not measured). The loss, gradients and weights
    stay fp32, and so does the exported model."""
    import torch

    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


def items(rows: list[dict], q: np.ndarray, keys: np.ndarray, top: int = TOP,
          kinds: tuple[str, ...] = ("answerable",)) -> list[dict]:
    """Per question of ``kinds`` with candidates: its ``top`` candidates by their ``keys`` (the
    reply's order, ``qa.answer.decide.Decision.keys``), best first."""
    out = []
    for i, r in enumerate(rows):
        if r["kind"] not in kinds or not len(r["features"]):
            continue
        mine = keys[q == i]
        order = np.argsort(-mine, kind="stable")[:top]
        out.append({"row": i, "article": r["article"], "question": r["question"],
                    "texts": [r["texts"][j] for j in order], "labels": np.asarray(r["labels"][order], bool),
                    "keys": mine[order]})
    return out


def _model(base: Path):
    import torch
    from transformers import AutoModel

    class CrossEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(base))
            self.head = torch.nn.Linear(self.bert.config.hidden_size, 1)

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state
            m = attention_mask.unsqueeze(-1).float()
            return self.head((h * m).sum(1) / m.sum(1)).squeeze(-1)

    return CrossEncoder()


def _tokenizer(base: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(base))


def _batch(tokenizer, questions: list[str], texts: list[str]):
    enc = tokenizer(questions, texts, truncation="only_second", max_length=MAX_TOKENS, padding=True,
                    return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]


def fit(examples: list[dict], base: Path, *, seed: int, steps: int | None = None):
    """The cross-encoder fine-tuned on ``examples`` (``steps``: fewer, for a quick run).

    A batch is ``QUESTIONS_PER_BATCH`` questions with their ``TOP`` sentences each. The loss is
    each pair's binary cross-entropy plus, for a question with right and wrong sentences both,
    the softmax cross-entropy of its right ones among its own: what the reader is for is to
    order one question's sentences, not to score pairs apart."""
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    half = precision() == "bf16"
    tokenizer = _tokenizer(base)
    model = _model(base)
    rng = np.random.default_rng(seed)
    total = int(len(examples) * EPOCHS / QUESTIONS_PER_BATCH)
    if steps is not None:
        total = min(total, steps)
    total = max(total, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (WARMUP * total)) * max(0.0, 1 - s / total))
    order = np.concatenate([rng.permutation(len(examples)) for _ in range(int(np.ceil(EPOCHS)))])
    model.train()
    start = time.time()
    for s in range(total):
        batch = [examples[j] for j in order[s * QUESTIONS_PER_BATCH:(s + 1) * QUESTIONS_PER_BATCH]]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=half):
            logits = model(*_batch(tokenizer, [e["question"] for e in batch for _ in e["texts"]],
                                   [t for e in batch for t in e["texts"]]))
        logits = logits.float()
        labels = torch.tensor([float(lab) for e in batch for lab in e["labels"]])
        loss = batch_loss(logits, labels, [len(e["texts"]) for e in batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if s % 200 == 0:
            print(f"  reader step {s}/{total}, loss {loss.item():.3f} ({time.time() - start:.0f} s)", file=sys.stderr)
    model.eval()
    return model, tokenizer


def batch_loss(logits, labels, sizes: list[int]):
    """Each pair's binary cross-entropy, plus the mean over questions with right and wrong
    sentences both of -log(softmax mass of the right ones among the question's own);
    ``sizes``: how many of the pairs, in order, each question has."""
    import torch

    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    listwise, at = [], 0
    for n in sizes:
        mine, right = logits[at:at + n], labels[at:at + n] > 0
        at += n
        if right.any() and not right.all():
            listwise.append(torch.logsumexp(mine, 0) - torch.logsumexp(mine[right], 0))
    return loss + torch.stack(listwise).mean() if listwise else loss


def sentence_at_1(examples: list[dict], readings: list[np.ndarray], weight: float, margin: float = 99.0) -> float:
    """Share of ``examples`` whose first sentence after re-reading (as ``Reader.reorder`` does) holds the answer."""
    right = [bool(e["labels"][0 if settled(e["keys"], margin) else int(np.argmax(combined(e["keys"], r, weight)))])
             for e, r in zip(examples, readings)]
    return float(np.mean(right)) if right else 0.0


def choose(examples: list[dict], readings: list[np.ndarray]) -> tuple[float, float]:
    """The weight with the best answer-sentence@1, then the smallest margin within ``MARGIN_TOLERANCE`` of it."""
    weight = max(WEIGHTS, key=lambda w: sentence_at_1(examples, readings, w))
    full = sentence_at_1(examples, readings, weight)
    margin = next(m for m in MARGINS if sentence_at_1(examples, readings, weight, m) >= full - MARGIN_TOLERANCE)
    return weight, margin


def work_folder(examples: list[dict], folds: list[set], model: str, *, seed: int, steps: int | None,
                extra: list[dict] = ()) -> Path:
    """Where a run keeps each fold's readings and the final model as it makes them: named by
    everything they depend on (the examples, the extra ones, the folds, the base model, seed, steps
    and the settings above), so a run started again over the same reuses them and no other run does."""
    import hashlib

    from qa.config import cache_root

    def listed(these: list[dict]) -> list:
        return [[e["article"], e["question"], list(e["texts"]), np.asarray(e["labels"]).tolist()] for e in these]

    mode = precision()
    key = json.dumps({"examples": listed(examples), **({"extra": listed(extra)} if extra else {}),
                      "folds": [sorted(map(str, f)) for f in folds], "model": model, "seed": seed, "steps": steps,
                      "settings": [TOP, EPOCHS, QUESTIONS_PER_BATCH, LEARNING_RATE, WARMUP, MAX_TOKENS],
                      # fp32 keys as before precision was a setting; bf16 folds are other folds
                      **({} if mode == "fp32" else {"precision": mode})})
    return cache_root() / "train" / f"reader-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def cross_validate(examples: list[dict], folds: list[set], base: Path, *, seed: int,
                   steps: int | None = None, work: Path | None = None,
                   extra: list[dict] = ()) -> tuple[list[np.ndarray], np.ndarray]:
    """Held-out readings, a model per fold of articles each judged on its own fold, and the fold of
    each example. ``extra``: examples each fold also fits on, but for its own articles', and never
    read (the user-worded questions' of ``qa train --fit-user-worded``: the weight and margin are
    chosen on ``examples`` alone). With ``work`` (``work_folder``), each fold's readings are kept there once made,
    and a fold found there is read, not fitted again: every fold's fit starts from the same seed,
    so the readings are those a run without a stop gives."""
    readings: list[np.ndarray | None] = [None] * len(examples)
    fold = np.full(len(examples), -1, np.int64)
    for k, articles in enumerate(folds):
        train = [e for e in [*examples, *extra] if e["article"] not in articles]
        test = [i for i, e in enumerate(examples) if e["article"] in articles]
        kept = work / f"fold{k}.npz" if work is not None else None
        if kept is not None and kept.exists():
            print(f"reader: fold {k + 1} of {len(folds)}, read from {work}", file=sys.stderr)
            with np.load(kept) as data:
                at = np.concatenate([[0], np.cumsum(data["sizes"])])
                found = [data["readings"][a:b] for a, b in zip(at[:-1], at[1:])]
        else:
            print(f"reader: fold {k + 1} of {len(folds)}, {len(train)} questions", file=sys.stderr)
            model, tokenizer = fit(train, base, seed=seed, steps=steps)
            # Judged as it runs: its int8 graph, read by qa.answer.reader's tokenizer and session.
            # Kept in ``work`` beside its readings, for reading other questions of its held-out
            # articles later without the fit (``fold_graph``).
            with tempfile.TemporaryDirectory() as tmp:
                graph = export(model, tokenizer, Path(tmp) / "fold.onnx")
                runtime = Reader(graph, base / "tokenizer.json", top=TOP, weight=0.0, margin=0.0)
                found = [runtime.logits(examples[i]["question"], examples[i]["texts"]) for i in test]
                if kept is not None and graph.exists():
                    work.mkdir(parents=True, exist_ok=True)
                    replace_file(fold_graph(work, k), partial(shutil.copyfile, graph), suffix=".tmp.onnx")
            if kept is not None:  # written whole, then named: a stop never leaves half a fold
                work.mkdir(parents=True, exist_ok=True)
                replace_file(kept, partial(_save_fold, found=found))
        if len(found) != len(test):
            raise ValueError(f"{kept} holds {len(found)} questions' readings, not {len(test)}: delete {work}")
        for i, r in zip(test, found):
            readings[i], fold[i] = r, k
    return readings, fold


def fold_graph(work: Path, k: int) -> Path:
    """Where ``cross_validate`` keeps fold ``k``'s int8 graph: the reader that never read that fold's articles."""
    return work / f"fold{k}.int8.onnx"


def _save_fold(path: Path, *, found: list[np.ndarray]) -> None:
    with open(path, "wb") as f:  # np.savez would add ".npz" to a path without it
        np.savez(f, readings=np.concatenate(found) if found else np.zeros(0),
                 sizes=np.array([len(r) for r in found], np.int64))


def judge(examples: list[dict], readings: list[np.ndarray], fold: np.ndarray) -> dict:
    """The weight and margin (``choose``) on every example, and the held-out answer-sentence@1 with
    each fold read at the weight and margin chosen on the other folds."""
    fold = np.asarray(fold)
    per_fold = []
    for k in np.unique(fold):
        mine, other = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
        w, m = choose([examples[i] for i in other], [readings[i] for i in other])
        per_fold.append((w, m, [examples[i] for i in mine], [readings[i] for i in mine]))
    right = sum(sentence_at_1(ex, rd, w, m) * len(ex) for w, m, ex, rd in per_fold)
    weight, margin = choose(examples, readings)
    return {
        "weight": weight, "margin": margin,
        "heldout": {
            "questions": len(examples),
            "sentence@1_trees": round(float(np.mean([e["labels"][0] for e in examples])), 4),
            "sentence@1_within_top": round(float(np.mean([e["labels"].any() for e in examples])), 4),
            "sentence@1_reader_alone": round(float(np.mean([e["labels"][int(np.argmax(r))]
                                                            for e, r in zip(examples, readings)])), 4),
            "sentence@1_reread": round(float(right / len(examples)), 4),
            "per_fold_weight_margin": [[float(w), float(m)] for w, m, _, _ in per_fold],
            "share_read_at_margin": round(float(np.mean([not settled(e["keys"], margin) for e in examples])), 4),
        },
    }


def save_readings(path: Path, examples: list[dict], readings: list[np.ndarray], fold: np.ndarray) -> None:
    """What ``judge`` reads, for each example: its keys, labels, held-out readings and fold (flat, with sizes)."""
    np.savez_compressed(path, keys=np.concatenate([e["keys"] for e in examples]).astype(np.float64),
                        labels=np.concatenate([e["labels"] for e in examples]).astype(bool),
                        readings=np.concatenate(readings).astype(np.float64),
                        sizes=np.array([len(e["keys"]) for e in examples], np.int64), fold=np.asarray(fold, np.int64))


def load_readings(path: Path) -> tuple[list[dict], list[np.ndarray], np.ndarray]:
    """``save_readings``' file as ``judge``'s arguments."""
    with np.load(path) as data:
        at = np.concatenate([[0], np.cumsum(data["sizes"])])
        cut = list(zip(at[:-1], at[1:]))
        examples = [{"keys": data["keys"][a:b], "labels": data["labels"][a:b]} for a, b in cut]
        return examples, [data["readings"][a:b] for a, b in cut], data["fold"]


def export(model, tokenizer, out: Path) -> Path:
    """The model as ONNX with int8 weights at ``out`` (the fp32 graph beside it is removed)."""
    import torch

    from qa.onnx_graph import quantized

    fp32 = out.with_suffix(".fp32.onnx")
    example = _batch(tokenizer, ["What is it?", "What is it?"], ["It is a thing.", "A longer sentence than that."])
    model.bert.config._attn_implementation = "eager"  # traces into a graph for any batch and length
    names = ["input_ids", "attention_mask", "token_type_ids"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, example, str(fp32), input_names=names, output_names=["logit"],
                              dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "logit": {0: "batch"}},
                              opset_version=17, dynamo=False)
        quantized(fp32, out, weights_only=False)  # 23 MB instead of 59 (the embedding table)
    finally:
        fp32.unlink(missing_ok=True)
    return out
