"""The chat app: refusing a broken or stale index; the /ask endpoint over HTTP (real model)."""

import socket

import pytest

from qa.chat.uploads import Library

EVIL = '<img src=x onerror="window.__pwned=1">'

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
