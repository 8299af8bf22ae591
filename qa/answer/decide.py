"""Decide: P(this sentence answers the question) from a fitted model, and the threshold to answer.

The model is gradient-boosted trees fitted by ``qa train`` (LightGBM) and shipped as plain
JSON arrays in ``qa/answer/model/``; ONNX Runtime, which the query path already runs, evaluates
them (``Trees.margin``), so it needs neither LightGBM nor the pandas and scikit-learn it imports
(4.5 s cold).
A second set of trees, the ranker (LambdaRank), has a say in the order the reply takes
(``Decision.keys``), not in P.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from qa.answer.features import FEATURES
from qa.answer.reader import Reader, logit
from qa.onnx_graph import inference_session
from qa.swap import replace_file

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = "decision.json"  # the trees
MANIFEST_FILE = "manifest.json"  # how they were fitted, on what, and how they scored held out
READER_FILE = "reader.int8.onnx"  # the cross-encoder that re-reads the best few (qa.answer.reader)
RANKER_FILE = "ranker.json"  # trees fitted to order one question's sentences (LambdaRank)
READINGS_FILE = "reader.heldout.npz"  # the reader's held-out readings its weight and margin were chosen on
GATE_FILE = "gate.json"  # trees over P, the reading and the first candidate: answer or not (qa.training.gate)
GRAPH_FORMAT = "TreeEnsemble ai.onnx.ml 5, IR 10, float64"  # of Trees.to_onnx: a cached graph of another is rebuilt


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
        """The summed leaf values for each row of ``x`` (rows, features), in float64.

        ONNX Runtime walks the trees (its ``TreeEnsemble`` operator, built from these arrays once
        an install and cached, ``_cached_graph``): the same sums, to the last bit, as the numpy
        walk it replaced, for 0.3 ms where that took 3 ms (a question's 23 candidates through both
        ensembles)."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        if not len(x):
            return np.zeros(0)
        return self._session.run(None, {"x": x})[0][:, 0]

    def __getstate__(self) -> dict:  # pickled (to a Ray worker, say) without its session: the arrays rebuild it
        return {k: v for k, v in self.__dict__.items() if k != "_session"}

    @cached_property
    def _session(self):
        # One thread: a question's few dozen rows cost threads more than they save.
        cached = self._cached_graph()
        try:
            return inference_session(cached.read_bytes(), threads=1)
        except Exception:  # not cached yet, or unreadable: built again (and cached when the cache can be written)
            graph = self.to_onnx()
            _write_atomically(cached, graph)
            return inference_session(graph, threads=1)

    def _cached_graph(self) -> Path:
        """Where ``to_onnx``'s bytes for these arrays are kept: building them imports onnx and walks
        every node in Python, 0.1 s of a cold question, so an install builds them once."""
        key = hashlib.sha256(GRAPH_FORMAT.encode())
        for name in ("feature", "threshold", "left", "right", "value"):
            key.update(np.ascontiguousarray(getattr(self, name)).tobytes())
        from qa.config import cache_root

        return cache_root() / "trees" / f"{key.hexdigest()[:24]}.onnx"

    def to_onnx(self) -> bytes:
        """The trees as an ONNX graph of one ``TreeEnsemble`` node (ai.onnx.ml opset 5), float64
        in and out: x (rows, features) -> the summed leaf values (rows, 1)."""
        from onnx import TensorProto, helper, numpy_helper

        split_feature, split, true_id, true_leaf, false_id, false_leaf, roots, leaf_values = ([] for _ in range(8))
        for t in range(self.feature.shape[0]):
            inner, leaves = [], []
            stack = [0]
            while stack:  # the nodes reachable from the root, depth first
                i = stack.pop()
                if self.feature[t, i] >= 0:
                    inner.append(i)
                    stack += [int(self.right[t, i]), int(self.left[t, i])]
                else:
                    leaves.append(i)
            if not inner:  # a lone leaf: one split whose two sides both end in it
                inner = [-1]
            at = {i: len(split) + k for k, i in enumerate(inner)}
            leaf_at = {i: len(leaf_values) + k for k, i in enumerate(leaves)}
            roots.append(at[inner[0]])
            for i in inner:
                sides = (0, 0) if i < 0 else (int(self.left[t, i]), int(self.right[t, i]))
                split_feature.append(0 if i < 0 else int(self.feature[t, i]))
                split.append(0.0 if i < 0 else float(self.threshold[t, i]))
                for child, ids, is_leaf in zip(sides, (true_id, false_id), (true_leaf, false_leaf)):
                    ids.append(leaf_at[child] if child in leaf_at else at[child])
                    is_leaf.append(int(child in leaf_at))
            leaf_values += [float(self.value[t, i]) for i in leaves]
        node = helper.make_node(
            "TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", aggregate_function=1, post_transform=0,
            n_targets=1, tree_roots=roots, nodes_featureids=split_feature,
            nodes_modes=numpy_helper.from_array(np.zeros(len(split), np.uint8)),  # BRANCH_LEQ: left when x <= split
            nodes_splits=numpy_helper.from_array(np.asarray(split, np.float64)),
            nodes_truenodeids=true_id, nodes_trueleafs=true_leaf,
            nodes_falsenodeids=false_id, nodes_falseleafs=false_leaf,
            leaf_targetids=[0] * len(leaf_values), leaf_weights=numpy_helper.from_array(np.asarray(leaf_values)),
        )
        rows_in = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, None])
        sums_out = helper.make_tensor_value_info("y", TensorProto.DOUBLE, [None, 1])
        graph = helper.make_graph([node], "trees", [rows_in], [sums_out])
        model = helper.make_model(graph, ir_version=10,  # onnx 1.23 writes 14, which ONNX Runtime 1.21-1.23 refuse
                                  opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
        return model.SerializeToString()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(positive) of each row."""
        return 1.0 / (1.0 + np.exp(-self.margin(x)))

    def to_dict(self) -> dict:
        return {"depth": self.depth, **{k: getattr(self, k).tolist() for k in
                                         ("feature", "threshold", "left", "right", "value")}}

    def dumps(self) -> bytes:
        """The trees as the one line of JSON ``save`` writes (its digest is the manifest's)."""
        return (json.dumps(self.to_dict(), separators=(",", ":")) + "\n").encode("utf-8")

    def save(self, path: Path) -> None:
        """Write the trees as one line of JSON (``load`` reads it back)."""
        path.write_bytes(self.dumps())

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


def _write_atomically(path: Path, data: bytes) -> None:
    """``data`` to ``path`` whole or not at all; a cache that cannot be written is left alone."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, lambda tmp: tmp.write_bytes(data))
    except OSError:
        pass


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
class Gate:
    """Whether a reply answers: trees over logit(P) of the best candidate, the reader's best logit
    over the first candidates and the first candidate's features (``qa.training.gate``), against a
    threshold on their margin. They rise with the reading, so the reader runs only when the margin
    at the lowest reading and at the highest fall on either side of the threshold."""

    trees: Trees
    threshold: float
    unread: float  # a reading beyond every split: -unread is the lowest, +unread the highest

    def row(self, p: float, reading: float, first: np.ndarray) -> np.ndarray:
        return np.r_[logit(np.array([p]))[0], reading, np.asarray(first, np.float64)]

    def answers(self, p: float, first: np.ndarray, read) -> tuple[bool, float]:
        """Whether to answer, and the gate's margin (at the reading, or at the bound that settled
        it); ``read()`` gives the best reading, called only when the bounds fall on either side."""
        low, high = self.trees.margin(np.stack([self.row(p, -self.unread, first), self.row(p, self.unread, first)]))
        if low >= self.threshold:
            return True, float(low)
        if high < self.threshold:
            return False, float(high)
        margin = float(self.trees.margin(self.row(p, read(), first)[None, :])[0])
        return margin >= self.threshold, margin


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
    gate: Gate | None = None  # answer or abstain, a call on the question (None: the best P against ``threshold``)

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
        return reply_order(p, self.ranker.margin(features), self.ranker_weight)

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
        gate = _gate(folder, manifest.get("gate")) if reader is not None else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the answer model in {folder} cannot be used ({exc}): run `qa train`") from None
    return Decision(trees, float(manifest["threshold"]), tuple(manifest.get("vetoes", ())), manifest,
                    float(manifest.get("runner_up_share", 0.5)), reader, ranker, ranker_weight, gate)


def _gate(folder: Path, entry: dict | None) -> Gate | None:
    """The gate a manifest names, checked against its digest and this version's features; none when it names none."""
    if not entry:
        return None
    if entry["features"][2:] != [f"first_{name}" for name in FEATURES]:
        raise ValueError("the gate was fitted on other features than this version computes")
    return Gate(Trees.load(_checked(folder, entry)), float(entry["threshold"]), float(entry["unread"]))


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
