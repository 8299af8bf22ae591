"""Decide: P(this sentence answers the question) from a fitted model, and the threshold to answer.

The model is gradient-boosted trees fitted by ``qa train`` (LightGBM) and shipped as plain
JSON arrays in ``qa/answer/model/``; evaluating them here takes a few array operations, so the
query path needs neither LightGBM nor the pandas and scikit-learn it imports (4.5 s cold).
A second set of trees, the ranker (LambdaRank), has a say in the order the reply takes
(``Decision.keys``), not in P.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.answer.features import FEATURES
from qa.answer.reader import Reader, logit

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = "decision.json"  # the trees
MANIFEST_FILE = "manifest.json"  # how they were fitted, on what, and how they scored held out
READER_FILE = "reader.int8.onnx"  # the cross-encoder that re-reads the best few (qa.answer.reader)
RANKER_FILE = "ranker.json"  # trees fitted to order one question's sentences (LambdaRank)
READINGS_FILE = "reader.heldout.npz"  # the reader's held-out readings its weight and margin were chosen on


@dataclass(frozen=True)
class Trees:
    """An ensemble of binary trees as flat arrays: node i of tree t splits ``feature[t, i]`` at
    ``threshold[t, i]`` (go left when the value is at most it); a leaf has ``feature`` -1."""

    feature: np.ndarray  # (trees, nodes) int32
    threshold: np.ndarray  # (trees, nodes) float64
    left: np.ndarray  # (trees, nodes) int32
    right: np.ndarray  # (trees, nodes) int32
    value: np.ndarray  # (trees, nodes) float64, leaves only
    depth: int

    def margin(self, x: np.ndarray) -> np.ndarray:
        """The summed leaf values for each row of ``x`` (rows, features).

        Every (tree, row) pair walks down together, level by level; a pair that reached its leaf
        drops out, so a level costs what is left of the walk (the deepest leaf is 12-13 levels
        down, most are far higher: half the time of walking every pair to the deepest level)."""
        count, n = self.feature.shape[0], len(x)
        trees, rows = np.repeat(np.arange(count), n), np.tile(np.arange(n), count)
        node = np.zeros(count * n, dtype=np.int32)
        walking = np.arange(count * n)
        while walking.size:
            f = self.feature[trees[walking], node[walking]]
            inner = f >= 0
            walking, f = walking[inner], f[inner]
            t, at = trees[walking], node[walking]
            go_left = x[rows[walking], f] <= self.threshold[t, at]
            node[walking] = np.where(go_left, self.left[t, at], self.right[t, at])
        return self.value[trees, node].reshape(count, n).sum(axis=0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(positive) of each row."""
        return 1.0 / (1.0 + np.exp(-self.margin(np.asarray(x, dtype=np.float64))))

    def to_dict(self) -> dict:
        return {"depth": self.depth, **{k: getattr(self, k).tolist() for k in
                                         ("feature", "threshold", "left", "right", "value")}}

    def save(self, path: Path) -> None:
        """Write the trees as one line of JSON (``load`` reads it back)."""
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Trees:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def from_dict(cls, data: dict) -> Trees:
        return cls(np.asarray(data["feature"], np.int32), np.asarray(data["threshold"], np.float64),
                   np.asarray(data["left"], np.int32), np.asarray(data["right"], np.int32),
                   np.asarray(data["value"], np.float64), int(data["depth"]))

    @classmethod
    def from_lightgbm(cls, dump: dict) -> Trees:
        """Flatten ``Booster.dump_model()``: every split is numerical ``<=``, no value is missing."""
        flat = [_flatten(info["tree_structure"]) for info in dump["tree_info"]]
        width = max(len(nodes) for nodes in flat)
        arrays = {k: np.full((len(flat), width), fill, dtype) for k, fill, dtype in
                  (("feature", -1, np.int32), ("threshold", 0.0, np.float64), ("left", 0, np.int32),
                   ("right", 0, np.int32), ("value", 0.0, np.float64))}
        depth = 0
        for t, nodes in enumerate(flat):
            for i, (feature, threshold, left, right, value, level) in enumerate(nodes):
                for key, item in zip(("feature", "threshold", "left", "right", "value"),
                                     (feature, threshold, left, right, value)):
                    arrays[key][t, i] = item
                depth = max(depth, level)
        return cls(**arrays, depth=depth)


