"""Plots of an evaluation report: recall@k per retriever and the abstention curves, as PNG files."""

from __future__ import annotations

from pathlib import Path

COLORS = {"hybrid": "#c0392b", "bm25": "#2471a3", "dense": "#229954", "hybrid, 0.1 decision": "#7d3c98",
          "hybrid, trees alone": "#d68910"}
MARKERS = {"hybrid": "o", "bm25": "s", "dense": "^", "hybrid, 0.1 decision": "D", "hybrid, trees alone": "v"}
BELOW = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.13), "ncol": 2, "frameon": False}  # legends off the curves


def check_available() -> None:
    """Fail before a long run, not after it, when matplotlib (the ``eval`` extra) is missing."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise ValueError("qa eval draws plots with matplotlib: pip install 'qa[eval]' (or -e '.[eval]')")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 12, "axes.titlesize": 14, "axes.labelsize": 12, "legend.fontsize": 11})
    return plt


def plot_recall(report: dict, path: Path) -> Path:
    """recall@k for k = 1..20, one line per retriever, the engine drawn on top."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5), layout="constrained")
    for mode, m in reversed(report["retrievers"].items()):
        if mode not in ("hybrid", "bm25", "dense"):
            continue  # another decision over hybrid retrieval: the same recall
        ks = range(1, len(m["recall_at"]) + 1)
        label = f"{mode} (R@1 {m['recall@1']:.3f}, R@5 {m['recall@5']:.3f})" if m["recall_at"] else mode
        ax.plot(ks, m["recall_at"], marker=MARKERS[mode], markersize=5, linewidth=2.4 if mode == "hybrid" else 1.6,
                color=COLORS[mode], label=label)
    ax.set(title=f"Retrieval: gold source in the top k — {Path(report['dataset']['path']).stem}",
           xlabel="k (distinct sources, best first)", ylabel="recall@k (share of answerable questions)",
           xticks=[1, 2, 3, 5, 10, 15, 20])
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], loc="lower right")
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_abstention(report: dict, path: Path) -> Path:
    """Left: answer rate against precision per retriever. Right: the engine's abstention by threshold."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6.5), layout="constrained")
    t0 = report["abstain_below"]
    for mode, m in reversed(report["retrievers"].items()):
        pts = [p for p in m["curve"] if p["precision"] is not None]
        at = next(p for p in m["curve"] if p["threshold"] == report["thresholds"].get(mode, t0))
        left.plot([p["answer_rate"] for p in pts], [p["precision"] for p in pts], color=COLORS[mode],
                  linewidth=2.4 if mode == "hybrid" else 1.6, label=mode)
        if at["precision"] is not None:
            left.plot(at["answer_rate"], at["precision"], "o", color=COLORS[mode], markersize=9,
                      markeredgecolor="black", zorder=3)
    left.plot([], [], "o", color="gray", markeredgecolor="black", label="at each decision's threshold")
    left.set(title="Answer rate vs precision (all retrievers)", xlabel="answer rate (share of questions answered)",
             ylabel="precision (share of answers that are right)", xlim=(0, 1.02), ylim=(0, 1.02))
    handles, labels = left.get_legend_handles_labels()
    left.legend(handles[-2::-1] + handles[-1:], labels[-2::-1] + labels[-1:], **BELOW)

    curve = report["retrievers"]["hybrid"]["curve"]
    ts = [p["threshold"] for p in curve]
    for key, style, label in (("abstain_precision", "-", "abstention precision"),
                              ("abstain_recall", "--", "abstention recall"), ("answer_rate", ":", "answer rate")):
        right.plot(ts, [float("nan") if p[key] is None else p[key] for p in curve], style, linewidth=2.2,
                   color={"answer_rate": "gray"}.get(key, COLORS["hybrid"]), label=label)
    right.axvline(t0, color="black", linewidth=1, label=f"fitted threshold {t0:.3f}")
    right.set(title="Engine (hybrid): abstaining by confidence", xlabel="threshold (abstain below this P)",
              ylabel="share", ylim=(0, 1.02))
    if report["dataset"]["questions"] == report["dataset"]["answerable"]:
        right.text(0.5, 0.5, "no unanswerable questions:\nabstention precision/recall undefined",
                   ha="center", transform=right.transAxes)
    right.legend(**BELOW)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(f"Abstention — {Path(report['dataset']['path']).stem}", fontsize=15)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
