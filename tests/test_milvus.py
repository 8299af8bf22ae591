"""Milvus store on Milvus Lite (the real engine): same answers as the FAISS files, clear failures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.api import Engine
from qa.build import build_index
from qa.cli import main
from qa.index import IndexProblem, load_index
from qa.lexical import tokenize
from qa.retrieve import search

from conftest import REPO, SEEDS, one_error_line

pytest.importorskip("pymilvus")
pytestmark = pytest.mark.distributed


@pytest.fixture(autouse=True)
def closed_clients():
    """Each test's Milvus clients closed after it: gRPC threads left running make a later
    test's fork (subprocess with preexec_fn) abort in the child."""
    from qa import milvus_store

    yield
    milvus_store.close_all()

QUESTIONS = ["What is matcha?", "How hot should the water be for sencha?", "Where are red clay teapots made?",
             "What does a tea cup cost?", "Who bakes in Zürich?", "How long do Morioka kettles keep water hot?",
             "What is a chasen?", "Which tea do locals drink with rice crackers?", "quantum chromodynamics"]


@pytest.fixture
def both(corpus, tmp_path, fake_encoder, fake_settings):
    """The tiny corpus indexed twice: FAISS files, and Milvus Lite."""
    files = build_index(corpus, tmp_path / "files", settings=fake_settings, encoder=fake_encoder)
    milvus = build_index(corpus, tmp_path / "milvus", settings=fake_settings, encoder=fake_encoder,
                         store=f"milvus:{tmp_path / 'qa.db'}")
    return files, milvus


def test_milvus_search_matches_faiss_in_every_mode(both, fake_encoder, fake_settings):
    files, milvus = both
    assert milvus.manifest["store"]["kind"] == "milvus"
    assert not (milvus.root / "passages.faiss").exists()  # the vectors are in Milvus only
    loaded = load_index(milvus.root)
    for question in QUESTIONS:
        vector, tokens = fake_encoder.encode([question])[0], tokenize([question])[0]
        for mode in ("hybrid", "dense", "bm25"):
            want = search(files, vector, tokens, settings=fake_settings, k=8, mode=mode)
            got = search(loaded, vector, tokens, settings=fake_settings, k=8, mode=mode)
            assert [h.passage for h in got] == [h.passage for h in want], (question, mode)
            for g, w in zip(got, want):
                assert g.score == pytest.approx(w.score, abs=1e-5)
                assert g.lexical == pytest.approx(w.lexical, rel=1e-5, abs=1e-6)
                assert g.dense == pytest.approx(w.dense, abs=1e-5)


def test_milvus_answers_and_citations_match_faiss(both, fake_encoder, fake_settings):
    files, milvus = both
    on_files, on_milvus = Engine(files, fake_encoder, fake_settings), Engine(load_index(milvus.root), fake_encoder,
                                                                              fake_settings)
    for question in QUESTIONS:
        assert on_milvus.ask(question).to_dict() == on_files.ask(question).to_dict(), question


def test_rebuild_drops_the_replaced_collections(both, corpus, fake_encoder, fake_settings):
    from qa import milvus_store

    _, milvus = both
    first = milvus.manifest["store"]
    (corpus / "extra.txt").write_text("Genmaicha is green tea with roasted rice.\n", encoding="utf-8")
    again = build_index(corpus, milvus.root, settings=fake_settings, encoder=fake_encoder)  # store as recorded
    assert again.manifest["store"]["collections"] != first["collections"]
    client = milvus_store.connect(milvus_store.target_of(first, milvus.root))
    names = set(client.list_collections())
    assert not set(first["collections"].values()) & names
    assert set(again.manifest["store"]["collections"].values()) <= names
    assert "Genmaicha" in Engine(load_index(milvus.root), fake_encoder, fake_settings).ask(
        "What is genmaicha?").citations[0].quote


def test_failed_milvus_build_keeps_the_old_index_and_drops_its_collections(both, corpus, fake_encoder,
                                                                           fake_settings, monkeypatch):
    from qa import milvus_store

    _, milvus = both
    before = (milvus.root / "manifest.json").read_text()
    client = milvus_store.connect(milvus_store.target_of(milvus.manifest["store"], milvus.root))
    names = set(client.list_collections())
    real = milvus_store._insert

    def broken(client, name, rows):
        if name.endswith("_s"):
            raise OSError("disk full")
        real(client, name, list(rows))

    monkeypatch.setattr(milvus_store, "_insert", broken)
    with pytest.raises(OSError, match="disk full"):
        build_index(corpus, milvus.root, settings=fake_settings, encoder=fake_encoder, store="milvus:" + str(
            milvus_store.target_of(milvus.manifest["store"], milvus.root).uri))
    assert (milvus.root / "manifest.json").read_text() == before
    assert set(client.list_collections()) == names
    load_index(milvus.root)


def test_unreachable_milvus_is_one_line_naming_it_and_writes_nothing(corpus, tmp_path, capsys, fake_model):
    index = tmp_path / "index"
    assert main(["build", "--docs", str(corpus), "--index", str(index), "--store", "milvus://127.0.0.1:9/qa"]) == 1
    line = one_error_line(capsys)
    assert "cannot reach Milvus at 127.0.0.1:9" in line
    assert not index.exists()
    assert not list(tmp_path.glob(".index*"))