def _flatten(root: dict) -> list[tuple]:
    """Nodes in breadth-first order: (feature, threshold, left, right, value, depth)."""
    nodes: list[list] = []
    queue = [(root, 0)]
    while queue:
        node, level = queue.pop(0)
        i = len(nodes)
        nodes.append([-1, 0.0, i, i, float(node.get("leaf_value", 0.0)), level])
        if "split_index" in node:
            if node.get("decision_type", "<=") != "<=":
                raise ValueError(f"unsupported split {node['decision_type']!r}: refit with `qa train`")
            nodes[i][0], nodes[i][1] = int(node["split_feature"]), float(node["threshold"])
            nodes[i][2] = len(nodes) + len(queue)
            nodes[i][3] = nodes[i][2] + 1
            queue += [(node["left_child"], level + 1), (node["right_child"], level + 1)]
    return [tuple(n) for n in nodes]


@dataclass(frozen=True)
class Decision:
    """The fitted model, the P under which a reply abstains, and the checks that veto."""

    trees: Trees
    threshold: float
    vetoes: tuple[str, ...]
    manifest: dict
    runner_up_share: float = 0.5  # a runner-up is quoted when its P is at least this share of the best's
    reader: Reader | None = None  # re-orders the best few by reading them (None: P's order alone)
    ranker: Trees | None = None  # orders one question's sentences; its score is no probability
    ranker_weight: float = 0.0  # of the ranker's score beside logit(P) in the reply's order

    def scores(self, intent, cands: list, features: np.ndarray) -> np.ndarray:
        """P(each candidate answers the question): the reply's confidence and whether it answers."""
        return self.trees.predict(features) if len(features) else np.zeros(0)

    def keys(self, p: np.ndarray, features: np.ndarray) -> np.ndarray:
        """The reply's order, highest first: logit(P) + ``ranker_weight`` x the ranker's score.

        The trees fit P question by question's candidates alike; the ranker (LambdaRank) only
        orders one question's sentences against each other, and held out the two together pick
        the answer sentence more often than either (docs/evaluation.md)."""
        if self.ranker is None or not self.ranker_weight or not len(features):
            return logit(p)
        return reply_order(p, self.ranker.margin(np.asarray(features, dtype=np.float64)), self.ranker_weight)

    def confidence(self, intent, ranked: list) -> float:
        """The reply's confidence: the highest P among the candidates (the reader re-orders, it does not score)."""
        return max(c.score for c in ranked)


def reply_order(p: np.ndarray, ranked: np.ndarray, weight: float) -> np.ndarray:
    """The key the reply's sentences are ordered by: logit(P) + ``weight`` x the ranker's score."""
    return logit(p) + weight * np.asarray(ranked, np.float64)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@lru_cache(maxsize=4)
def load(folder: str | Path = MODEL_DIR) -> Decision:
    """The decision shipped in ``folder``; a missing, altered or outdated one says `qa train`."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        if digest(folder / MODEL_FILE) != manifest["sha256"]:
            raise ValueError(f"{folder / MODEL_FILE} does not match its manifest")
        if tuple(manifest["features"]) != FEATURES:
            raise ValueError("the model was fitted on other features than this version computes")
        trees = Trees.load(folder / MODEL_FILE)
        reader = _reader(folder, manifest.get("reader"))
        ranker, ranker_weight = _ranker(folder, manifest.get("ranker"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the answer model in {folder} cannot be used ({exc}): run `qa train`") from None
    return Decision(trees, float(manifest["threshold"]), tuple(manifest.get("vetoes", ())), manifest,
                    float(manifest.get("runner_up_share", 0.5)), reader, ranker, ranker_weight)


def _ranker(folder: Path, entry: dict | None) -> tuple[Trees | None, float]:
    """The ranker a manifest names, checked against its digest, and its weight; none when it names none."""
    if not entry:
        return None, 0.0
    return Trees.load(_checked(folder, entry)), float(entry["weight"])


def _checked(folder: Path, entry: dict) -> Path:
    """The file a manifest entry names, after checking it against the entry's digest."""
    path = folder / entry["file"]
    if digest(path) != entry["sha256"]:
        raise ValueError(f"{path} does not match its manifest")
    return path


def _reader(folder: Path, entry: dict | None) -> Reader | None:
    """The reader a manifest names, checked against its digest; ``None`` when it names none."""
    if not entry:
        return None
    graph = _checked(folder, entry)
    from qa.embed import model_path

    return Reader(graph, model_path(entry["tokenizer"]) / "tokenizer.json", top=entry["top"],
                  weight=entry["weight"], margin=entry["margin"])
