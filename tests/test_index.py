"""Index: save/load round trips, incremental rebuilds, stale and damaged indexes, atomic swaps."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qa.index
from qa import __version__
from qa.build import build_index, document_term_ids
from qa.config import Settings
from qa.index import IndexProblem, load_index
from qa.ingest import corpus_hash, file_digests, load_corpus
from qa.lexical import Lexical, tokenize
from qa.passages import make_passages
from qa.storage import FILES, FORMAT, TERM_FILES, DocumentTerms, Rows

from conftest import EMBEDDINGS, FAKE_MODEL, SEEDS, FakeEncoder


def all_texts(index) -> list[str]:
    """What a build embeds: passage texts, then every passage's sentences."""
    return [p.text for p in index.passages] + [t for p in index.passages for t in p.texts]


def test_round_trip(corpus, tmp_path, fake_encoder, fake_settings):
    built = build_index(corpus, tmp_path / "index", settings=fake_settings, encoder=fake_encoder)
    loaded = load_index(tmp_path / "index")
    assert loaded.passages == built.passages
    assert loaded.passages == make_passages(load_corpus(corpus)[0], passage_words=fake_settings.passage_words)
    np.testing.assert_array_equal(loaded.vectors, built.vectors)
    np.testing.assert_array_equal(loaded.sentence_vectors, built.sentence_vectors)
    # Vectors are the encoder's, row for row.
    np.testing.assert_allclose(loaded.vectors, fake_encoder.encode([p.text for p in loaded.passages]), atol=1e-6)
    sentences = [t for p in loaded.passages for t in p.texts]
    np.testing.assert_allclose(loaded.sentence_vectors, fake_encoder.encode(sentences), atol=1e-6)
    assert list(np.diff(loaded.sentence_rows)) == [len(p.sentences) for p in loaded.passages]
    query = loaded.lexical.scores(["kettl"])
    np.testing.assert_allclose(query, built.lexical.scores(["kettl"]))
    assert query.shape == (len(loaded.passages),) and query.max() > 0


def test_manifest_fields(fake_index, corpus, fake_settings):
    m = json.loads((fake_index.root / "manifest.json").read_text())
    assert m["model"] == "fake-hash-64"
    assert m["dimension"] == 64
    assert m["passages"] == len(fake_index.passages)
    assert m["sentences"] == sum(len(p.sentences) for p in fake_index.passages)
    assert m["documents"] == 4
    assert m["files"] == ["latin1.txt", "notes.md", "page.html", "post.txt"]
    assert m["corpus_hash"] == corpus_hash(file_digests(corpus))
    # "auto" precision is recorded as the one used: an encoder without precisions embeds in fp32.
    assert fake_settings.document_precision == "auto"
    assert m["settings"] == {
        "model": "fake-hash-64", "passage_words": 120, "document_precision": "fp32", "passage_vectors": "encoded"}
    assert m["dense"] == {"kind": "flat", "approximate_above": fake_settings.approximate_above}
    assert m["qa_version"] == __version__
    assert (fake_index.root / m["docs_dir"]).resolve() == corpus.resolve()
    assert m["titles"]["notes.md"] == "Tea in Kyoto"
    assert m["embedded"] + m["reused"] == len(all_texts(fake_index)) and m["reused"] == 0


def test_index_folder_holds_no_pickles(fake_index):
    names = {p.name for p in fake_index.root.rglob("*")}
    assert not any(n.endswith((".pkl", ".pickle")) for n in names)
    np.load(fake_index.root / "sentences.npy", allow_pickle=False)


def test_first_build_embeds_each_distinct_text_once(fake_index, fake_encoder):
    assert sorted(fake_encoder.texts) == sorted(set(all_texts(fake_index)))


