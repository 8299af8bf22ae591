"""Experiment (run from the repository root, `python docs/experiments/naming_the_document.py`): does asking a share of questions again, naming their document, help held out?

A: trees fitted on the rows as written (today's data). B: trees fitted on those plus the
rows naming their document. Same folds (whole articles), both judged on both kinds of rows.
"""
import json, pickle, sys, time
from pathlib import Path
import numpy as np
from sklearn.model_selection import GroupKFold
from qa.training import train as T

t0 = time.time()
Path("artifacts/naming").mkdir(parents=True, exist_ok=True)
cache = Path("artifacts/naming/rows.pkl")
if cache.exists():
    rows = pickle.loads(cache.read_bytes())
else:
    rows = T.gather([T.SHARED_DATA / n for n in T.DATA], articles=None, seed=0)
    cache.write_bytes(pickle.dumps(rows))
print(f"rows {len(rows)} in {time.time()-t0:.0f}s", flush=True)
named = np.array([r["id"].endswith("-ctx") for r in rows])
x, y, q = T._matrix(rows)
groups = np.array([rows[i]["article"] for i in q])
cand_named = named[q]
oof = {"A": np.zeros(len(y)), "B": np.zeros(len(y))}
for k, (tr, te) in enumerate(GroupKFold(n_splits=T.FOLDS).split(x, y, groups)):
    a = tr[~cand_named[tr]]
    oof["A"][te] = T._fit(x[a], y[a], seed=0, rounds=T.ROUNDS).predict(x[te])
    oof["B"][te] = T._fit(x[tr], y[tr], seed=0, rounds=T.ROUNDS).predict(x[te])
    print(f"fold {k} {time.time()-t0:.0f}s", flush=True)
np.savez("artifacts/naming/oof.npz", A=oof["A"], B=oof["B"], q=q, named=named)
out = {}
for m in ("A", "B"):
    outcome = T.questions(rows, q, oof[m])
    fit_on = [o for o, n in zip(outcome, named) if not n] if m == "A" else outcome
    th = T.choose_threshold(fit_on)
    vetoes = T.choose_vetoes(fit_on, th)
    out[m] = {"threshold": th, "vetoes": vetoes}
    for part, mask in (("as_written", ~named), ("naming", named)):
        sub = [o for o, n in zip(outcome, mask) if n]
        out[m][part] = T.heldout(sub, th, vetoes)["learned"]
        out[m][part + "_baseline"] = T.heldout(sub, th, vetoes)["baseline"]
print(json.dumps(out, indent=1))
Path("artifacts/naming/ctx.json").write_text(json.dumps(out, indent=1))
