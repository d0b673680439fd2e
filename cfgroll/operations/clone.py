"""`cfgroll clone URL DIR`: a lost host back from its mirror.

The store comes back with its whole history, the same commits and tags as the lost one (every
sealed file opened with the identity given), and DIR holds the live release's files, byte for
byte; `cfgroll deploy` there rebuilds and serves it. DIR may already be a git checkout of the
application (the compose file beside the source it builds): the clone writes into it only
where a file is absent, equal, or committed there, so nothing that lives only there is lost.
Everything is checked and opened in a private folder beside DIR first: a wrong identity, a
damaged ciphertext or an unreachable URL stop the clone before DIR is written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cfgroll import project
from cfgroll.context import STORE_DIR, Reporter, Silent
from cfgroll.errors import CfgrollError, StoreError, UsageError
from cfgroll.store import age
from cfgroll.store.files import FileData
from cfgroll.store.mirror import Opening
from cfgroll.store.remote import MIRROR, absolute, kept, shown
from cfgroll.store.repo import Entry, Store

FETCH_TIMEOUT = 3600.0  # a whole history over a slow link


@dataclass(frozen=True)
class Cloned:
    directory: Path
    store: Path
    live: Entry
    releases: int
    written: list[str]
    project: str | None  # the project's name as Compose gives it in DIR (None: cannot tell)
    unbuildable: tuple[str, ...] = ()  # `service (Dockerfile)` whose build file is not there


def clone(
    url: str, directory: Path, given: Sequence[Path] = (), reporter: Reporter | None = None
) -> Cloned:
    """Bring the store mirrored at `url` back into `directory`/.cfgroll/store.git, and the
    live release's files into `directory`."""
    reporter = reporter or Silent()
    url = absolute(url)
    directory = directory.absolute()
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a folder; nothing was written")
    if (directory / STORE_DIR).exists():
        raise UsageError(
            f"{directory} has a cfgroll store already ({STORE_DIR}/); clone into another "
            "folder; nothing was written"
        )
    keys = age.identities(given)
    directory.parent.mkdir(parents=True, exist_ok=True)
    made = not directory.exists()
    work = Path(tempfile.mkdtemp(prefix=".cfgroll-clone-", dir=directory.parent))
    try:
        store, _ = Store.create(work / "store.git", f"cfgroll store cloned from {shown(url)}")
        mirror = store.mirror()
        reporter.step(f"fetching the history from {shown(url)}")
        mirror.fetch(url, FETCH_TIMEOUT)
        fetched = {
            n: s
            for n, s in mirror.refs().items()
            if n.startswith(MIRROR) and kept("refs/" + n.removeprefix(MIRROR))
        }
        if MIRROR + "heads/main" not in fetched:
            raise StoreError(
                f"{shown(url)} holds no cfgroll history (no main branch); is it the mirror "
                "`cfgroll mirror` was given?"
            )
        reporter.step("opening the sealed files")
        restored = mirror.restore(fetched, _opening(keys))
        mirror.commit(restored)
        mirror.set_url(url)
        mirror.held()
        live = store.live()
        if live is None:
            raise StoreError(f"{shown(url)} holds no release")
        files = store.files(live)
        releases = sum(1 for _ in store.releases())
        _nothing_lost(directory, files)
        reporter.step(f"writing {live.tag}'s files into {directory}")
        directory.mkdir(exist_ok=True)
        written = project.write(directory, dict(files), live.manifest.files)
        own = directory / STORE_DIR
        own.mkdir(mode=0o700, exist_ok=True)
        os.replace(work / "store.git", own / "store.git")
    except BaseException:
        if made:  # a folder this clone made holds nothing of the user's
            shutil.rmtree(directory, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    name, unbuildable = _model(directory)
    return Cloned(directory, own / "store.git", live, releases, written, name, unbuildable)


def _nothing_lost(directory: Path, files: Mapping[str, FileData]) -> None:
    """A folder that holds files already (a git checkout of the application, say) is written
    into only when every file the clone writes is absent there, equal, or committed to its git
    repository as it is; `UsageError` naming the others, nothing written."""
    if not directory.exists():
        return
    from cfgroll.store.worktree import committed

    safe = committed(directory)
    in_the_way = []
    for rel, data in sorted(files.items()):
        path = directory / rel
        if not os.path.lexists(path) or path.resolve() in safe:
            continue
        if path.is_file() and not path.is_symlink() and path.read_bytes() == data.data:
            continue
        in_the_way.append(rel)
    if in_the_way:
        shown_files = ", ".join(in_the_way[:5]) + (" …" if len(in_the_way) > 5 else "")
        raise UsageError(
            f"{directory} holds files the clone would write over that are neither the same nor "
            f"committed to its git repository ({shown_files}); commit or move them, or clone "
            "into a new folder; nothing was written"
        )


def _model(directory: Path) -> tuple[str | None, tuple[str, ...]]:
    """What Compose makes of the cloned folder: the project's name (a deploy there must be the
    lost host's project), and the services whose Dockerfile is not there (a release holds the
    stack's configuration, not its build contexts: they come from the source repository, or
    from `x-cfgroll: track:`)."""
    from cfgroll.context import Context

    try:
        config = Context.create(directory).compose.config()
    except (CfgrollError, OSError):
        return None, ()
    missing = []
    for service, spec in sorted((config.get("services") or {}).items()):
        build = spec.get("build") or {}
        if not build or build.get("dockerfile_inline"):
            continue
        where = Path(str(build.get("context") or directory))
        dockerfile = where / str(build.get("dockerfile") or "Dockerfile")
        if where.is_absolute() and not dockerfile.exists():
            missing.append(f"{service} ({_relative(dockerfile, directory)})")
    return str(config.get("name") or "") or None, tuple(missing)


def _relative(path: Path, directory: Path) -> str:
    try:
        return path.relative_to(directory).as_posix()
    except ValueError:
        return str(path)


def _opening(keys: Sequence[Path]) -> Opening:
    def open_one(data: bytes, recipients: tuple[str, ...], path: str) -> bytes:
        try:
            return age.open_sealed(data, keys, recipients)
        except age.CannotOpen:
            raise
        except CfgrollError as exc:
            raise StoreError(
                f"the mirror's sealed copy of {path} cannot be opened: it is damaged or was "
                f"not written by cfgroll ({exc}); nothing was written"
            ) from None

    return Opening(open_one, lambda recipients: age.Recipients(recipients).digest())