def test_rebuild_after_adding_a_file_embeds_only_its_text(corpus, tmp_path, fake_settings):
    first = build_index(corpus, tmp_path / "index", settings=fake_settings, encoder=FakeEncoder())
    old_texts = set(all_texts(first))
    # "aaa" sorts first, so every old passage changes id: reuse must go by text, not position.
    (corpus / "aaa-new.md").write_text(
        "# Hojicha\n\nHojicha is green tea roasted over charcoal until it turns brown.\n"
    )
    encoder = FakeEncoder()
    second = build_index(corpus, tmp_path / "index", settings=fake_settings, encoder=encoder)
    new = [p for p in second.passages if p.source == "aaa-new.md"]
    assert new and second.passages[0].source == "aaa-new.md"
    new_texts = {p.text for p in new} | {t for p in new for t in p.texts}
    assert set(encoder.texts) == new_texts - old_texts
    assert len(encoder.texts) == len(set(encoder.texts))
    texts = all_texts(second)
    fresh = [t for t in texts if t not in old_texts]
    assert second.manifest["embedded"] == len(fresh)
    assert second.manifest["reused"] == len(texts) - len(fresh)
    # Reused vectors are the ones the encoder gives for the same text.
    np.testing.assert_allclose(second.vectors, FakeEncoder().encode([p.text for p in second.passages]), atol=1e-6)


def test_rebuild_without_changes_embeds_nothing(fake_index, corpus, tmp_path, fake_settings):
    encoder = FakeEncoder()
    again = build_index(corpus, tmp_path / "index", settings=fake_settings, encoder=encoder)
    assert encoder.calls == []
    assert again.manifest["embedded"] == 0
    assert again.manifest["reused"] == len(all_texts(again))
    assert again.passages == fake_index.passages


class _Sourced(FakeEncoder):
    """A fake encoder that says what its vectors come from, as qa.embed.Encoder does."""

    def __init__(self, source: str | None):
        super().__init__()
        self.source = source

    def vector_source(self) -> str | None:
        return self.source


def test_another_encoder_install_re_embeds_everything(corpus, tmp_path, fake_settings):
    # The same model run by another graph (another install's export) gives slightly other
    # vectors: a build re-embeds rather than mix them; the same source, or an index that does
    # not say, is reused.
    first = build_index(corpus, tmp_path / "index", settings=fake_settings, encoder=_Sourced("onnx aaaa"))
    assert first.manifest["encoder"] == "onnx aaaa"
    same = build_index(corpus, tmp_path / "index", settings=fake_settings, encoder=_Sourced("onnx aaaa"))
    assert same.manifest["reused"] == len(all_texts(same)) and same.manifest["embedded"] == 0
    other = _Sourced("onnx bbbb")
    moved = build_index(corpus, tmp_path / "index", settings=fake_settings, encoder=other)
    assert moved.manifest["reused"] == 0 and moved.manifest["encoder"] == "onnx bbbb"
    assert sorted(other.texts) == sorted(set(all_texts(moved)))
    unsaid = build_index(corpus, tmp_path / "index", settings=fake_settings, encoder=FakeEncoder())
    assert "encoder" not in unsaid.manifest and unsaid.manifest["embedded"] == 0
    after = build_index(corpus, tmp_path / "index", settings=fake_settings, encoder=_Sourced("onnx cccc"))
    assert after.manifest["embedded"] == 0  # the index before it did not say what embedded it


def test_another_model_re_embeds_everything(fake_index, corpus, tmp_path, fake_settings):
    other = FakeEncoder("fake-other")
    again = build_index(corpus, tmp_path / "index", settings=fake_settings.with_(model="fake-other"), encoder=other)
    assert again.manifest["reused"] == 0
    assert sorted(other.texts) == sorted(set(all_texts(again)))


@pytest.mark.parametrize("change", ["edit", "add", "remove"])
def test_stale_index_is_refused(fake_index, corpus, change):
    if change == "edit":
        (corpus / "post.txt").write_text("An entirely different post about coffee.\n")
    elif change == "add":
        (corpus / "extra.txt").write_text("Genmaicha mixes green tea with roasted rice.\n")
    else:
        (corpus / "notes.md").unlink()
    with pytest.raises(IndexProblem, match="qa build") as info:
        load_index(fake_index.root)
    assert "stale" in str(info.value) and "\n" not in str(info.value)
    if change == "add":
        assert "extra.txt" in str(info.value)
    if change == "remove":
        assert "notes.md" in str(info.value)
    load_index(fake_index.root, check_corpus=False)  # the files themselves are fine


