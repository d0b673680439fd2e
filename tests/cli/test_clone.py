"""`cfgroll clone` against a mirror sealed with the real age (Debian's), no engine: what it
brings back, and every bad input stopping it before the folder is written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cfgroll.store import age
from cfgroll.store.files import FileData
from cfgroll.store.mirror import Sealing
from cfgroll.store.repo import Store
from tests.conftest import AgeKey
from tests.helpers import git, write_release

COMPOSE = b"name: shop\nservices:\n  web:\n    image: busybox\n"
ENV_1 = b"\xef\xbb\xbfPASSWORD=first-secret\r\n"  # a BOM and CRLF: bytes come back as they were
ENV_2 = b"PASSWORD=second-secret\n"
TOKEN = b"tok-live-0123456789"


def mirrored(tmp_path: Path, key: AgeKey, seal: object = None) -> tuple[Store, Path]:
    """A store of two releases (a .env and a `secrets:` file) pushed to a bare mirror."""
    store, _ = Store.create(tmp_path / "lost" / "store.git")
    write_release(store, 1, {"compose.yaml": FileData(COMPOSE), ".env": FileData(ENV_1)})
    write_release(
        store,
        2,
        {
            "compose.yaml": FileData(COMPOSE),
            ".env": FileData(ENV_2),
            "secrets/token": FileData(TOKEN),
        },
    )
    remote = tmp_path / "mirror.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    recipients = age.Recipients((key.recipient,))
    sealing = Sealing(
        seal or (lambda data: age.seal(data, recipients)),  # type: ignore[arg-type]
        recipients.digest(),
        recipients.listed(),
    )
    mirror = store.mirror()
    mirror.set_url(str(remote))
    mirror.translate(mirror.pending(), sealing)
    mirror.push(10)
    return store, remote


def cfgroll(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    return subprocess.run(
        [sys.executable, "-m", "cfgroll", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_clone_brings_back_the_store_and_the_live_files(tmp_path: Path, age_key: AgeKey) -> None:
    lost, remote = mirrored(tmp_path, age_key)
    target = tmp_path / "new" / "shop"
    done = cfgroll("clone", str(remote), str(target), "--identity", str(age_key.identity))
    assert done.returncode == 0, done.stderr
    assert "cloned 2 release(s)" in done.stdout and "cfgroll deploy" in done.stdout
    assert (target / ".env").read_bytes() == ENV_2
    assert (target / "secrets" / "token").read_bytes() == TOKEN
    assert (target / "compose.yaml").read_bytes() == COMPOSE
    assert (target / ".env").stat().st_mode & 0o777 == 0o600
    store = target / ".cfgroll" / "store.git"
    assert (store.stat().st_mode & 0o777) == 0o700
    for ref in ("main", "backup_20261127_100001", "backup_20261127_100002"):
        assert git(store, "rev-parse", ref) == git(lost.path, "rev-parse", ref)
    first_env = subprocess.run(
        ["git", "--git-dir", str(store), "cat-file", "blob", "backup_20261127_100001:.env"],
        capture_output=True,
        check=True,
    ).stdout
    assert first_env == ENV_1  # the whole history, byte for byte
    log = cfgroll("log", "-C", str(target))
    assert log.returncode == 0 and log.stdout.count("backup_2026") == 2
    # the clone's store follows the same mirror, and has nothing left to push
    mirror = cfgroll("mirror", "-C", str(target))
    assert str(remote) in mirror.stdout and "not pushed: 0 ref(s)" in mirror.stdout


def test_clone_without_the_identity_writes_nothing_and_names_the_key(
    tmp_path: Path, age_key: AgeKey, other_age_key: AgeKey
) -> None:
    _, remote = mirrored(tmp_path, age_key)
    target = tmp_path / "new" / "shop"
    for extra in ([], ["--identity", str(other_age_key.identity)]):
        done = cfgroll("clone", str(remote), str(target), *extra)
        assert done.returncode == 1
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and age_key.recipient[:30] in last
        assert "--identity" in last
        assert not target.exists()
        assert [p.name for p in (tmp_path / "new").iterdir()] == []  # no work folder left
    # CFGROLL_IDENTITY does what --identity does
    done = cfgroll(
        "clone", str(remote), str(target), env={"CFGROLL_IDENTITY": str(age_key.identity)}
    )
    assert done.returncode == 0, done.stderr


def test_a_damaged_ciphertext_stops_the_clone(tmp_path: Path, age_key: AgeKey) -> None:
    def damaged(data: bytes) -> bytes:
        sealed = age.seal(data, age.Recipients((age_key.recipient,)))
        lines = sealed.splitlines(keepends=True)
        lines[1] = lines[1][:5] + b"AAAA" + lines[1][9:]  # a byte of the header flipped
        return b"".join(lines)

    _, remote = mirrored(tmp_path, age_key, damaged)
    target = tmp_path / "new" / "shop"
    done = cfgroll("clone", str(remote), str(target), "-i", str(age_key.identity))
    assert done.returncode == 1
    assert "sealed copy of" in done.stderr and "damaged" in done.stderr
    assert not target.exists()


@pytest.mark.parametrize("case", ["not empty", "unreachable", "no history", "no identity file"])
def test_bad_inputs_are_one_line_and_write_nothing(
    tmp_path: Path, age_key: AgeKey, case: str
) -> None:
    target = tmp_path / "shop"
    url = str(tmp_path / "nowhere.git")
    identity = str(age_key.identity)
    if case == "not empty":  # a file the clone would write, neither the same nor committed
        target.mkdir()
        (target / "compose.yaml").write_text("mine\n")
        _, remote = mirrored(tmp_path, age_key)
        url = str(remote)
    elif case == "no history":
        subprocess.run(["git", "init", "-q", "--bare", url], check=True)
    elif case == "no identity file":
        identity = str(tmp_path / "missing-key.txt")
    done = cfgroll("clone", url, str(target), "-i", identity)
    assert done.returncode == (2 if case in ("not empty", "no identity file") else 1)
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and len([ln for ln in lines if "error" in ln]) == 1
    if case == "not empty":
        assert "(compose.yaml)" in lines[-1] and "nothing was written" in lines[-1]
        assert [p.name for p in target.iterdir()] == ["compose.yaml"]
        assert (target / "compose.yaml").read_text() == "mine\n"
    else:
        assert not target.exists()


def test_clone_into_a_checkout_of_the_application_keeps_what_lives_only_there(
    tmp_path: Path, age_key: AgeKey
) -> None:
    from tests.helpers import git_in

    _, remote = mirrored(tmp_path, age_key)
    target = tmp_path / "app"
    target.mkdir()
    git_in(target, "init", "-q", "-b", "main")
    (target / "compose.yaml").write_text("name: shop\nservices: {}\n")  # an older one, committed
    (target / "app.py").write_text("print('the source the image builds')\n")
    git_in(target, "add", "-A")
    git_in(target, "commit", "-q", "-m", "the application")
    (target / "notes.txt").write_text("only here\n")  # untracked, not in the release
    # a tracked file with changes of its own, in the way: refused, nothing written
    (target / "compose.yaml").write_text("name: shop\nservices: {} # mine\n")
    done = cfgroll("clone", str(remote), str(target), "-i", str(age_key.identity))
    assert done.returncode == 2 and "(compose.yaml)" in done.stderr
    assert not (target / ".cfgroll").exists() and not (target / ".env").exists()
    git_in(target, "checkout", "--", "compose.yaml")

    done = cfgroll("clone", str(remote), str(target), "-i", str(age_key.identity))
    assert done.returncode == 0, done.stderr
    assert (target / "compose.yaml").read_bytes() == COMPOSE and (
        target / ".env"
    ).read_bytes() == ENV_2
    assert (target / "app.py").exists() and (target / "notes.txt").read_text() == "only here\n"
    assert (target / ".cfgroll" / "store.git").is_dir()
