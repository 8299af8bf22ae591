"""Experiment: the reader fine-tuned for one epoch and for two, on one fold (two shipped since).

``qa train``'s examples and trees are made again (its gather and cross-validation), the reader is
fitted on the other folds' questions for one and for two epochs (``qa.training.reader.fit``,
everything else as shipped), each is exported to int8 and read on the fold's held-out questions
as ``qa train`` reads them, and answer-sentence@1 after re-reading is printed for every weight of
the grid (always reading), at the shipped weight and margin, and for the reader alone. Both fits
on the same examples, so the two columns differ by the epochs only. About 70 minutes on two cores.

    python docs/experiments/reader_epochs.py [--fold 0]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fold", type=int, default=0, help="which of qa train's folds is held out")
    args = parser.parse_args()
    from qa.config import BUNDLED_MODEL
    from qa.embed import model_path
    from qa.training import reader
    from qa.training.train import DATA, SHARED_DATA, fit_and_judge, gather

    started = time.time()
    rows = gather([SHARED_DATA / name for name in DATA], articles=None, seed=0)
    report = fit_and_judge(rows, seed=0)
    examples = reader.items(rows, report["q"], report["keys"])
    held = report["held_out_articles"][args.fold]
    train = [e for e in examples if e["article"] not in held]
    test = [e for e in examples if e["article"] in held]
    print(f"{len(examples)} questions; fold {args.fold + 1}: fitted on {len(train)}, held out {len(test)} "
          f"({time.time() - started:.0f} s)", flush=True)
    base = model_path(BUNDLED_MODEL)
    for epochs in (1, 2):
        reader.EPOCHS = epochs
        started = time.time()
        found, fold = reader.cross_validate(examples, [held], base, seed=0)  # fit on the rest, read the fold
        readings = [r for r, k in zip(found, fold) if k == 0]
        by_weight = {w: round(reader.sentence_at_1(test, readings, w), 4) for w in reader.WEIGHTS}
        print(f"epochs {epochs} ({time.time() - started:.0f} s): trees {by_weight[0.0]}; always re-read, by weight "
              f"{json.dumps(by_weight)}; at 4.0 / margin 8.0 {reader.sentence_at_1(test, readings, 4.0, 8.0):.4f}; "
              f"the reader alone {reader.sentence_at_1(test, readings, 1e6):.4f}", flush=True)


if __name__ == "__main__":
    main()
