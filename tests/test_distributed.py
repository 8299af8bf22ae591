"""`qa build --ray` on a real local Ray cluster: the local build's index, a killed worker, clear failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qa.cli import main
from qa.index import load_index

from conftest import SEEDS, one_error_line

pytest.importorskip("ray")
pytestmark = pytest.mark.distributed

BUILD_SECONDS = 300
ACTOR = "MapBatches(_Embedder)"


@pytest.fixture(scope="module")
def cluster():
    from ray_cluster import RayCluster

    running = RayCluster(cpus=2)
    yield running
    running.stop()


def build(docs: Path, index: Path, *extra: str, wait: bool = True):
    command = [sys.executable, "-m", "qa", "build", "--docs", str(docs), "--index", str(index), *extra]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("QA_MODEL", None)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return process.communicate(timeout=BUILD_SECONDS) + (process.returncode,) if wait else process


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The seeds (and a broken file) built on this machine, the baseline of every Ray build."""
    docs = tmp_path_factory.mktemp("docs")
    for path in SEEDS.iterdir():
        (docs / path.name).write_bytes(path.read_bytes())
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    out, err, code = build(docs, docs.parent / "local")
    assert code == 0, err
    return docs, docs.parent / "local", out, err


def assert_same_index(got: Path, want: Path) -> None:
    a, b = load_index(got, check_corpus=False), load_index(want, check_corpus=False)
    assert a.passages == b.passages
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-5)
    np.testing.assert_allclose(a.sentence_vectors, b.sentence_vectors, atol=1e-5)
    assert a.docs_dir == b.docs_dir
    # Timings differ from run to run; the folder is the same, seen from elsewhere.
    same = {"built_at", "build_seconds", "seconds", "docs_dir"}
    assert {k: v for k, v in a.manifest.items() if k not in same} == \
        {k: v for k, v in b.manifest.items() if k not in same}
    for name in ("passages.jsonl", "idf.json"):
        assert (got / name).read_bytes() == (want / name).read_bytes(), name


@pytest.mark.model  # on a real cluster
def test_ray_build_is_the_local_build(cluster, local, tmp_path):
    docs, baseline, local_out, local_err = local
    out, err, code = build(docs, tmp_path / "ray", "--ray", cluster.address)
    assert code == 0, err
    assert_same_index(tmp_path / "ray", baseline)
    # The broken file is named once, as the local build names it.
    assert err.count("broken.pdf") == local_err.count("broken.pdf") == 1
    assert out.count("broken.pdf") == local_out.count("broken.pdf") == 1

    from qa.api import Engine
    from qa.config import Settings
    from qa.embed import Encoder

    settings, encoder = Settings(), Encoder()
    on_ray = Engine(load_index(tmp_path / "ray", check_corpus=False), encoder, settings)
    on_local = Engine(load_index(baseline, check_corpus=False), encoder, settings)
    rows = [json.loads(line) for line in (SEEDS.parent / "tests/eval/seed_questions.jsonl").read_text().splitlines()]
    for row in rows[:20]:
        assert on_ray.ask(row["question"]).to_dict() == on_local.ask(row["question"]).to_dict()


@pytest.mark.model  # on a real cluster
def test_killed_worker_is_retried_or_fails_cleanly(cluster, local, tmp_path):
    """A Ray worker killed mid-build: Ray restarts it and the build ends with the local build's
    index, or the build fails with one line and writes nothing."""
    docs, baseline, _, _ = local
    target = tmp_path / "ray"
    process = build(docs, target, "--ray", cluster.address, wait=False)
    killed, deadline = None, time.monotonic() + BUILD_SECONDS
    while killed is None and process.poll() is None and time.monotonic() < deadline:
        workers = [pid for pid, command in cluster.descendants() if ACTOR in command]
        if workers:
            time.sleep(1.0)  # into its model loading or first batch
            os.kill(workers[0], signal.SIGKILL)
            killed = workers[0]
        time.sleep(0.2)
    out, err = process.communicate(timeout=BUILD_SECONDS)
    assert killed is not None, "no embedding actor ever ran"
    print(f"killed worker {killed}; build exit {process.returncode}: {err.strip().splitlines()[-1:]}")
    if process.returncode == 0:
        assert_same_index(target, baseline)
    else:
        lines = [line for line in err.splitlines() if line.startswith("qa: error:")]
        assert len(lines) == 1 and "Ray" in lines[0], err
        assert not target.exists()
    assert not list(tmp_path.glob(".ray.building-*"))  # no half-written index left beside it


@pytest.mark.model  # on a real cluster
def test_workers_that_cannot_embed_fail_in_one_line(cluster, local, tmp_path):
    """Every worker fails (a model folder whose weights are missing): one line, nothing written."""
    docs, _, _, _ = local
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    env = dict(os.environ, HF_HUB_OFFLINE="1", QA_MODEL=str(model))
    command = [sys.executable, "-m", "qa", "build", "--docs", str(docs), "--index", str(tmp_path / "ray"),
               "--ray", cluster.address]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=BUILD_SECONDS)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("qa: error:")]
    assert len(lines) == 1 and f"the Ray build on {cluster.address} failed" in lines[0], done.stderr
    assert not (tmp_path / "ray").exists()
    assert not list(tmp_path.glob(".ray.building-*"))


def test_unreachable_ray_is_one_line_naming_it(corpus, tmp_path, capsys, fake_model):
    from ray_cluster import free_port

    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    assert main(["build", "--docs", str(corpus), "--index", str(tmp_path / "index"), "--ray", address]) == 1
    line = one_error_line(capsys)
    assert f"cannot reach the Ray cluster at {address}" in line
    assert time.monotonic() - started < 30
    assert not (tmp_path / "index").exists()
    assert not list(tmp_path.glob(".index*"))


def test_bad_ray_address_is_one_line(corpus, tmp_path, capsys, fake_model):
    assert main(["build", "--docs", str(corpus), "--index", str(tmp_path / "index"), "--ray", "nowhere"]) == 1
    assert "--ray takes HOST:PORT" in one_error_line(capsys)
