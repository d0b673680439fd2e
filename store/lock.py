"""One deploy, update or rollback at a time per store.

An OS file lock (`filelock`) on `<store>/cfgroll.lock` does the locking: the OS releases it when
the holding process dies, so a crashed run never blocks the next one. Beside it,
`cfgroll.lock.json` says who holds it (pid, host, command, start time) for the error message,
and, when it is still there as a run starts, that an earlier run ended without cleaning up.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from cfgroll.errors import LockHeld

LOCK_NAME = "cfgroll.lock"
_held: set[Path] = set()  # the stores whose lock this run holds for the commands it calls
INFO_NAME = "cfgroll.lock.json"
# Set by a run that holds the lock for the cfgroll processes it starts (a fleet's host runs):
# its pid. Such a process works under that lock while its holder still holds it.
HOLDER_ENV = "CFGROLL_LOCK_HOLDER"


def holder(store_path: Path) -> dict[str, object] | None:
    """What the lock's info file says about its holder, if anything."""
    try:
        data = json.loads((store_path / INFO_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe(info: dict[str, object] | None) -> str:
    if not info:
        return "another cfgroll run"
    return (
        f"`cfgroll {info.get('command', '?')}` (pid {info.get('pid', '?')} on "
        f"{info.get('host', '?')}, started {info.get('started', '?')})"
    )


LockState = Literal["free", "held", "stale"]


def state(store_path: Path) -> LockState:
    """`held` by a running cfgroll; `stale`: a run ended without cleaning up (its info file
    is still there, the OS lock is free); else `free`."""
    from filelock import FileLock, Timeout

    if not (store_path / LOCK_NAME).exists():
        return "stale" if holder(store_path) else "free"
    lock = FileLock(str(store_path / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return "held"
    lock.release()
    return "stale" if holder(store_path) else "free"


def clear_stale(store_path: Path) -> None:
    (store_path / INFO_NAME).unlink(missing_ok=True)


@contextmanager
def store_lock(
    store_path: Path,
    command: str,
    timeout: float = 0,
    warn: Callable[[str], None] = lambda _msg: None,
    nested: bool = False,
) -> Iterator[None]:
    """Hold the store's lock for the block; raise `LockHeld` after `timeout` seconds.
    `nested`: the commands this run calls inside the block (`cfgroll pull`'s deploy) hold it
    on instead of waiting for it."""
    from filelock import FileLock, Timeout

    key = store_path.absolute()
    if key in _held or _held_for_us(store_path):
        yield
        return

    lock = FileLock(str(store_path / LOCK_NAME), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise LockHeld(
            f"the store is locked by {describe(holder(store_path))}; wait for it to finish, "
            "or pass --lock-timeout SECONDS to wait"
        ) from None
    info_path = store_path / INFO_NAME
    try:
        stale = holder(store_path)
        if stale is not None:
            warn(
                f"taking over the lock of {describe(stale)}, which ended without releasing it; "
                "run `cfgroll status` to check what is running"
            )
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "started": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "time": time.time(),
        }
        info_path.write_text(json.dumps(info) + "\n", encoding="utf-8")
        if nested:
            _held.add(key)
        try:
            yield
        finally:
            _held.discard(key)
            info_path.unlink(missing_ok=True)
    finally:
        lock.release()


def _held_for_us(store_path: Path) -> bool:
    """Whether the process that started this one holds the store's lock for it."""
    pid = os.environ.get(HOLDER_ENV)
    if not pid:
        return False
    info = holder(store_path) or {}
    return str(info.get("pid")) == pid and state(store_path) == "held"