def test_unsupported_files_do_not_make_an_index_stale(fake_index, corpus):
    (corpus / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    load_index(fake_index.root)


def test_missing_index_folder(tmp_path):
    with pytest.raises(IndexProblem, match="qa build") as info:
        load_index(tmp_path / "nothing-here")
    assert "no index" in str(info.value)


@pytest.mark.parametrize("name", FILES)
def test_missing_file(fake_index, name):
    target = fake_index.root / name
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(IndexProblem, match="qa build") as info:
        load_index(fake_index.root)
    assert name in str(info.value)


def test_a_file_saved_during_the_build_leaves_a_stale_index_not_a_wrong_one(corpus, tmp_path, fake_settings,
                                                                             monkeypatch):
    import qa.ingest

    original = qa.ingest.read_document

    def read_after_an_edit(path, source):
        if source == "post.txt":
            path.write_text("Saved while the build ran: sencha is steamed.\n")
        return original(path, source)

    monkeypatch.setattr(qa.ingest, "read_document", read_after_an_edit)
    build_index(corpus, tmp_path / "index", settings=fake_settings, encoder=FakeEncoder())
    with pytest.raises(IndexProblem, match="stale"):
        load_index(tmp_path / "index")


def test_truncated_faiss_file(fake_index):
    path = fake_index.root / "passages.faiss"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(IndexProblem, match="qa build"):
        load_index(fake_index.root)


def test_a_faiss_file_of_another_kind_is_named_in_plain_words(fake_index):
    (fake_index.root / "passages.faiss").write_bytes(b"garbage" * 30)
    with pytest.raises(IndexProblem) as info:
        load_index(fake_index.root)
    message = str(info.value)
    assert "not recognized" in message and "index_read.cpp" not in message and "\n" not in message
    assert message.endswith(f"run `qa build --index {fake_index.root}`")


def test_corrupted_sentence_vectors(fake_index):
    (fake_index.root / "sentences.npy").write_bytes(b"not a numpy file at all" * 10)
    with pytest.raises(IndexProblem, match="qa build"):
        load_index(fake_index.root)


def test_sentence_vectors_of_the_wrong_shape(fake_index):
    np.save(fake_index.root / "sentences.npy", np.zeros((3, 64), dtype=np.float32), allow_pickle=False)
    with pytest.raises(IndexProblem, match="qa build"):
        load_index(fake_index.root)


def test_corrupted_passages_file(fake_index):
    (fake_index.root / "passages.jsonl").write_text('{"id": 0, "source": \n')
    with pytest.raises(IndexProblem, match="qa build"):
        load_index(fake_index.root)


def test_passages_file_missing_a_row(fake_index):
    path = fake_index.root / "passages.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(IndexProblem, match="qa build"):
        load_index(fake_index.root)


def test_unreadable_manifest(fake_index):
    (fake_index.root / "manifest.json").write_text("{ half a manifest")
    with pytest.raises(IndexProblem, match="qa build"):
        load_index(fake_index.root)


@pytest.mark.parametrize("field,value", [("dimension", 32), ("format", 999), ("pipeline", 999), ("passages", 1)])
def test_manifest_that_disagrees_with_the_files(fake_index, field, value):
    path = fake_index.root / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest[field] = value
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexProblem, match="qa build") as info:
        load_index(fake_index.root)
    assert "\n" not in str(info.value)


class ExplodingEncoder(FakeEncoder):
    """Embeds the first ``after`` calls, then fails like a killed worker."""

    def __init__(self, after: int):
        super().__init__()
        self.after = after

    def encode(self, texts, *, progress=False):
        if len(self.calls) >= self.after:
            raise RuntimeError("encoder died")
        return super().encode(texts, progress=progress)


def leftovers(index_root: Path) -> list[str]:
    return sorted(p.name for p in index_root.parent.iterdir() if p.name.startswith(f".{index_root.name}."))


