"""Command line: exit codes, one-line errors, `qa build` and `qa ask --json`."""

from __future__ import annotations

import json

import pytest

from qa.cli import main
from qa.index import load_index
from qa.ingest import read_text

from conftest import one_error_line


def test_ask_without_an_index(tmp_path, capsys):
    assert main(["ask", "What is matcha?", "--index", str(tmp_path / "missing")]) != 0
    line = one_error_line(capsys)
    assert "no index" in line and "qa build" in line


def test_ask_with_a_stale_index(fake_model, corpus, tmp_path, capsys):
    assert main(["build", "--docs", str(corpus), "--index", str(tmp_path / "index")]) == 0
    (corpus / "extra.txt").write_text("Genmaicha mixes green tea with roasted rice.\n")
    capsys.readouterr()
    assert main(["ask", "What is genmaicha?", "--index", str(tmp_path / "index")]) != 0
    assert "stale" in one_error_line(capsys)


@pytest.mark.parametrize("question", ["", "   ", "?!?"])
def test_ask_an_empty_question(fake_model, corpus, tmp_path, capsys, question):
    assert main(["build", "--docs", str(corpus), "--index", str(tmp_path / "index")]) == 0
    capsys.readouterr()
    assert main(["ask", question, "--index", str(tmp_path / "index")]) != 0
    assert "question" in one_error_line(capsys)


def test_build_from_an_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["build", "--docs", str(tmp_path / "empty"), "--index", str(tmp_path / "index")]) != 0
    assert "no readable" in one_error_line(capsys)
    assert not (tmp_path / "index").exists()


def test_build_from_a_missing_folder(tmp_path, capsys):
    assert main(["build", "--docs", str(tmp_path / "nowhere"), "--index", str(tmp_path / "index")]) != 0
    assert "does not exist" in one_error_line(capsys)


