"""Every command the README and the documentation pages (docs/*.md) show runs as written, from a
shell whose PATH does not hold .venv/bin, in a fresh copy of the project (which links this
checkout's .venv, as `make setup` would have made it), in reading order: README.md, then
docs/index.md, then the other pages sorted by name. The few not run here are listed with the
reason."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.integration.project import (
    bare_env,
    make_project,
    wait_for_queue,
    wait_until_answers,
    with_venv,
)

pytestmark = pytest.mark.integration

NOT_RUN = {
    "make setup": "creates .venv; the copy links this checkout's instead",
    "make test": "this test suite itself",
    "make lint": "CI runs it on the whole checkout; the copy holds no tests/ or benchmarks/",
    "make server &": "the shared-server section: test_registry_sync runs it with a free port",
    "MLFLOW_TRACKING_URI=http://127.0.0.1:5000 make train": "the shared-server section",
    "make remote REMOTE=/tmp/aeops-dvc-remote": "the shared-server section",
    "make push": "the shared-server section",
    "make pull": "the shared-server section",
    "cp examples/denoise/params.yaml params.yaml && make train": "trains for half an hour; "
    "test_denoise_pipeline runs the preset on a slice",
    ".venv/bin/aeops denoise --input photos/ --output denoised/": "needs the preset's run; "
    "test_denoise_pipeline runs aeops denoise on the digits run",
    "cp examples/faults/params.yaml params.yaml && make train": "trains for six minutes; "
    "test_presets_run runs the preset on a slice",
    "tail -n +1 -f pump.csv | .venv/bin/aeops watch --min-run 3": "a stream's champion and a "
    "logger's file; test_streams_pipeline runs aeops watch on a pipe",
}
SERVERS = {"make ui": "http://127.0.0.1:5000/health"}  # run in the background, probed, stopped


README_MAX_LINES = 200  # a newcomer reads it in two minutes; the rest is in docs/


def pages() -> list[Path]:
    """README.md, then the documentation pages: index.md first, the others sorted by name."""
    docs = sorted(
        (ROOT / "docs").glob("*.md"), key=lambda page: (page.name != "index.md", page.name)
    )
    return [ROOT / "README.md", *docs]


def blocks(language: str) -> list[str]:
    """The ```<language> blocks of every page, in reading order (```py is not ```python: the
    architecture page's illustrative code is not run)."""
    out = []
    for page in pages():
        out += re.findall(rf"```{language}\n(.*?)```", page.read_text(), flags=re.S)
    return out


def commands() -> list[str]:
    """Every shell command of the pages' bash blocks, continuation lines joined."""
    out = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()  # a trailing comment
            if line and not line.startswith("#"):
                out.append(line)
    return out


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail to docs/"
    )


def test_every_readme_command_is_accounted_for():
    assert [page.name for page in pages()[:2]] == ["README.md", "index.md"]
    listed = commands()
    assert listed[:2] == ["make setup", "make train"]  # the two commands, first
    assert not set(NOT_RUN) - set(listed), "NOT_RUN names commands the pages lost"
    assert not set(SERVERS) - set(listed), "SERVERS names commands the pages lost"
    for command in listed:
        assert ".venv/bin/dvc" not in command and "mlflow models serve" not in command, (
            f"{command}: dvc and mlflow's serve need the venv on PATH; use a make target"
        )


def stop(proc: subprocess.Popen, root: Path) -> None:
    """Stop a background command and everything it started: its process group (SIGTERM,
    then SIGKILL for what ignored it), then any process left that names the clone (an
    ``mlflow server`` whose workers and job runners outlive the group leaving)."""
    import psutil

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    for left in psutil.process_iter(["cmdline"]):
        if str(root) in " ".join(left.info["cmdline"] or []):
            family = [left]
            with contextlib.suppress(psutil.Error):
                family = [*left.children(recursive=True), left]
            for member in family:
                with contextlib.suppress(psutil.Error):
                    member.kill()


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path: Path):
    root = with_venv(make_project(tmp_path / "clone"))
    env = bare_env(root)
    background: list[subprocess.Popen] = []
    ran = []
    try:
        for command in commands():
            if command in NOT_RUN:
                continue
            if command.endswith("&") or command in SERVERS:
                proc = subprocess.Popen(
                    command.rstrip("& "),
                    shell=True,
                    cwd=root,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
                background.append(proc)
                if command in SERVERS:
                    wait_until_answers(SERVERS[command], proc)
                ran.append(command)
                continue
            result = subprocess.run(
                command, shell=True, cwd=root, env=env, text=True, capture_output=True, timeout=900
            )
            assert result.returncode == 0, (
                f"`{command}` failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
            if command.startswith("curl"):
                assert '"predictions"' in result.stdout, result.stdout[:500]
            if command.startswith("make queue-start"):
                wait_for_queue(root)
            ran.append(command)
        for code in blocks("python"):
            result = subprocess.run(
                [str(root / ".venv/bin/python"), "-c", code],
                cwd=root,
                env=env,
                text=True,
                capture_output=True,
                timeout=300,
            )
            assert result.returncode == 0, f"a page's Python:\n{code}\n{result.stderr[-3000:]}"
    finally:
        for proc in background:
            stop(proc, root)
    assert "make train" in ran and any(c.startswith("curl") for c in ran)
    import psutil

    left = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
            if str(root) in " ".join(p.info["cmdline"] or [])]  # fmt: skip
    assert left == [], f"background commands left running: {left}"
