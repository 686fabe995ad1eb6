"""The `aeops` command itself: options refused by argparse or in one sentence, never a
traceback (what each command does is tested through the library it delegates to)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aeops.cli import main


def test_cli_refuses_bad_options_without_a_traceback(capsys, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in (
        ["score", "--input", "a.csv", "--output", "b.csv", "--threshold", "nan"],
        ["score", "--input", "a.csv", "--output", "b.csv", "--chunk-rows", "0"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    assert main(["encode", "--input", "a.csv", "--output", "b.csv"]) == 1
    err = capsys.readouterr().err
    assert "must be a finite number" in err and "must be at least 1" in err
    assert "no --model given" in err and "Traceback" not in err
