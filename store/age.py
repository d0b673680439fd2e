"""The one door to age (https://age-encryption.org): the `age` command line seals a secret file
for the mirror and opens it again on a clone. cfgroll writes no cryptography of its own; age's
recipients (`age1…` keys, SSH public keys, recipients files) and identities (key files, SSH
private keys, plugins) are age's, as its manual describes them."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cfgroll.errors import StoreError, UsageError

# What a recipient that is a key (not a file's path) starts with: age's own keys, a plugin's,
# and the SSH public keys age takes.
KEY_PREFIXES = ("age1", "ssh-", "ecdsa-", "sk-")
INSTALL = (
    "install age (`apt install age`, `brew install age`, `winget install FiloSottile.age`, or "
    "https://age-encryption.org)"
)


IDENTITY_ENV = "CFGROLL_IDENTITY"  # identity files, separated as PATH is


class AgeError(StoreError):
    """age is missing, or would not seal or open a file."""


class CannotOpen(AgeError):
    """No identity given opens a sealed file."""


@dataclass(frozen=True)
class Recipients:
    """Who can open what cfgroll seals: public keys, and recipients files (one key a line,
    `#` comments), as `x-cfgroll: recipients:` names them."""

    keys: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()

    @classmethod
    def of(cls, entries: Sequence[str], folder: Path) -> Recipients:
        """`x-cfgroll: recipients:` entries: public keys (`age1…`, `ssh-ed25519 …`, …), or
        recipients files relative to the project `folder`."""
        keys = tuple(e for e in entries if e.startswith(KEY_PREFIXES))
        files = tuple(folder / e for e in entries if not e.startswith(KEY_PREFIXES))
        return cls(keys, files)

    def __bool__(self) -> bool:
        return bool(self.keys or self.files)

    def listed(self) -> tuple[str, ...]:
        """Every public key, the recipients files' too: what a clone names as the keys whose
        identity it needs."""
        found = list(self.keys)
        for path in self.files:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise AgeError(
                    f"cannot read the recipients file {path} ({exc.strerror}); "
                    "`x-cfgroll: recipients:` names it"
                ) from None
            found += [line.strip() for line in text.splitlines() if _key_line(line)]
        return tuple(found)

    def digest(self) -> str:
        """Equal for the same set of keys: a sealed file is sealed again only when they change."""
        keys = "\n".join(sorted(set(self.listed())))
        return hashlib.sha256(keys.encode()).hexdigest()[:16]


def identities(given: Sequence[Path]) -> list[Path]:
    """The identity files that open what cfgroll sealed: `given` (`--identity`), else
    `CFGROLL_IDENTITY`; each must be a readable file."""
    chosen = list(given)
    if not chosen:
        chosen = [Path(p) for p in os.environ.get(IDENTITY_ENV, "").split(os.pathsep) if p]
    for path in chosen:
        if not path.is_file():
            raise UsageError(f"the identity file {path} does not exist or is not a file")
    return chosen


def _key_line(line: str) -> bool:
    return bool(line.strip()) and not line.lstrip().startswith("#")


def _age() -> str:
    found = shutil.which("age")
    if found is None:
        raise AgeError(
            f"cfgroll seals secrets with the `age` command, which is not found; {INSTALL}"
        )
    return found


def check() -> None:
    """`AgeError` when age is not installed."""
    _age()


def seal(data: bytes, recipients: Recipients) -> bytes:
    """`data` encrypted to `recipients`, ASCII-armored (a diff on the mirror shows that the
    file changed, and what it is)."""
    argv = [_age(), "--encrypt", "--armor"]
    for key in recipients.keys:
        argv += ["--recipient", key]
    for path in recipients.files:
        argv += ["--recipients-file", str(path)]
    return _run(argv, data, "seal a secret file for the mirror")


def open_sealed(data: bytes, identities: Sequence[Path], needed: Sequence[str]) -> bytes:
    """What `seal` sealed, opened with one of `identities`; `CannotOpen` naming the keys
    (`needed`) when none of them opens it."""
    if not identities:
        raise CannotOpen(_needs(needed, "no identity was given"))
    argv = [_age(), "--decrypt"]
    for path in identities:
        argv += ["--identity", str(path)]
    try:
        return _run(argv, data, "open a sealed file")
    except AgeError as exc:
        if "no identity matched" in str(exc):
            raise CannotOpen(_needs(needed, "the identity given opens none of them")) from None
        raise


def _needs(keys: Sequence[str], why: str) -> str:
    shown = ", ".join(k if len(k) < 40 else k[:36] + "…" for k in keys) or "(not recorded)"
    return (
        f"the mirror's secrets are sealed with age to {shown}, and {why}; pass --identity FILE "
        "(or CFGROLL_IDENTITY) with the private key of one of those recipients"
    )


def _run(argv: list[str], data: bytes, what: str) -> bytes:
    try:
        done = subprocess.run(argv, input=data, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AgeError(f"could not {what} with age ({exc})") from None
    if done.returncode != 0:
        raise _failed(what, done.stderr, done.returncode)
    return done.stdout


def _failed(what: str, stderr: bytes, code: int) -> AgeError:
    """age's own `age: error: …` line (else its first), as one line."""
    lines = stderr.decode(errors="replace").strip().splitlines()
    why = next((line for line in lines if line.startswith("age: error:")), "")
    why = (why or (lines[0] if lines else f"exit {code}")).removeprefix("age: ")
    return AgeError(f"could not {what} with age: {why}")


@contextmanager
def sealing_to(path: Path, recipients: Recipients) -> Iterator[IO[bytes]]:
    """A stream whose bytes age seals, as they come, into `path` (a dump of any size)."""
    argv = [_age(), "--encrypt", "--output", str(path)]
    for key in recipients.keys:
        argv += ["--recipient", key]
    for file in recipients.files:
        argv += ["--recipients-file", str(file)]
    with _streaming(argv, "seal a dump", stdin=True) as proc:
        assert proc.stdin is not None
        yield proc.stdin
        proc.stdin.close()


@contextmanager
def opening(path: Path, identities: Sequence[Path]) -> Iterator[IO[bytes]]:
    """The bytes age opens from `path`, as a stream."""
    if not identities:
        raise CannotOpen(
            f"{path.name} is sealed with age; set CFGROLL_IDENTITY to an identity file that "
            "opens it"
        )
    argv = [_age(), "--decrypt"]
    for identity in identities:
        argv += ["--identity", str(identity)]
    with _streaming([*argv, str(path)], "open a dump", stdin=False) as proc:
        assert proc.stdout is not None
        yield proc.stdout


@contextmanager
def _streaming(argv: list[str], what: str, stdin: bool) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=None if stdin else subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    assert proc.stderr is not None
    err = proc.stderr.read()
    if proc.wait() != 0:
        raise _failed(what, err, proc.returncode)
