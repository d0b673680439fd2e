"""The store's mirror as git sees it: its URL (the store's own git config, remote `mirror`:
never in a release, since a URL may hold credentials), and `git push` / `git fetch` /
`git ls-remote` to it, bounded in time and never asking for a password. Part of the store's
git door with `cfgroll.store.repo`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import git

from cfgroll.errors import MirrorError, MirrorRefused, MirrorUnreachable, MirrorUnrelated

REMOTE = "mirror"
MIRROR = "refs/mirror/"  # the store's refs as the mirror holds them (the translations)
PUSHED = "refs/mirrored/"  # what the mirror held after the last push that took
# The refs a mirror holds, by their names in the store.
KEPT = ("refs/heads/main", "refs/tags/", "refs/pins/", "refs/notes/commits")
# The mirror's refs from the store's translations: no `+`, so git never forces one over what
# the mirror holds (an unrelated history is refused, not replaced).
PUSH_SPECS = tuple(
    f"{MIRROR}{k[5:]}*:{k}*" if k.endswith("/") else f"{MIRROR}{k[5:]}:{k}" for k in KEPT
)
# A clone takes the folders these refs are in (an exact ref the mirror lacks would fail it).
FETCH_SPECS = tuple(
    f"+{f}*:{MIRROR}{f[5:]}*" for f in dict.fromkeys(k.rsplit("/", 1)[0] + "/" for k in KEPT)
)
_REFUSED = ("non-fast-forward", "fetch first", "already exists", "stale info")


def shown(url: str) -> str:
    """`url` (or a message quoting URLs) with any password or token masked:
    `https://user:***@host/…`, and a lone `https://***@host/…` user (a token); an ssh user
    name stays."""
    return re.sub(r"\b([a-z][a-z0-9+.-]*://)([^/@:\s']*)(:[^/@\s']*)?@", _masked, url, flags=re.I)


def _masked(m: re.Match[str]) -> str:
    if m.group(3):
        return f"{m.group(1)}{m.group(2)}:***@"
    if m.group(1).lower().startswith("http"):
        return f"{m.group(1)}***@"
    return m.group(0)


def absolute(url: str) -> str:
    """A local path as an absolute path (git runs in the store, not where the user is); a
    URL (`scheme://…`) or ssh's `host:path` as it is."""
    if "://" in url:
        return url
    if re.match(r"^[^/\\]+:", url) and not re.match(r"^[A-Za-z]:[\\/]", url):
        return url
    return os.path.abspath(os.path.expanduser(url))


def kept(ref: str) -> bool:
    return ref in KEPT or ref.startswith(tuple(k for k in KEPT if k.endswith("/")))


def url(repo: git.Repo) -> str | None:
    """The mirror's URL, read in-process (every command that writes asks: most stores have no
    mirror, and pay nothing for it)."""
    reader = repo.config_reader("repository")
    section = f'remote "{REMOTE}"'
    if not reader.has_option(section, "url"):
        return None
    return str(reader.get_value(section, "url")) or None


def set_url(repo: git.Repo, value: str) -> None:
    """Set the mirror's URL, and what a plain `git --git-dir … push mirror` pushes: the
    sealed translation, never the plaintext refs."""
    remove(repo)
    repo.git.config(f"remote.{REMOTE}.url", value)
    for spec in PUSH_SPECS:
        repo.git.config("--add", f"remote.{REMOTE}.push", spec)


def remove(repo: git.Repo) -> bool:
    """Forget the mirror; whether there was one."""
    try:
        repo.git.config("--remove-section", f"remote.{REMOTE}")
    except git.GitCommandError:
        return False
    return True


@dataclass(frozen=True)
class Pushed:
    refs: tuple[str, ...]  # the mirror's refs that moved or were created
    seconds: float