def test_failed_build_keeps_the_previous_index(fake_index, corpus, fake_settings):
    before = (fake_index.root / "passages.jsonl").read_text()
    # Enough new text for several encoder batches, so the failure comes mid-way.
    sentences = (f"Sentence number {i} talks about tea variety {i}." for i in range(600))
    (corpus / "big.txt").write_text("\n\n".join(sentences))
    with pytest.raises(RuntimeError, match="encoder died"):
        build_index(corpus, fake_index.root, settings=fake_settings, encoder=ExplodingEncoder(after=1))
    assert (fake_index.root / "passages.jsonl").read_text() == before
    assert load_index(fake_index.root, check_corpus=False).passages == fake_index.passages
    (corpus / "big.txt").unlink()
    assert load_index(fake_index.root).passages == fake_index.passages
    assert leftovers(fake_index.root) == []


def test_failed_write_keeps_the_previous_index_and_no_temp_folder(fake_index, corpus, fake_settings, monkeypatch):
    import qa.build

    def broken_write(*args, **kwargs):
        raise OSError("disk full")

    (corpus / "extra.txt").write_text("Genmaicha mixes green tea with roasted rice.\n")
    monkeypatch.setattr(qa.build.np, "save", broken_write)
    with pytest.raises(OSError, match="disk full"):
        build_index(corpus, fake_index.root, settings=fake_settings, encoder=FakeEncoder())
    monkeypatch.undo()
    assert load_index(fake_index.root, check_corpus=False).passages == fake_index.passages
    assert leftovers(fake_index.root) == []


def test_kill_between_the_two_renames_recovers_on_load(fake_index):
    root = fake_index.root
    os.rename(root, root.parent / f".{root.name}.previous")  # first rename done, second never happened
    assert not root.exists()
    loaded = load_index(root)
    assert loaded.passages == fake_index.passages
    assert root.is_dir() and leftovers(root) == []


def test_a_load_during_a_live_swap_waits_for_the_new_index(fake_index):
    import threading

    root = fake_index.root
    new = root.parent / f".{root.name}.building-{os.getpid()}-swap"  # this process is building
    shutil.copytree(root, new)
    (new / "marker").write_text("new")
    os.rename(root, root.parent / f".{root.name}.previous")  # the swap's first rename is done
    second = threading.Timer(0.3, lambda: os.rename(new, root))
    second.start()
    load_index(root)  # waits instead of moving the previous index back under the build's feet
    second.join()
    assert (root / "marker").read_text() == "new"
    assert leftovers(root) == []  # the previous index, no longer needed, is gone


def test_kill_before_the_backup_was_removed_recovers_on_load(fake_index):
    root = fake_index.root
    shutil.copytree(root, root.parent / f".{root.name}.previous")  # both renames done, cleanup not
    load_index(root)
    assert leftovers(root) == []


def test_kill_recovery_also_happens_on_build(fake_index, corpus, fake_settings):
    root = fake_index.root
    os.rename(root, root.parent / f".{root.name}.previous")
    encoder = FakeEncoder()
    build_index(corpus, root, settings=fake_settings, encoder=encoder)
    assert encoder.calls == []  # the recovered index served as the cache
    assert leftovers(root) == []


def test_dead_builds_are_cleared_live_ones_kept(fake_index, corpus, fake_settings):
    root = fake_index.root
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_dir = root.parent / f".{root.name}.building-{dead.stdout.strip()}-x"
    live_dir = root.parent / f".{root.name}.building-{os.getppid()}-y"
    dead_dir.mkdir()
    live_dir.mkdir()
    build_index(corpus, root, settings=fake_settings, encoder=FakeEncoder())
    assert not dead_dir.exists()
    assert live_dir.exists()


def test_build_from_an_empty_folder_is_a_clear_error(tmp_path, fake_settings):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no readable"):
        build_index(tmp_path / "empty", tmp_path / "index", settings=fake_settings, encoder=FakeEncoder())
    assert not (tmp_path / "index").exists()


# The committed index must match the committed seeds and the current cleaning/chunking code:
# these fail when either changes without `qa build`.


def test_committed_index_is_fresh():
    index = load_index(EMBEDDINGS)
    assert index.manifest["corpus_hash"] == corpus_hash(file_digests(SEEDS))
    assert index.docs_dir == SEEDS.resolve()


