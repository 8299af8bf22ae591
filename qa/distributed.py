"""Distributed build: the texts of a build embedded on a Ray cluster, by actors that each load qa.embed.Encoder once."""

from __future__ import annotations

import copy
import logging
import socket
import sys
import warnings

import numpy as np
from tqdm import tqdm

from qa.config import Settings
from qa.text import clip

CONNECT_SECONDS = 5.0  # how long `qa build --ray HOST:PORT` waits for the cluster's port
BATCH = 256  # texts per map_batches call: what a local build hands its encoder at once
RETRIES = 3  # restarts of a dead actor, and retries of its batch, before the build fails
USAGE = "--ray takes HOST:PORT of a Ray cluster's head (as `ray start --head` prints it) or auto"


class _Embedder:
    """A Ray actor: qa's own encoder, loaded once, so vectors match a local build's."""

    model, backend, precision = "", "auto", "fp32"  # set on the subclass that ``_embedder`` makes

    def __init__(self):
        from qa.embed import Encoder

        self.encoder = Encoder(self.model, backend=self.backend).documents(self.precision)
        self.encoder.encode(["warm-up"])  # the model (and its ONNX graph) loads here, not in the first batch

    def __call__(self, batch: dict) -> dict:
        vectors = self.encoder.encode([str(t) for t in batch["text"]])
        return {"row": batch["row"], "vector": vectors}


def _source(model: str, backend: str, precision: str) -> str:
    """Run on a worker: what its vectors depend on (``qa.embed.Encoder.vector_source``)."""
    from qa.embed import Encoder

    return Encoder(model, backend=backend).documents(precision).vector_source()


def _embedder(model: str, backend: str, precision: str) -> type:
    """``_Embedder`` for one model: settings travel with the class, not as constructor arguments
    in Ray's object store (which a restarted actor could find gone)."""
    return type("_Embedder", (_Embedder,), {"model": model, "backend": backend, "precision": precision})


def check_reachable(address: str) -> None:
    """Raise a one-line ValueError unless ``address`` (HOST:PORT) accepts connections."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{address!r} is not a Ray address: {USAGE}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"cannot reach the Ray cluster at {address} ({reason}): start one with "
                         f"`ray start --head`, or pass its address to --ray") from None


class RayEncoder:
    """qa.embed.Encoder's ``encode`` run on a Ray cluster: Ray Data over the texts, ``map_batches``
    on a pool of ``_Embedder`` actors, the vectors gathered back in order on this machine."""

    texts_per_call = sys.maxsize  # qa.build hands every text to embed in one call: one Ray job per build

    def __init__(self, address: str, settings: Settings, *, actors: int | None = None, batch_size: int = BATCH):
        try:
            import ray
        except ImportError:
            raise ValueError("`qa build --ray` needs Ray: pip install 'qa[ray]'") from None
        from qa.embed import model_path

        model_path(settings.model)  # a wrong model fails here, not on every worker
        if address != "auto":
            check_reachable(address)
        self.model_id = settings.model
        self.backend = settings.backend
        self.precision = "fp32"  # of the weights documents are embedded with (see documents)
        self.batch_size = batch_size
        self.address = address
        self._source: str | None = None  # what the workers' vectors depend on, asked once (vector_source)
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # ConnectionError when "auto" finds none; RuntimeError and others from Ray
            raise ValueError(f"cannot join the Ray cluster at {address} ({_gist(exc)}): start one with "
                             f"`ray start --head`, or pass its address to --ray") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.actors = max(1, min(actors or cpus, cpus))

    def documents(self, precision: str) -> RayEncoder:
        """This encoder with the workers embedding at ``precision``; "auto" is resolved on this
        machine, as a local build would (the int8 encoder's vectors do not depend on the batch)."""
        if precision == "auto":
            from qa.embed import Encoder

            precision = Encoder(self.model_id, backend=self.backend).documents("auto").precision
        if precision == self.precision:
            return self
        sibling = copy.copy(self)
        sibling.precision = precision
        sibling._source = None  # another precision, another graph
        return sibling

    def vector_source(self) -> str:
        """What the workers' vectors depend on, asked of one of them: the index records it, as a
        local build's does (a cluster is one install; its workers share the graph)."""
        import ray

        if self._source is None:
            try:
                probe = ray.remote(num_cpus=1, max_retries=RETRIES)(_source)
                self._source = ray.get(probe.remote(self.model_id, self.backend, self.precision))
            except Exception as exc:
                raise self._failed(exc) from None
        return self._source

    def _failed(self, exc: BaseException) -> ValueError:
        return ValueError(f"the Ray build on {self.address} failed ({_gist(_root_cause(exc))}); "
                          "nothing was written: run it again, or build without --ray")

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        import ray
        from ray.data import ActorPoolStrategy, DataContext

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        for name in ("ray", "ray.data"):  # Ray Data logs each run's start and end at INFO
            logging.getLogger(name).setLevel(logging.ERROR)
        context = DataContext.get_current()
        context.enable_progress_bars = False  # one bar below, ours, instead of one per operator
        context.print_on_execution_start = False
        # Blocks made here, not by a task: the actors may hold every CPU of a small cluster.
        # At least one block per actor, so that each has work.
        batch = min(self.batch_size, -(-len(texts) // self.actors))
        rows = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)],
                                   override_num_blocks=-(-len(texts) // batch))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ray's deprecation notes about its own remote arguments
            embedded = rows.map_batches(
                _embedder(self.model_id, self.backend, self.precision),
                batch_size=batch, compute=ActorPoolStrategy(size=self.actors), num_cpus=1,
                batch_format="numpy", max_restarts=RETRIES, max_task_retries=RETRIES,
            )
        vectors: np.ndarray | None = None
        desc = f"embedding on Ray ({self.actors} actors)"
        try:
            with tqdm(total=len(texts), desc=desc, unit="text", disable=not progress) as bar, \
                    warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for out in embedded.iter_batches(batch_size=None, batch_format="numpy"):
                    if vectors is None:
                        vectors = np.zeros((len(texts), out["vector"].shape[1]), dtype=np.float32)
                    vectors[out["row"]] = out["vector"]
                    bar.update(len(out["row"]))
        except Exception as exc:  # a worker that kept dying, a lost node, an actor that cannot load the model
            raise self._failed(exc) from None
        return vectors


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None and exc.__cause__ is not exc:
        exc = exc.__cause__
    return exc


def _gist(exc: BaseException, limit: int = 200) -> str:
    return clip(str(exc), limit) or type(exc).__name__