def push(repo: git.Repo, timeout: float, present: Collection[str]) -> Pushed:
    """Push every translation to the mirror, all or nothing; `MirrorUnreachable` when it
    cannot be reached in `timeout` seconds, `MirrorRefused` when it will not take them.
    `present`: the store's refs (a ref that does not exist yet, the notes say, is left out)."""
    started = time.monotonic()
    specs = [s for s in PUSH_SPECS if "*" in s or s.split(":")[0] in present]
    argv = ["push", "--atomic", "--porcelain", REMOTE, *specs]
    out = _run(repo, argv, timeout, "push to")
    moved = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0] in ("*", " ", "+") and ":" in parts[1]:
            moved.append(parts[1].split(":", 1)[1])
    return Pushed(tuple(moved), time.monotonic() - started)


def remote_refs(repo: git.Repo, timeout: float, where: str | None = None) -> dict[str, str]:
    """The refs the mirror (or `where`) holds that a store keeps -> object."""
    out = _run(repo, ["ls-remote", where or REMOTE], timeout, "reach")
    found = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name and not name.endswith("^{}"):
            found[name] = sha
    return found


def fetch(repo: git.Repo, where: str, timeout: float) -> None:
    """Everything the mirror at `where` keeps, into `refs/mirror/…` (a clone's first step)."""
    _run(repo, ["fetch", "--no-tags", "--quiet", where, *FETCH_SPECS], timeout, "fetch from")


def _run(repo: git.Repo, args: Sequence[str], timeout: float, what: str) -> str:
    """`git ARGS` in the store, bounded (`bounded`); its output, or the mirror's error."""
    done = bounded(repo, args, timeout)
    if done is None:
        raise MirrorUnreachable(
            f"the mirror did not answer within {timeout:g} s (x-cfgroll: push_timeout)"
        )
    code, out, err = done
    if code != 0:
        raise _failure(err + out, what, code)
    return out


def bounded(repo: git.Repo, args: Sequence[str], timeout: float) -> tuple[int, str, str] | None:
    """`git ARGS` in `repo` that may reach a remote: never asking for a password, killed
    (with its ssh or https helper) after `timeout` seconds; (exit code, stdout, stderr), or
    None when it timed out."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
    if not os.environ.get("GIT_SSH_COMMAND") and not os.environ.get("GIT_SSH"):
        env["GIT_SSH_COMMAND"] = f"ssh -o BatchMode=yes -o ConnectTimeout={max(1, int(timeout))}"
    # its own process group, so that a timeout kills the ssh or https helper too (GitPython
    # sets Windows' creation flags itself: there, killing git is what can be done)
    group = {} if sys.platform == "win32" else {"start_new_session": True}
    # the wrapper GitPython returns kills the process when it is collected: keep it
    handle = repo.git.execute(["git", *args], as_process=True, env=env, **group)
    proc = handle.proc
    assert isinstance(proc, subprocess.Popen)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return None
    del handle
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def _kill(proc: subprocess.Popen[Any]) -> None:
    try:
        if sys.platform == "win32":
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.communicate()


def _failure(text: str, what: str, code: int) -> MirrorError:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    denied = [ln for ln in lines if "[remote rejected]" in ln]
    if denied:
        why = denied[0].split("[remote rejected]", 1)[1].strip(" ()")
        declined = [ln.removeprefix("remote:").strip() for ln in lines if ln.startswith("remote:")]
        detail = "; ".join(filter(None, [why, *declined[:1]]))
        return MirrorRefused(f"the mirror refused the push ({shown(detail)[:200]})")
    if any(word in ln for ln in lines if "[rejected]" in ln for word in _REFUSED):
        return MirrorUnrelated(
            "the mirror holds a history this store did not write (a ref there is not an "
            "ancestor of the store's); cfgroll never forces a push over it: point `cfgroll "
            "mirror` at an empty repository, or at the lost host's own mirror from a clone"
        )
    return MirrorUnreachable(f"could not {what} the mirror ({said(text, code)})")


def said(text: str, code: int) -> str:
    """What git said went wrong, in one line: its first `fatal:` or `error:` line (else its
    last), credentials masked."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    why = next((ln for ln in lines if ln.startswith(("fatal:", "error:"))), last)
    return shown(why.removeprefix("fatal: ").removeprefix("error: "))[:200] or f"git exited {code}"
