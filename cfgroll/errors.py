"""The errors cfgroll reports to its users.

Every error is a `CfgrollError`; its message is a whole sentence that says what went wrong and
what to do next. The CLI prints it as `error: <message>` and exits with `exit_code`.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence

# Exit codes, documented in docs/commands.md ("Exit codes").
EXIT_OK = 0
EXIT_ERROR = 1  # an error before anything changed: bad input, engine unreachable, lock held
EXIT_USAGE = 2
EXIT_ROLLED_BACK = 3  # the deploy failed and the previous release is running again
EXIT_ROLLBACK_FAILED = 4  # the deploy failed and putting the previous release back failed too
EXIT_INTERRUPTED = 130


class CfgrollError(Exception):
    """Base of every error cfgroll reports; `str(err)` is the message for the user.

    `details` (log lines, a health check's output) is printed below the message.
    """

    exit_code = EXIT_ERROR
    details = ""


class UsageError(CfgrollError):
    """The command line asks for something that cannot be done as asked."""

    exit_code = EXIT_USAGE


class ProjectError(CfgrollError):
    """The Compose project cannot be read: no compose file, an invalid one, a file outside it."""


class StoreError(CfgrollError):
    """The store is missing, unreadable or not a cfgroll store."""


class UnknownRelease(CfgrollError):
    """A tag, timestamp or alias names no release in the store."""

    def __init__(self, ref: str, hint: str = "") -> None:
        self.ref = ref
        super().__init__(
            f"no release matches {ref!r}; run `cfgroll log` to see the releases"
            + (f" ({hint})" if hint else "")
        )


class ImageMissing(CfgrollError):
    """A release cannot be restored because images it recorded are gone from the engine."""

    def __init__(self, tag: str, missing: Sequence[tuple[str, str]]) -> None:
        self.tag = tag
        self.missing = list(missing)
        names = ", ".join(f"{svc} ({image_id[:19]})" for svc, image_id in self.missing)
        super().__init__(
            f"release {tag} can no longer be restored: the image of {names} is gone from the "
            "engine and was not recorded from a registry (built here), so it cannot be "
            f"pulled; nothing was changed; `cfgroll checkout {tag}` writes its files back for "
            "`cfgroll deploy` to rebuild, and `cfgroll log` shows which releases can still be "
            "restored"
        )


class EngineUnreachable(CfgrollError):
    """The Docker engine or the `docker compose` plugin cannot be reached."""


class EngineRefused(CfgrollError):
    """The engine answered but would not do it (a conflict, a bad request)."""


class CommandFailed(CfgrollError):
    """An outside command (`docker compose …`) exited non-zero."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str, what: str = "") -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        action = what or " ".join(self.argv[:3])
        super().__init__(f"{action} failed (exit {returncode}): {self.last_line}")

    @property
    def last_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else "no output"


class LockHeld(CfgrollError):
    """Another cfgroll run holds the store's lock."""


class MirrorError(CfgrollError):
    """The store's mirror did not take its history (exit 1); a deploy only warns."""


class MirrorUnreachable(MirrorError):
    """The mirror cannot be reached (a wrong URL, no network, no answer in time)."""


class MirrorRefused(MirrorError):
    """The mirror, or cfgroll, will not push: an unrelated history there, a secret with no
    recipient to seal it to, a server that denies it."""


class MirrorUnrelated(MirrorRefused):
    """The mirror holds a history this store did not write: never pushed over."""


class DeployFailed(CfgrollError):
    """A deploy or rollback failed and the release that was live runs again (exit 3)."""

    exit_code = EXIT_ROLLED_BACK

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class RollbackFailed(CfgrollError):
    """A deploy or rollback failed and the stack is not what any release recorded (exit 4)."""

    exit_code = EXIT_ROLLBACK_FAILED

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


def os_error(exc: OSError) -> str:
    """One line for an operating-system error: what failed, on which path, what to do."""
    where = f" ({exc.filename})" if exc.filename else ""
    what = exc.strerror or str(exc)
    hint = {
        errno.ENOSPC: "free some space on that file system, or keep the store elsewhere (--store)",
        errno.EDQUOT: "free some space within your quota",
        errno.EACCES: "check the permissions of that path for the user running cfgroll",
        errno.EPERM: "check the permissions of that path for the user running cfgroll",
        errno.EROFS: "that file system is mounted read-only",
    }.get(exc.errno or 0, "run with --debug for the details")
    return f"{what}{where}; {hint}"


def one_line(exc: BaseException) -> str:
    """What went wrong, in one line, for a message that goes on (a deploy's failure reason)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, OSError) and not isinstance(exc, CfgrollError):
        return os_error(exc)
    text = " ".join(str(exc).split())
    return (text[:300] + "…" if len(text) > 300 else text) or type(exc).__name__