@pytest.mark.parametrize("spec", ["milvus://nohost/qa", "milvus://127.0.0.1:19530/", "milvus:./qa.sqlite", "redis:x"])
def test_bad_store_is_one_line(corpus, tmp_path, capsys, fake_model, spec):
    assert main(["build", "--docs", str(corpus), "--index", str(tmp_path / "index"), "--store", spec]) == 1
    assert "--store takes faiss" in one_error_line(capsys)
    assert not (tmp_path / "index").exists()


def test_missing_collection_is_an_index_problem(both):
    from qa import milvus_store

    _, milvus = both
    store = milvus.manifest["store"]
    milvus_store.connect(milvus_store.target_of(store, milvus.root)).drop_collection(store["collections"]["passages"])
    with pytest.raises(IndexProblem, match="does not hold"):
        load_index(milvus.root)



def test_a_damaged_passage_row_is_an_index_problem(both, fake_encoder, fake_settings):
    from qa import milvus_store

    _, milvus = both
    store = milvus.manifest["store"]
    client = milvus_store.connect(milvus_store.target_of(store, milvus.root))
    name = store["collections"]["passages"]
    row = client.query(name, filter="id == 0", output_fields=["*"])[0]
    damaged = json.loads(row["row"])
    damaged["texts"] = damaged["texts"][:-1] + damaged["texts"][:-1]  # texts and sentences no longer pair up
    written = {k: v for k, v in row.items() if k != "sparse"}  # the BM25 function's output: Milvus writes it
    client.upsert(name, [{**written, "row": json.dumps(damaged)}])
    client.flush(name)
    engine = Engine(load_index(milvus.root), fake_encoder, fake_settings)
    with pytest.raises(IndexProblem, match=r"is damaged \(Milvus passage 0: .*run `qa build --index"):
        for q in QUESTIONS:
            engine.ask(q, k=len(QUESTIONS))

@pytest.mark.model
def test_seed_answers_identical_on_milvus_lite(tmp_path):
    """The real model over the seeds: every seed question answered and cited the same from Milvus Lite."""
    from qa.config import Settings
    from qa.embed import Encoder

    settings, encoder = Settings(), Encoder()
    files = build_index(SEEDS, tmp_path / "files", settings=settings, encoder=encoder)
    milvus = build_index(SEEDS, tmp_path / "milvus", settings=settings, encoder=encoder,
                         store=f"milvus:{tmp_path / 'seeds.db'}")
    on_files, on_milvus = Engine(files, encoder, settings), Engine(load_index(milvus.root), encoder, settings)
    rows = [json.loads(line) for line in (REPO / "tests/eval/seed_questions.jsonl").read_text().splitlines() if line]
    assert len(rows) > 50
    for row in rows:
        got, want = on_milvus.ask(row["question"]).to_dict(), on_files.ask(row["question"]).to_dict()
        # Milvus sums the inner product in its own order: a score rounded to 4 places may differ in the last.
        assert floats(got) == pytest.approx(floats(want), abs=2e-4), row["question"]
        assert without_floats(got) == without_floats(want), row["question"]
    assert np.isfinite(milvus.manifest["store"]["avg_length"])


def floats(value) -> list[float]:
    """Every float in a reply, in order."""
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in floats(v)]
    if isinstance(value, list):
        return [f for v in value for f in floats(v)]
    return []


def without_floats(value):
    """A reply with its floats left out: its text, sources, spans and flags."""
    if isinstance(value, dict):
        return {k: without_floats(v) for k, v in value.items() if not isinstance(v, float)}
    if isinstance(value, list):
        return [without_floats(v) for v in value if not isinstance(v, float)]
    return value


def test_cli_builds_into_milvus_lite_and_asks_from_it(corpus, tmp_path, capsys, fake_model):
    files, milvus, db = tmp_path / "files", tmp_path / "milvus", tmp_path / "qa.db"
    assert main(["build", "--docs", str(corpus), "--index", str(files)]) == 0
    assert main(["build", "--docs", str(corpus), "--index", str(milvus), "--store", f"milvus:{db}"]) == 0
    capsys.readouterr()
    assert json.loads((milvus / "manifest.json").read_text())["store"]["uri"] == "../qa.db"  # moves with its folder
    for question in QUESTIONS[:4]:
        assert main(["ask", question, "--index", str(files), "--json"]) == 0
        want = capsys.readouterr().out
        assert main(["ask", question, "--index", str(milvus), "--json"]) == 0
        assert capsys.readouterr().out == want


def test_back_to_faiss_drops_the_collections(both, corpus, fake_encoder, fake_settings):
    from qa import milvus_store

    _, milvus = both
    store = milvus.manifest["store"]
    again = build_index(corpus, milvus.root, settings=fake_settings, encoder=fake_encoder, store="faiss")
    assert "store" not in again.manifest and (milvus.root / "passages.faiss").exists()
    client = milvus_store.connect(milvus_store.target_of(store, milvus.root))
    assert not set(store["collections"].values()) & set(client.list_collections())
