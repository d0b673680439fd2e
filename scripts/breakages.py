"""Put back, one at a time, each breakage the suite once missed (issue 29's list), in a clone
of this checkout, and show which test fails on it: every one must be caught by the tests that
need no engine. `python scripts/breakages.py` (about a minute); docs/testing.md has the table.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
FAST = ["tests/core", "tests/store", "tests/project", "tests/engine", "tests/test_windows.py"]
# (what breaks, file, the code as it is, the code broken)
BREAKAGES = [
    ("a restart loop passes: the restart count is not compared", "cfgroll/capabilities/gate.py",
     'if c.state == "restarting" or c.restart_count > before.restarts.get(c.id, 0):',
     'if c.state == "restarting":'),
    ("two replicas: the gate takes the best instead of the worst", "cfgroll/capabilities/gate.py",
     "states[name] = min(verdicts, key=_ORDER.index)", "states[name] = max(verdicts, key=_ORDER.index)"),
    ("preflight compares free space against the margin alone", "cfgroll/capabilities/preflight.py",
     "if free < needs.store_bytes + margin:", "if free < margin:"),
    ("a lock info file without its lock reads as free", "store/lock.py",
     'return "stale" if holder(store_path) else "free"\n    lock', 'return "free"\n    lock'),
    ("the atomic write's temporary file outside the target's folder", "store/files.py",
     "dir=path.parent)", "dir=tempfile.gettempdir())"),
    ("show treats secrets: files as plain text", "store/secrets.py",
     "    if is_secret(role):\n        return f", "    if False:\n        return f"),
    ("retention removes an image a kept release needs", "cfgroll/capabilities/retention.py",
     "        and image_id not in needed\n", ""),
    ("retention untags a tag a kept release records", "cfgroll/capabilities/retention.py",
     "r in existing and r not in kept_refs", "r in existing"),
    ("the importer no longer sorts folders by time", "cfgroll/operations/importer.py",
     "    folders.sort()\n", ""),
    ("the folder is not synced after the rename", "store/files.py",
     "        raise\n    fsync_dir(path.parent)\n\n\n# Windows", "        raise\n\n\n# Windows"),
    ("a .env read line by line at `=`: no inline comment, no quotes, no multi-line value",
     "store/secrets.py",
     "    return {e.key: e.value or \"\" for e in env_entries(text) if e.key is not None}",
     "    return dict(ln.split(\"=\", 1) for ln in text.splitlines() if \"=\" in ln)"),
    ("a log excerpt is not redacted", "store/secrets.py",
     "    for value in sorted({v.strip(\"'\\\"\") for v in values}, key=len, reverse=True):",
     "    for value in []:"),
    # issue 28
    ("the stat cache trusts an entry the live release does not hold", "store/statcache.py",
     "return cached if cached is not None and cached == self.ids.get(path) else None",
     "return cached"),
    ("the stat cache keeps a file changed in the same clock tick", "store/statcache.py",
     "if st[1] < settled and st[2] < settled and (keep", "if (keep"),
    ("a release written from known ids loses the executable bit", "store/objects.py",
     "node[name] = (bytes.fromhex(sha), int(mode, 8))", "node[name] = (bytes.fromhex(sha), 0o100644)"),
    ("the dry run misreads Compose's Recreate", "cfgroll/orchestrators/compose.py",
     '"Recreate": ("recreate", "its configuration changed"),', '"Recreate": ("unchanged", ""),'),
    # issue 27
    ("the automatic rollback's end is ignored in the time to restore", "cfgroll/history/stats.py",
     "if not failure.ok and failure.restored_at is not None:", "if False:"),
    ("imports, baselines and rollbacks count as deployments", "cfgroll/history/stats.py",
     "return self.action in DEPLOYMENTS and self.kind in", "return self.kind in"),
    # issue 35
    ("the copy of a data service goes back without emptying its folders first",
     "cfgroll/capabilities/volumes.py",
     "                ctx.daemon.folders.run_one_off(helper, COPY_TIMEOUT, \"emptying the folders\")\n", ""),
    ("Compose's `$$` in `x-cfgroll:` read as written", "cfgroll/engine/compose.py",
     "        model[key] = _unescaped(model[key])", "        pass"),
    ("the postgres preset keeps the databases a newer release added", "cfgroll/presets.py",
     "SELECT format('DROP DATABASE %I WITH (FORCE)', datname)", "SELECT format('SELECT %L', datname)"),
]  # fmt: skip


def main() -> int:
    missed = 0
    with tempfile.TemporaryDirectory() as work:
        clone = Path(work) / "src"
        subprocess.run(["git", "clone", "-q", str(HERE), str(clone)], check=True)
        for what, rel, good, bad in BREAKAGES:
            path = clone / rel
            text = path.read_text(encoding="utf-8")
            if text.count(good) != 1:
                print(f"STALE   {what}: the code it breaks has changed ({rel})")
                missed += 1
                continue
            path.write_text(text.replace(good, bad), encoding="utf-8")
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *FAST],
                cwd=clone, capture_output=True, text=True,
            )  # fmt: skip
            path.write_text(text, encoding="utf-8")
            failed = [ln for ln in run.stdout.splitlines() if ln.startswith("FAILED")]
            caught = run.returncode != 0
            missed += not caught
            shown = failed[0].split(" - ")[0].removeprefix("FAILED ") if failed else "-"
            print(f"{'caught' if caught else 'MISSED'}  {what}: {shown}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
