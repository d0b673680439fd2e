"""Everything a command works on: the Compose project, its store, the engine, a reporter."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cfgroll.engine.compose import Compose
from cfgroll.settings import Flags, parse

if TYPE_CHECKING:
    from cfgroll.engine.daemon import Daemon
    from cfgroll.store.repo import Store
    from cfgroll.store.statcache import Known

STORE_ENV = "CFGROLL_STORE"
# Set by a fleet deploy or rollback for each host run it starts (`cfgroll.operations.fleet`):
# the host's name (its live release is `refs/hosts/<name>`) and the release name the run
# records or, when it exists, joins.
HOST_ENV = "CFGROLL_HOST"
RELEASE_ENV = "CFGROLL_RELEASE"
STORE_DIR = ".cfgroll"


class Reporter(Protocol):
    """Where the core sends progress; the CLI draws it, tests collect it."""

    def step(self, message: str) -> None: ...

    def output(self, line: str) -> None: ...  # a line of Compose's own progress

    def warn(self, message: str) -> None: ...

    def states(self, states: dict[str, str]) -> None: ...  # the health gate's view


class Silent:
    def step(self, message: str) -> None:
        pass

    def output(self, line: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def states(self, states: dict[str, str]) -> None:
        pass


def default_store_path(project_dir: Path) -> Path:
    return project_dir / STORE_DIR / "store.git"


@dataclass
class Context:
    compose: Compose
    store_path: Path
    reporter: Reporter = field(default_factory=Silent)
    flags: Flags = field(default_factory=Flags)  # the command line's say on the settings
    host: str | None = None  # a fleet's host this run works on (its engine is the chosen one)
    release_name: str | None = None  # the name a fleet gave the release this run records
    _daemon: Daemon | None = None
    _store: Store | None = None  # opened once per run: one git reader, its caches shared

    @classmethod
    def create(
        cls,
        project_dir: Path | None = None,
        files: Sequence[str] = (),
        project_name: str | None = None,
        store: Path | None = None,
        reporter: Reporter | None = None,
        flags: Flags | None = None,
        env_files: Sequence[str] = (),
        model: bool = False,
    ) -> Context:
        """`model`: the command reads Compose's model; Compose starts resolving it now."""
        from cfgroll.project import locate

        compose = locate(
            project_dir or Path.cwd(), files, project_name, env_files, walk=project_dir is None
        )
        if model:
            compose.prefetch()
        env_store = os.environ.get(STORE_ENV)
        store_path = store or (Path(env_store) if env_store else None)
        store_path = (store_path or default_store_path(compose.directory)).absolute()
        return cls(
            compose,
            store_path,
            reporter or Silent(),
            flags or Flags(),
            os.environ.get(HOST_ENV) or None,
            os.environ.get(RELEASE_ENV) or None,
        )

    def for_host(self, host: str | None) -> Context:
        """This context for a fleet's host (`log --host`, `stats --host`): its store reads the
        host's live release and attempts."""
        from dataclasses import replace

        from cfgroll.errors import UsageError

        if host is None:
            return self
        known = sorted(self.open_store().hosts_live())
        if host not in known:
            listed = ", ".join(known) or "none yet"
            raise UsageError(f"the store has no release for host {host} (its hosts: {listed})")
        fleet = self.open_store().live()
        for h in parse(fleet.manifest.layout.settings if fleet else None).hosts:
            if h.name == host:  # its engine: what `log` finds restorable is there
                from cfgroll.engine.daemon import Daemon
                from cfgroll.engine.hosts import endpoint_of

                return replace(
                    self, host=host, _store=None, _daemon=Daemon(endpoint_of(h.endpoint))
                )
        return replace(self, host=host, _store=None)

    @property
    def directory(self) -> Path:
        return self.compose.directory

    @property
    def restore_journal(self) -> Path:
        """Beside the store: a data restore under way (`cfgroll.capabilities.volumes`)."""
        return self.store_path.parent / "restore.json"

    @property
    def daemon(self) -> Daemon:
        if self._daemon is None:
            from cfgroll.engine.daemon import Daemon

            self._daemon = Daemon()
        return self._daemon

    def open_store(self) -> Store:
        from cfgroll.store.repo import Store

        if self._store is None or not Store.exists(self.store_path):
            self._store = Store.open(self.store_path, self.host)
        return self._store

    def known(self) -> Known | None:
        """What reading the project may take as known: its stat cache and the live release's
        files; None without a store."""
        from cfgroll.errors import StoreError
        from cfgroll.store.repo import Store

        try:
            if not Store.exists(self.store_path):
                return None
            store = self.open_store()
            return store.known(self.directory, store.live())
        except StoreError:
            return None  # a damaged store: read every file, and let the command say what is wrong

    def create_store(self) -> tuple[Store, bool]:
        from cfgroll.store.repo import Store

        if self._store is not None and Store.exists(self.store_path):
            return self._store, False
        store, created = Store.create(self.store_path, f"cfgroll store of {self.compose.directory}")
        self._store = Store.open(self.store_path, self.host) if self.host else store
        return self._store, created


def choose_engine(context: str) -> None:
    """`--context NAME`: this run, Compose, the docker CLI and the hooks all talk to that
    docker context's engine (checked at once: an unknown name is an error)."""
    from cfgroll.engine.endpoint import use_context

    use_context(context)


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def who() -> tuple[str, str]:
    """(user, host) recorded in releases."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return user, socket.gethostname()
