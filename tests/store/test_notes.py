"""Git notes on releases: what ran after a release was recorded, appended by several
processes at once (a fleet's host runs that joined one release) without losing any."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cfgroll.store.repo import Store
from tests.store.test_repo import add

WRITER = """
import sys
from pathlib import Path
from cfgroll.store.repo import Store
store = Store.open(Path(sys.argv[1]))
for i in range(int(sys.argv[4])):
    store.add_note(sys.argv[2], f"{sys.argv[3]} {i}")
"""


def test_notes_appended_at_once_by_several_processes_lose_nothing(tmp_path: Path) -> None:
    store, _ = Store.create(tmp_path / "store.git")
    (v1,) = add(store, 1)
    commit = store.resolve(v1).commit
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(store.path), commit, name, "12"])
        for name in ("a", "b", "c")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    lines = [line for line in store.note(commit).splitlines() if line]
    assert sorted(lines) == sorted(f"{n} {i}" for n in "abc" for i in range(12))