def test_build_with_a_model_that_is_not_a_folder(corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("QA_MODEL", raising=False)
    args = ["build", "--docs", str(corpus), "--index", str(tmp_path / "index"), "--model", str(tmp_path / "no-model")]
    assert main(args) != 0
    assert "not a local sentence-transformers folder" in one_error_line(capsys)
    assert not (tmp_path / "index").exists()


def test_build_then_rebuild(fake_model, corpus, tmp_path, capsys):
    index = tmp_path / "index"
    assert main(["build", "--docs", str(corpus), "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"indexed 4 documents of {corpus},") and "0 reused" in out
    assert load_index(index).manifest["documents"] == 4
    # Without --docs, a rebuild reads the folder the index was built from.
    assert main(["build", "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert "(0 texts embedded," in out
    # So does the rebuild that a damaged index asks for: its manifest still names the folder.
    (index / "sentences.npy").write_bytes(b"not numpy")
    assert main(["ask", "tea", "--index", str(index)]) != 0
    assert f"run `qa build --index {index}`" in one_error_line(capsys)
    assert main(["build", "--index", str(index)]) == 0
    assert capsys.readouterr().out.startswith(f"indexed 4 documents of {corpus.resolve()},")


def test_build_never_replaces_the_documents_or_a_folder_of_other_files(fake_model, corpus, tmp_path, capsys):
    before = sorted(p.name for p in corpus.iterdir())
    for index in (corpus, corpus.parent):  # the documents, or a folder that holds them
        assert main(["build", "--docs", str(corpus), "--index", str(index)]) != 0
        assert "choose another --index" in one_error_line(capsys)
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "thesis.tex").write_text("years of work")
    assert main(["build", "--docs", str(corpus), "--index", str(papers)]) != 0
    assert "holds files but no qa index" in one_error_line(capsys)
    assert (papers / "thesis.tex").read_text() == "years of work"
    extension = tmp_path / "extension"  # a manifest.json that is not a qa index's
    extension.mkdir()
    (extension / "manifest.json").write_text('{"manifest_version": 3, "name": "Tabs"}')
    (extension / "background.js").write_text("chrome.tabs.query({});")
    assert main(["build", "--docs", str(corpus), "--index", str(extension)]) != 0
    assert "holds files but no qa index" in one_error_line(capsys)
    assert (extension / "background.js").exists()
    assert sorted(p.name for p in corpus.iterdir()) == before
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["build", "--docs", str(corpus), "--index", str(empty)]) == 0


def test_build_reports_skipped_files(fake_model, corpus, tmp_path, capsys):
    (corpus / "empty.txt").write_text("")
    assert main(["build", "--docs", str(corpus), "--index", str(tmp_path / "index")]) == 0
    out, err = capsys.readouterr()
    assert "skipped empty.txt: no text" in out
    assert err.count("empty.txt") == 1


def test_warnings_are_printed_once_per_call(fake_model, corpus, tmp_path, capsys):
    (corpus / "empty.txt").write_text("")
    for _ in range(2):
        assert main(["build", "--docs", str(corpus), "--index", str(tmp_path / "index")]) == 0
        _, err = capsys.readouterr()
        assert err.count("empty.txt") == 1, err


def test_ask_json_with_the_fake_model(fake_model, corpus, tmp_path, capsys):
    assert main(["build", "--docs", str(corpus), "--index", str(tmp_path / "index")]) == 0
    capsys.readouterr()
    assert main(["ask", "How long do cast iron kettles from Morioka keep water hot?", "--json",
                 "--index", str(tmp_path / "index"), "-k", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["question"].startswith("How long")
    assert len(data["passages"]) == 3
    assert data["citations"]
    for c in data["citations"]:
        assert read_text(c["path"])[c["start"]:c["end"]] == c["quote"]


def test_ask_prints_the_rendered_answer(fake_model, corpus, tmp_path, capsys):
    assert main(["build", "--docs", str(corpus), "--index", str(tmp_path / "index")]) == 0
    capsys.readouterr()
    assert main(["ask", "How long do cast iron kettles from Morioka keep water hot?",
                 "--index", str(tmp_path / "index")]) == 0
    out = capsys.readouterr().out
    assert "[1]" in out and "Sources:" in out and "page.html" in out


def test_ask_explain_prints_intent_candidates_and_vetoes(fake_model, corpus, tmp_path, capsys):
    assert main(["build", "--docs", str(corpus), "--index", str(tmp_path / "index")]) == 0
    capsys.readouterr()
    question = "How long do cast iron kettles from Morioka keep water hot?"
    assert main(["ask", question, "--explain", "--index", str(tmp_path / "index")]) == 0
    out = capsys.readouterr().out
    assert "intent: kind amount" in out and "vetoed by:" in out
    assert "1. P " in out and "cosine " in out and "check_lacks_amount " in out
    assert main(["ask", question, "--explain", "--json", "--index", str(tmp_path / "index")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["explain"]["intent"]["kind"] == "amount" and data["explain"]["intent"]["asks_amount"] is True
    best = data["explain"]["candidates"][0]
    assert best["p"] == pytest.approx(data["confidence"], abs=1e-4) and "coverage" in best["features"]


@pytest.mark.model
def test_ask_json_with_the_real_model(real_engine, capsys, monkeypatch):
    monkeypatch.delenv("QA_MODEL", raising=False)
    index_dir = str(real_engine.index.root)
    # Near-verbatim to a seed sentence, so any working composer answers it.
    question = "In a survey of 12,000 Japanese SNS users, which SNS ranks first?"
    assert main(["ask", question, "--json", "--index", index_dir]) == 0
    data = json.loads(capsys.readouterr().out)
    assert not data["abstained"]
    assert data["citations"]
    for c in data["citations"]:
        assert read_text(c["path"])[c["start"]:c["end"]] == c["quote"]


EMPTY_PATH = "an empty path names no folder"


@pytest.mark.parametrize("argv, says", [
    (["ask"], "--help"), (["ask", "-x"], "--help"), (["bogus"], "--help"), (["ask", "q", "-k", "many"], "--help"),
    (["ask", "tea", "--index", ""], EMPTY_PATH), (["build", "--index", " "], EMPTY_PATH),
    (["build", "--docs", ""], EMPTY_PATH), (["chat", "--index", ""], EMPTY_PATH),
    (["eval", "q.jsonl", "--out", ""], EMPTY_PATH),
])
def test_usage_errors_are_one_line(argv, says, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    line = one_error_line(capsys)
    assert says in line and "--help" in line


def test_a_question_starting_with_a_dash_goes_after_double_dash(fake_model, corpus, tmp_path, capsys):
    assert main(["build", "--docs", str(corpus), "--index", str(tmp_path / "index")]) == 0
    capsys.readouterr()
    assert main(["ask", "--index", str(tmp_path / "index"), "--", "-x how hot is the water for sencha?"]) == 0
    assert "[1]" in capsys.readouterr().out


def test_output_cut_short_by_its_reader_is_not_an_error():
    """`qa ask … | head -2`, as the README shows it: no "Broken pipe" error on stderr."""
    import subprocess
    import sys

    child = ("import qa.cli as cli\n"
             "def chatty(args):\n"
             "    for i in range(200_000):\n"
             "        print('line', i)\n"
             "    return 0\n"
             "cli._ask = chatty\n"
             "raise SystemExit(cli.main(['ask', 'anything']))\n")
    with subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        assert proc.stdout.readline() == "line 0\n"
        proc.stdout.close()  # the reader goes away, as head does
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 1
    assert err == ""