def test_committed_passages_match_the_current_code():
    """Read passages.jsonl itself, so a version bump alone does not hide what changed."""
    manifest = json.loads((EMBEDDINGS / "manifest.json").read_text(encoding="utf-8"))
    stored = [json.loads(line) for line in (EMBEDDINGS / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
    documents, skipped = load_corpus(SEEDS)
    passages = make_passages(documents, passage_words=manifest["settings"]["passage_words"])
    derived = [
        {"id": p.id, "source": p.source, "title": p.title, "start": p.start, "end": p.end,
         "sentences": [[s.start, s.end] for s in p.sentences], "texts": list(p.texts),
         "quotes": {str(i): q for i, (q, t) in enumerate(zip(p.quotes, p.texts)) if q != t}}
        for p in passages
    ]
    assert [(r["id"], r["source"], r["start"], r["end"]) for r in derived] == [
        (r["id"], r["source"], r["start"], r["end"]) for r in stored
    ]
    assert [r["texts"] for r in derived] == [r["texts"] for r in stored]
    assert derived == stored  # sentences, quotes and titles too
    assert manifest["titles"] == {d.source: d.title for d in documents}
    assert manifest["skipped"] == skipped


def test_the_lexical_files_do_not_depend_on_the_hash_seed(tmp_path):
    """Python orders sets by a per-process hash seed; the index files must not follow it."""
    script = (
        "import sys; from pathlib import Path; from qa.lexical import Lexical; "
        "texts = ['Sencha is steamed green tea.', 'Matcha is ground and whisked.', 'Kettles keep water hot.']; "
        "folder = Path(sys.argv[1]); folder.mkdir(); Lexical.build(texts).save(folder)"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script, str(tmp_path / seed)], check=True, env=env)
    files = sorted(p.relative_to(tmp_path / "1") for p in (tmp_path / "1").rglob("*") if p.is_file())
    assert files
    for name in files:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name


def test_a_large_index_parses_passages_on_demand(fake_index, monkeypatch):
    monkeypatch.setattr(qa.index, "EAGER_PASSAGES", 0)
    lazy = load_index(fake_index.root)
    assert lazy.passages._all is None and lazy.passages == fake_index.passages
    assert lazy.passages[-1] == fake_index.passages[-1] and lazy.passages[1:3] == fake_index.passages[1:3]
    assert isinstance(lazy.vectors, Rows) and isinstance(lazy.sentence_vectors, Rows)
    path = fake_index.root / "passages.jsonl"
    path.write_text(path.read_text().replace('"id": 1,', '"id": 7,'))  # same size, wrong row
    with pytest.raises(IndexProblem, match="qa build"):
        load_index(fake_index.root).passages[1]
    path.write_text(path.read_text()[:-40])
    with pytest.raises(IndexProblem, match="qa build"):
        load_index(fake_index.root)


def test_an_index_of_the_previous_format_asks_for_a_build_in_one_line(fake_index):
    for name in ("passages.offsets.npy", "passages.npy", "sentences.rows.npy", "sources.json"):
        (fake_index.root / name).unlink()
    path = fake_index.root / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": 2}))
    with pytest.raises(IndexProblem) as info:
        load_index(fake_index.root)
    assert str(info.value) == f"index at {fake_index.root} was written by another version of qa: " \
                              f"run `qa build --index {fake_index.root}`"


def test_above_the_threshold_the_dense_index_is_approximate(corpus, tmp_path, fake_settings):
    settings = fake_settings.with_(approximate_above=0, ivf_probe=1000)
    index = build_index(corpus, tmp_path / "index", settings=settings, encoder=FakeEncoder())
    dense = index.manifest["dense"]
    assert dense["kind"] == "ivf-sq8" and dense["lists"] >= 1 and dense["probe"] == 1000
    loaded = load_index(tmp_path / "index")
    query = FakeEncoder().encode(["green tea kettle"])
    loaded.faiss.nprobe = 1000  # every list: the same passages as exact search
    _, ids = loaded.faiss.search(query, 5)
    exact = np.argsort(-(np.asarray(loaded.vectors) @ query[0]), kind="stable")[:5]
    assert len(set(ids[0]) & set(exact)) >= 4  # 8-bit vectors may swap near ties at the edge


@pytest.mark.parametrize("which", ["seeds", "fake"])
def test_stored_document_terms_read_as_the_tokenized_frozenset(which, fake_index):
    index = load_index(EMBEDDINGS) if which == "seeds" else fake_index
    questions = [json.loads(line)["question"] for line in (SEEDS.parent / "tests" / "eval" /
                                                             "seed_questions.jsonl").open(encoding="utf-8")]
    asked = [set(tokens) for tokens in tokenize(questions + ["tea kettle green", ""])]
    every = set().union(*(index.tokenized_terms(s) for s in index.sources))
    assert len(index.sources) > 1 and every
    for source in index.sources:
        old, new = index.tokenized_terms(source), index.document_terms(source)
        assert isinstance(new, DocumentTerms) and old  # a document has words
        assert new == old and old == new and len(new) == len(old)
        assert sorted(new) == sorted(old)  # iteration: each term once, nothing else
        assert [t in new for t in sorted(every) + ["", "zzzz", "\u2400"]] == \
               [t in old for t in sorted(every) + ["", "zzzz", "\u2400"]]
        assert 3 not in new and None not in new
        for terms in asked + [every]:
            both = terms & new
            assert both == terms & old and type(both) is set  # what rank.py's `terms & document_terms` gets
            assert frozenset(terms) & new == frozenset(terms) & old
            assert new & terms == old & terms and new - terms == old - terms
        for prefix in {t[:4] for t in every} | {"", "zzzz"}:  # a stem's look-up (qa.answer.names)
            assert sorted(new.with_prefix(prefix)) == sorted(t for t in old if t[:len(prefix)] == prefix)
    assert index.document_terms("no such file.txt") == frozenset()


def test_document_term_ids_leave_out_the_placeholder_of_a_passage_without_words():
    texts = ["a b ! 1", "Green tea kettles boil", "the kettle", "tea tea"]  # the first has no token
    lexical = Lexical.build(texts)
    ids, offsets = document_term_ids(lexical, [[0, 2], [2, 4]], len(texts))
    words = {i: t for t, i in lexical.bm25.vocab_dict.items()}
    assert tokenize(texts[:1]) == [[]] and ids.dtype == np.int32 and offsets.tolist() == [0, 4, 6]
    assert [words[i] for i in ids[:4]] == sorted(tokenize(texts[1:2])[0])
    assert [words[i] for i in ids[4:]] == sorted({"kettl", "tea"})
    with pytest.raises(ValueError, match="overlap"):
        document_term_ids(lexical, [[0, 3], [2, 4]], len(texts))


def test_rows_read_like_the_array(tmp_path):
    array = np.arange(40, dtype=np.float32).reshape(10, 4)
    np.save(tmp_path / "a.npy", array)
    rows = Rows(tmp_path / "a.npy")
    assert rows.shape == (10, 4) and rows.dtype == np.float32 and len(rows) == 10 and rows.ndim == 2
    np.testing.assert_array_equal(np.asarray(rows), array)
    np.testing.assert_array_equal(rows.astype(np.float64), array.astype(np.float64))
    for key in (3, -1, np.int64(9), slice(2, 5), slice(None), slice(8, 20), slice(5, 2), slice(None, None, 3)):
        np.testing.assert_array_equal(rows[key], array[key])
    for ids in ([7, 2, 3, 2, 9], np.array([], dtype=np.int64), np.array([-1, 0]), np.arange(10)):
        np.testing.assert_array_equal(rows[ids], array[ids])
    for bad in (10, -11, [3, 10]):
        with pytest.raises(IndexError):
            rows[bad]
    np.save(tmp_path / "b.npy", np.arange(5, dtype=np.int32))
    np.testing.assert_array_equal(Rows(tmp_path / "b.npy")[1:4], [1, 2, 3])
    (tmp_path / "c.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:-8])
    with pytest.raises(ValueError, match="bytes"):
        Rows(tmp_path / "c.npy")


def test_questions_leave_no_index_file_mapped(fake_index, fake_encoder, fake_settings):
    """Rows read through a map stay resident (about 1 MB a scattered row here): they are read with pread."""
    from qa.api import Engine

    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("no /proc")
    index = load_index(fake_index.root)
    for question in ("Which kettle boils green tea?", "Who wrote the post?"):
        Engine(index, fake_encoder, fake_settings).ask(question)
    mapped = maps.read_text()
    for name in ("passages.npy", "sentences.npy", "passages.jsonl", "document_terms.npy"):
        assert str(index.root / name) not in mapped


def test_a_rebuild_reads_the_vectors_of_a_format_3_index(fake_index, corpus, fake_settings):
    for name in TERM_FILES:
        (fake_index.root / name).unlink()
    path = fake_index.root / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": 3}))
    for check in (load_index, qa.index.check_files):
        with pytest.raises(IndexProblem) as info:
            check(fake_index.root)
        assert str(info.value) == f"index at {fake_index.root} was written by another version of qa: " \
                                  f"run `qa build --index {fake_index.root}`"
    older = load_index(fake_index.root, check_corpus=False, check_version=False)
    assert older.term_ids is None and older.document_terms("post.txt") == older.tokenized_terms("post.txt")
    rebuilt = build_index(corpus, fake_index.root, settings=fake_settings, encoder=FakeEncoder())
    assert rebuilt.manifest["embedded"] == 0 and rebuilt.manifest["format"] == FORMAT
    assert all(rebuilt.document_terms(s) == rebuilt.tokenized_terms(s) for s in rebuilt.sources)


class PrecisionEncoder(FakeEncoder):
    """A fake encoder with Encoder's ``documents``: its int8 sibling is the same hashed vectors
    (what a build records and reuses is what is tested, not the numbers)."""

    def __init__(self, precision: str = "fp32", *, can_quantize: bool = True):
        super().__init__()
        self.precision, self.can_quantize, self.siblings = precision, can_quantize, {}

    def documents(self, precision: str):
        if precision == "auto":
            precision = "int8" if self.can_quantize else self.precision
        if precision == self.precision:
            return self
        return self.siblings.setdefault(precision, PrecisionEncoder(precision))


@pytest.mark.parametrize("asked, can_quantize, recorded", [
    ("auto", True, "int8"), ("auto", False, "fp32"), ("fp32", True, "fp32"), ("int8", True, "int8")])
def test_the_manifest_records_the_precision_documents_were_embedded_in(corpus, tmp_path, asked, can_quantize,
                                                                       recorded):
    settings = Settings(model=FAKE_MODEL, document_precision=asked)
    encoder = PrecisionEncoder(can_quantize=can_quantize)
    built = build_index(corpus, tmp_path / "ix", settings=settings, encoder=encoder)
    assert built.manifest["settings"]["document_precision"] == recorded
    # Vectors are reused only from an index embedded in the same precision.
    again = build_index(corpus, tmp_path / "ix", settings=settings, encoder=PrecisionEncoder(can_quantize=can_quantize))
    assert again.manifest["embedded"] == 0
    # "auto" keeps the precision of the index it replaces (its vectors are reused), whatever the encoder can do.
    kept = build_index(corpus, tmp_path / "ix", settings=settings,
                       encoder=PrecisionEncoder(can_quantize=not can_quantize))
    assert kept.manifest["embedded"] == 0 and kept.manifest["settings"]["document_precision"] == recorded
    other = "fp32" if recorded == "int8" else "int8"
    switched = build_index(corpus, tmp_path / "ix", settings=settings.with_(document_precision=other),
                           encoder=PrecisionEncoder())
    assert switched.manifest["reused"] == 0 and switched.manifest["settings"]["document_precision"] == other


def test_a_new_index_folder_is_readable_as_any_folder_made_there(fake_index, tmp_path):
    made = tmp_path / "plain"
    made.mkdir()  # what the umask gives a folder here
    assert fake_index.root.stat().st_mode & 0o777 == made.stat().st_mode & 0o777  # not mkdtemp's 0700
