"""Ctrl-C reaches cfgroll and the Compose processes it starts the same way, however cfgroll
was started: a shell's background job inherits SIGINT ignored. A fake `docker` on PATH
reports its own signal mask and waits. No engine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import build_file_tree

FAKE_DOCKER = """\
#!/bin/sh
grep SigIgn /proc/$$/status > "$REPORT.tmp" && mv "$REPORT.tmp" "$REPORT"
exec sleep 30
"""


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_ctrl_c_interrupts_cfgroll_and_compose_even_when_started_ignoring_it(
    tmp_path: Path,
) -> None:
    fake = build_file_tree(tmp_path / "bin", {"docker": FAKE_DOCKER})
    os.chmod(fake / "docker", 0o755)
    proj = build_file_tree(tmp_path / "p", {"compose.yaml": "services: {}\n"})
    report = tmp_path / "sigign"
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}", "REPORT": str(report)}
    run = subprocess.Popen(
        [sys.executable, "-m", "cfgroll", "deploy", "-C", str(proj)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_sigint,  # noqa: PLW1509 - the point of the test
        start_new_session=True,
    )
    try:
        for _ in range(300):  # until cfgroll runs `docker compose config`
            if report.exists() or run.poll() is not None:
                break
            time.sleep(0.05)
        assert report.exists(), run.communicate()[1]
        os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        _, err = run.communicate(timeout=15)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    ignored = int(report.read_text().split()[1], 16)
    assert not ignored & (1 << (signal.SIGINT - 1)), "Compose was started with SIGINT ignored"
    assert run.returncode == 130, err
    assert "interrupted" in err
