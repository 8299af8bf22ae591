"""The chat app: examples from its index, refusing a broken or stale index, the /ask endpoint over HTTP (real model)."""

import socket

import pytest

from qa.chat.app import build_app, examples, placeholder
from qa.chat.uploads import Library

# ---- refusing to serve a broken or stale index ----

def test_serve_refuses_a_stale_index_before_loading_the_model(seeds_index_dir):
    from qa.chat.app import serve

    (seeds_index_dir.parent / "seeds" / "extra.txt").write_text("A document the index has never seen.\n")
    with pytest.raises(ValueError, match="stale.*qa build"):
        serve(index_dir=seeds_index_dir, port=0)


def test_qa_chat_on_a_broken_index_prints_one_line_and_fails(seeds_index_dir, capsys):
    from qa.cli import main

    (seeds_index_dir / "passages.faiss").unlink()
    assert main(["chat", "--index", str(seeds_index_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("qa: error: ") and "qa build" in err and err.count("\n") == 1


# ---- the /ask endpoint over HTTP (real model) ----

@pytest.mark.model
def test_ask_endpoint_answers_through_gradio_client(real_engine):
    from gradio_client import Client

    from qa.chat.app import launch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = launch(Library(real_engine), host="127.0.0.1", port=port)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/ask"]
        result = client.predict("Which SNS ranks first among Japanese users?", api_name="/ask")
        assert result["abstained"] is False and "Facebook" in result["text"]
        assert result["citations"][0]["source"] == "004_b0c289f81b5cfdb1.txt"
        assert "Facebook ranks first" in result["citations"][0]["quote"]
        assert client.predict("Who won the 2010 FIFA World Cup?", api_name="/ask")["abstained"] is True
        with pytest.raises(Exception, match="question is empty"):
            client.predict("   ", api_name="/ask")
    finally:
        app.close(verbose=False)


# ---- examples and placeholder from the loaded index ----

def test_examples_ask_about_the_titles_the_index_recorded_spread_over_the_corpus():
    titles = {f"{i:02}.txt": f"Title {i}" for i in range(12)} | {"empty.txt": "  "}
    asked = examples({"titles": titles})
    assert asked == [f"What does “Title {i}” say?" for i in (0, 2, 4, 6, 8)]
    assert examples({"titles": {"a.md": "Why tea?"}}) == ["What does “Why tea” say?"]
    assert examples({"titles": {"a.md": "word " * 40}})[0].endswith("…” say?")
    assert examples({}) == []


def test_examples_keep_only_questions_the_engine_answers_within_the_tries():
    titles = {f"{i:02}.txt": f"Title {i}" for i in range(12)}
    asked = []

    def answers(question):
        asked.append(question)
        return "1" in question  # Title 1, 10 and 11
    # The spread ones first (0, 2, 4, ...), then the rest in file order, until the tries run out.
    assert examples({"titles": titles}, answers=answers, tries=12) == [
        "What does “Title 10” say?", "What does “Title 1” say?", "What does “Title 11” say?"]
    assert len(asked) == 12
    assert examples({"titles": titles}, answers=answers, tries=6) == ["What does “Title 10” say?"]
    assert examples({"titles": titles}, answers=lambda q: False) == []


def test_placeholder_counts_the_documents_of_the_index():
    assert "the 7 documents" in placeholder({"documents": 7})
    assert "the document listed" in placeholder({"documents": 1})


def test_the_chat_shows_examples_from_its_own_index(fake_engine):
    app = build_app(Library(fake_engine))
    (chat,) = [b for b in app.blocks.values() if type(b).__name__ == "Chatbot"]
    shown = [e["text"] for e in chat.examples]
    assert shown and all(not fake_engine.ask(q).abstained for q in shown)  # only examples it answers
    answered = examples(fake_engine.index.manifest, answers=lambda q: not fake_engine.ask(q).abstained)
    assert shown == answered and set(shown) <= set(examples(fake_engine.index.manifest))
    assert f"the {fake_engine.index.manifest['documents']} documents" in chat.placeholder
    assert "Which SNS" not in " ".join(shown)  # not the seed questions
