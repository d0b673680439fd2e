"""The README shows real output: the demo's is compared with the README's block (its release
tags, times, commit names and temporary folder aside), and the README keeps to its size."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

README = REPO_ROOT / "README.md"


def normal(text: str) -> list[str]:
    """The lines, with what differs from run to run replaced, trailing blanks dropped."""
    text = re.sub(r"\b(backup|failed|draft)_\d{8}_\d{6}\b", r"\1_<stamp>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "<time>", text)
    text = re.sub(r"^[0-9a-f]{7,12} ", "<commit> ", text, flags=re.M)
    text = re.sub(r"/\S*cfgroll-(demo|recovery)\.\w+", "<folder>", text)
    text = re.sub(r"^[A-Za-z0-9+/=]{40,}$", "<ciphertext>", text, flags=re.M)
    return [line.rstrip() for line in text.strip().splitlines()]


def demo_block() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("bash examples/demo.sh\n```\n\n```text\n") + len(
        "bash examples/demo.sh\n```\n\n```text\n"
    )
    return text[start : text.index("\n```\n", start)]


def run_example(script: str, folder: Path) -> str:
    """What `examples/SCRIPT` prints, run with this Python's cfgroll, in `folder`."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run(
        ["bash", str(REPO_ROOT / "examples" / script), str(folder)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.mark.docker
def test_the_demo_prints_what_the_readme_shows(tmp_path: Path, base_image: str) -> None:
    printed = run_example("demo.sh", tmp_path)
    shown = printed[printed.index("$ cfgroll deploy") :]
    assert normal(shown) == normal(demo_block())


@pytest.mark.docker
def test_the_recovery_walkthrough_prints_what_the_docs_show(
    tmp_path: Path, base_image: str, age_key: object
) -> None:
    printed = run_example("recovery.sh", tmp_path)
    shown = printed[printed.index("$ cfgroll init") : printed.index("(recovery stack")]
    text = (REPO_ROOT / "docs" / "disaster-recovery.md").read_text(encoding="utf-8")
    start = text.index("```text\n$ cfgroll init") + len("```text\n")
    assert normal(shown) == normal(text[start : text.index("\n```\n", start)])


def test_the_readme_is_short_and_install_comes_early() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 400
    assert any(line == "## Install" for line in lines[:150])
    assert len(list((REPO_ROOT / "docs").glob("*.md"))) >= 5
