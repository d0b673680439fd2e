"""The mirror's translation and pushes against real git repositories (bare paths, a silent
socket, a refusing hook), with a stand-in for age: what the translation promises does not
depend on the cipher (tests/cli/test_mirror.py runs the real one)."""

from __future__ import annotations

import base64
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cfgroll.errors import MirrorRefused, MirrorUnreachable
from cfgroll.store.files import FileData
from cfgroll.store.mirror import MIRROR, SEALED_PATH, Opening, Sealing
from cfgroll.store.remote import shown
from cfgroll.store.repo import Store
from tests.helpers import all_objects, git, write_release

SECRET = b"PASSWORD=hunter2-the-secret\n"
HEAD = b"-----FAKE SEALED-----\n"


class Seals:
    """Seals by XOR and base64 (no secret byte survives), counting how often it is asked."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, data: bytes) -> bytes:
        self.calls += 1
        return HEAD + base64.b64encode(bytes(b ^ 0x5A for b in data)) + b"\n"


def unseal(data: bytes, recipients: tuple[str, ...], path: str) -> bytes:
    assert data.startswith(HEAD), path
    return bytes(b ^ 0x5A for b in base64.b64decode(data[len(HEAD) :]))


OPENING = Opening(unseal, lambda recipients: "k1")


def files(env: bytes = SECRET, compose: bytes = b"services: {web: {}}\n") -> dict[str, FileData]:
    return {"compose.yaml": FileData(compose), ".env": FileData(env)}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    created, _ = Store.create(tmp_path / "store.git")
    return created


def bare(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


def push_all(store: Store, sealing: Sealing) -> None:
    mirror = store.mirror()
    mirror.translate(mirror.pending(), sealing)
    mirror.push(10)


def test_the_mirror_holds_the_history_with_the_secrets_sealed(store: Store, tmp_path: Path) -> None:
    # recorded before any mirror or recipient existed
    first = write_release(store, 1, files())
    second = write_release(store, 2, files(compose=b"services: {web: {}, db: {}}\n"))
    store.add_note(store.live().commit, "post-deploy: ok")  # type: ignore[union-attr]
    store.pin(first)
    remote = bare(tmp_path / "mirror.git")
    store.mirror().set_url(str(remote))
    push_all(store, Sealing(Seals(), "k1", ("age1recipient",)))

    objects = all_objects(remote)
    assert b"hunter2" not in objects and SECRET not in objects
    assert git(remote, "tag", "--list").split() == [first, second]
    assert git(remote, "show", f"{second}:compose.yaml") == "services: {web: {}, db: {}}\n"
    assert "+services: {web: {}, db: {}}" in git(
        remote, "diff", first, second, "--", "compose.yaml"
    )
    assert git(remote, "show", f"{second}:.env").startswith(HEAD.decode().strip())
    assert "- .env" in git(remote, "show", f"main:{SEALED_PATH}")
    assert git(remote, "rev-parse", f"refs/pins/{first}") == git(
        remote, "rev-parse", f"{first}^{{}}"
    )
    assert "post-deploy: ok" in git(remote, "log", "-1", "--notes", "main")
    assert store.mirror().pending() == []


def test_an_unchanged_secret_keeps_its_ciphertext(store: Store, tmp_path: Path) -> None:
    seals = Seals()
    sealing = Sealing(seals, "k1", ("age1recipient",))
    remote = bare(tmp_path / "mirror.git")
    store.mirror().set_url(str(remote))
    tags = []
    for n in range(1, 4):
        tags.append(write_release(store, n, files(compose=f"# {n}\n".encode())))
        push_all(store, sealing)
    assert seals.calls == 1
    sealed = {git(remote, "rev-parse", f"{tag}:.env") for tag in tags}
    assert len(sealed) == 1
    write_release(store, 4, files(env=b"PASSWORD=new\n"))
    push_all(store, sealing)
    assert seals.calls == 2
    # other recipients: what is pushed stays; what comes is sealed to them
    write_release(store, 5, files(env=b"PASSWORD=new\n", compose=b"# 5\n"))
    push_all(store, Sealing(seals, "k2", ("age1other",)))
    assert seals.calls == 3


def test_a_clone_gets_the_same_commits_back(store: Store, tmp_path: Path) -> None:
    write_release(store, 1, files())
    write_release(store, 2, files(env=b"PASSWORD=two\n"))
    store.add_note(store.live().commit, "a note")  # type: ignore[union-attr]
    remote = bare(tmp_path / "mirror.git")
    store.mirror().set_url(str(remote))
    push_all(store, Sealing(Seals(), "k1", ("age1recipient",)))

    clone, _ = Store.create(tmp_path / "clone.git")
    mirror = clone.mirror()
    mirror.fetch(str(remote), 30)
    fetched = {n: s for n, s in mirror.refs().items() if n.startswith(MIRROR)}
    mirror.commit(mirror.restore(fetched, OPENING))
    kept = ("refs/heads/main", "refs/tags/", "refs/notes/commits")

    def own(s: Store) -> dict[str, str]:
        return {n: v for n, v in s.mirror().refs().items() if n.startswith(kept)}

    assert own(clone) == own(store)
    assert clone.files(clone.live())[".env"].data == b"PASSWORD=two\n"  # type: ignore[arg-type]
    # the clone pushes on where the lost store stopped: nothing to seal again
    mirror.set_url(str(remote))
    mirror.held()
    write_release(clone, 3, files(env=b"PASSWORD=two\n", compose=b"# 3\n"))
    seals = Seals()
    push_all(clone, Sealing(seals, "k1", ("age1recipient",)))
    assert seals.calls == 0
    assert git(remote, "log", "--format=%s", "main").count("deploy") == 3


def test_without_recipients_no_secret_is_pushed(store: Store, tmp_path: Path) -> None:
    write_release(store, 1, files())
    remote = bare(tmp_path / "mirror.git")
    store.mirror().set_url(str(remote))
    with pytest.raises(MirrorRefused, match=r"recipients.*mirror_plaintext: true"):
        push_all(store, Sealing())
    assert all_objects(remote) == b""
    push_all(store, Sealing(plaintext=True))  # the explicit opt-out: the store as it is
    assert git(remote, "rev-parse", "main") == git(store.path, "rev-parse", "main")


def test_a_history_the_store_did_not_write_is_never_forced(store: Store, tmp_path: Path) -> None:
    other, _ = Store.create(tmp_path / "other.git")
    write_release(other, 1, files(compose=b"# someone else's\n"))
    remote = bare(tmp_path / "mirror.git")
    other.mirror().set_url(str(remote))
    push_all(other, Sealing(Seals(), "k1", ("age1x",)))
    theirs = git(remote, "rev-parse", "main")

    write_release(store, 1, files())
    store.mirror().set_url(str(remote))
    with pytest.raises(MirrorRefused, match="never forces"):
        push_all(store, Sealing(Seals(), "k1", ("age1x",)))
    assert git(remote, "rev-parse", "main") == theirs
    assert store.mirror().pending() != []


def test_a_refusing_mirror_and_an_unreachable_one(store: Store, tmp_path: Path) -> None:
    write_release(store, 1, files())
    remote = bare(tmp_path / "mirror.git")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'read-only mirror' >&2\nexit 1\n")
    hook.chmod(0o755)
    store.mirror().set_url(str(remote))
    with pytest.raises(MirrorRefused, match="refused the push.*read-only mirror"):
        push_all(store, Sealing(Seals(), "k1", ("age1x",)))
    store.mirror().set_url(str(tmp_path / "nowhere.git"))
    with pytest.raises(MirrorUnreachable, match="nowhere.git"):
        store.mirror().push(10)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a mirror that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_mirror_that_does_not_answer_costs_at_most_the_timeout(
    store: Store, silent_server: int
) -> None:
    write_release(store, 1, files())
    store.mirror().set_url(f"git://127.0.0.1:{silent_server}/mirror.git")
    mirror = store.mirror()
    mirror.translate(mirror.pending(), Sealing(Seals(), "k1", ("age1x",)))
    with pytest.raises(MirrorUnreachable, match="did not answer within 1 s"):
        mirror.push(1)
    assert mirror.pending() != []  # the next push catches up


def test_credentials_in_a_url_are_never_shown() -> None:
    assert (
        shown("https://ops:s3cr3t@git.example.com/x.git") == "https://ops:***@git.example.com/x.git"
    )
    assert shown("https://ghp_token@github.com/o/r.git") == "https://***@github.com/o/r.git"
    assert shown("ssh://git@host/x.git") == "ssh://git@host/x.git"
    assert shown("ssh://me:pw@host/x.git") == "ssh://me:***@host/x.git"
    assert shown("/srv/mirror.git") == "/srv/mirror.git"
    said = "unable to access 'https://ops:s3cr3t@git.example.com/x.git/': no route"
    assert shown(said) == "unable to access 'https://ops:***@git.example.com/x.git/': no route"


def test_a_swarm_stack_file_is_sealed_too(store: Store, tmp_path: Path) -> None:
    """The rendered stack file holds every interpolated value: it never leaves unsealed."""
    from cfgroll.store.manifest import STACK_PATH
    from tests.store.test_repo import manifest

    stack = b"services:\n  web:\n    environment:\n      PASSWORD: hunter2-the-secret\n"
    store.record(
        files(),
        manifest("backup_20261127_100001"),
        "deploy: web\n",
        None,
        True,
        own={STACK_PATH: stack},
    )
    remote = bare(tmp_path / "mirror.git")
    store.mirror().set_url(str(remote))
    push_all(store, Sealing(Seals(), "k1", ("age1x",)))
    assert b"hunter2" not in all_objects(remote)
    assert STACK_PATH in git(remote, "show", f"main:{SEALED_PATH}")


def test_a_map_cut_short_by_a_crash_costs_a_new_translation_only(
    store: Store, tmp_path: Path
) -> None:
    from cfgroll.store.mirror import MAP_NAME

    write_release(store, 1, files())
    remote = bare(tmp_path / "mirror.git")
    store.mirror().set_url(str(remote))
    seals = Seals()
    push_all(store, Sealing(seals, "k1", ("age1x",)))
    with open(store.path / MAP_NAME, "a", encoding="ascii") as fh:
        fh.write("0123456789abcdef0123456789abcdef01234567 0123")  # the crash
    write_release(store, 2, files(compose=b"# 2\n"))
    push_all(store, Sealing(seals, "k1", ("age1x",)))
    assert seals.calls == 1 and store.mirror().pending() == []
    assert git(remote, "rev-parse", "main") != ""
