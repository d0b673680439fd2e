"""The one door to the `docker compose` CLI: argv lists that always name the files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cfgroll.engine.compose import run
from cfgroll.project import locate
from tests.helpers import build_file_tree


def test_argv_always_names_the_files(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"compose.yaml": "", "prod.env": ""})
    argv = locate(tmp_path, name="shop").argv("up", "-d")
    assert argv[:4] == ["docker", "compose", "--project-directory", str(tmp_path.resolve())]
    assert argv[-4:] == ["-p", "shop", "up", "-d"]
    argv = locate(tmp_path, env_files=["prod.env"]).argv("config")
    assert argv[-3:] == ["--env-file", str(tmp_path.resolve() / "prod.env"), "config"]


def test_a_stack_deploy_swarm_refused_as_out_of_sequence_is_sent_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Swarm refuses an update while its own one of that service moves on; the whole stack
    deploy is sent again (it is idempotent); any other failure is not."""
    from cfgroll.engine import compose
    from cfgroll.errors import CommandFailed

    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        f'echo x >> "{calls}"\n'
        f'if [ "$(wc -l < "{calls}")" -lt 2 ]; then\n'
        '  echo "failed to update service s_web: Error response from daemon: rpc error: '
        'code = Unknown desc = update out of sequence" >&2; exit 1\n'
        "fi\n"
        f'[ -n "$FAIL_AGAIN" ] && {{ echo "no such image" >&2; exit 1; }}\n'
        "exit 0\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.setattr(compose.time, "sleep", lambda _s: None)
    said: list[str] = []
    compose.stack_deploy(tmp_path / "stack.yaml", "s", tmp_path, said.append)
    assert len(calls.read_text().splitlines()) == 2 and "deploying again" in said[-1]
    calls.unlink()
    monkeypatch.setenv("FAIL_AGAIN", "1")
    with pytest.raises(CommandFailed, match="no such image"):
        compose.stack_deploy(tmp_path / "stack.yaml", "s", tmp_path, said.append)
    assert len(calls.read_text().splitlines()) == 2


@pytest.mark.skipif(os.name != "posix", reason="a shell script stands in for docker")
def test_a_command_that_ctrl_c_ended_is_an_interruption(tmp_path: Path) -> None:
    """Compose killed by the terminal's SIGINT means the user pressed Ctrl-C, even when
    cfgroll's own KeyboardInterrupt was lost (one landing inside an import is swallowed)."""
    script = tmp_path / "docker"
    script.write_text("#!/bin/sh\nkill -INT $$\nsleep 5\n")
    script.chmod(0o755)
    with pytest.raises(KeyboardInterrupt):
        run([str(script), "compose", "config"], tmp_path)
