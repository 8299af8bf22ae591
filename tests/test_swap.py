"""Swap: a file is replaced whole or left as it was (the folder swap is tested in test_index.py)."""

from __future__ import annotations

import pytest

from qa.swap import replace_file


def test_replace_file_writes_through_a_temp_file_that_then_takes_the_name(tmp_path):
    target = tmp_path / "graph.onnx"
    seen = []

    def write(tmp):
        seen.append(tmp)
        assert tmp.parent == tmp_path and tmp != target and not target.exists()
        tmp.write_text("new")

    replace_file(target, write)
    assert target.read_text() == "new" and len(seen) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.onnx"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "probe.npy"
    target.write_text("old")

    def half_then_fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_file(target, half_then_fail, suffix=".tmp.npy")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe.npy"]


def test_the_suffix_ends_the_temp_name_for_writers_that_add_their_own(tmp_path):
    names = []
    replace_file(tmp_path / "v.npy", lambda tmp: (names.append(tmp.name), tmp.write_bytes(b"x")), suffix=".tmp.npy")
    assert names[0].endswith(".tmp.npy") and (tmp_path / "v.npy").read_bytes() == b"x"
