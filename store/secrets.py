"""Masking of secret values in everything cfgroll shows.

`.env`-style files (the project `.env` and every `env_file:`) are masked whole: keys stay
visible, values become `***`. Files of `secrets:` are never shown at all. In other text files
(compose files, mounted config files), values of keys that look like secrets (`*PASSWORD*`,
`*SECRET*`, `*TOKEN*`, …) are masked; that part is a heuristic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cfgroll.store.files import FileData

MASK = "***"

_ENV_LINE = re.compile(r"^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_.-]*)(\s*=\s*)(.*)$")
_SECRET_NAME = (
    r"[A-Za-z0-9_]*"
    r"(?:PASSWORD|PASSWD|PASS|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?|AUTH)"
    r"[A-Za-z0-9_]*"
)
# `KEY: value`, `- KEY=value`, `"KEY": "value"` in YAML, where KEY looks like a secret.
_COMPOSE_SECRET = re.compile(
    r"^(\s*-?\s*[\"']?" + _SECRET_NAME + r"[\"']?\s*[:=]\s*)(\S.*)$", re.IGNORECASE
)


def is_env(path: str, role: str | None = None) -> bool:
    """Whether a project file's values are secrets: recorded as `env`, or named like one."""
    return role == "env" or (role != "secret" and is_env_path(path))


def is_secret(role: str | None) -> bool:
    """Whether a project file is a `secrets:` file: its content is never shown."""
    return role == "secret"


def secret_values(files: Mapping[str, FileData], roles: Mapping[str, str]) -> list[str]:
    """Every value of the project's `.env`-style files and the content of its `secrets:`
    files, to be kept out of log excerpts."""
    values: list[str] = []
    for path, file in files.items():
        text = file.data.decode(errors="replace")
        if is_secret(roles.get(path)):
            values += [text.strip(), *(line.strip() for line in text.splitlines())]
        elif is_env(path, roles.get(path)):
            values += parse_env(text).values()
    return values


def is_env_path(path: str) -> bool:
    """Whether a project file is `.env`-style by its name (`.env`, `app.env`, `.env.prod`)."""
    name = path.rsplit("/", 1)[-1]
    return name == ".env" or name.endswith(".env") or name.startswith(".env.")


def parse_env(text: str) -> dict[str, str]:
    """Keys and raw values of a `.env`-style file (quoted multi-line values are joined)."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _ENV_LINE.match(lines[i])
        i += 1
        if not m:
            continue
        key, value = m.group(2), m.group(4)
        quote = value[:1]
        if quote in ("'", '"') and not _closes(value[1:], quote):
            while i < len(lines):
                value += "\n" + lines[i]
                i += 1
                if _closes(lines[i - 1], quote):
                    break
        values[key] = value.strip()
    return values


def _closes(text: str, quote: str) -> bool:
    return re.search(r"(?<!\\)" + re.escape(quote), text) is not None


def mask_env(text: str, changed: frozenset[str] = frozenset()) -> str:
    """The file with every value replaced by `***`; keys in `changed` say so."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        m = _ENV_LINE.match(line)
        if not m:
            out.append(line)
            continue
        value = m.group(4)
        quote = value[:1]
        if quote in ("'", '"') and not _closes(value[1:], quote):
            while i < len(lines) and not _closes(lines[i], quote):
                i += 1
            i += 1  # the closing line is part of the value too
        note = "  (value changed)" if m.group(2) in changed else ""
        out.append(f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}{note}")
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def mask_compose(text: str) -> str:
    """The compose file with values of secret-looking keys replaced by `***`."""
    return "\n".join(
        _COMPOSE_SECRET.sub(lambda m: m.group(1) + MASK, line) for line in text.splitlines()
    ) + ("\n" if text.endswith("\n") else "")


@dataclass(frozen=True)
class EnvChanges:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def env_changes(old: str, new: str) -> EnvChanges:
    a, b = parse_env(old), parse_env(new)
    return EnvChanges(
        added=tuple(sorted(b.keys() - a.keys())),
        removed=tuple(sorted(a.keys() - b.keys())),
        changed=tuple(sorted(k for k in a.keys() & b.keys() if a[k] != b[k])),
    )


def redact(text: str, values: Iterable[str]) -> str:
    """`text` (a log excerpt, say) with every occurrence of a secret value replaced by `***`.

    Values shorter than 4 characters are left alone: they would mask ordinary words.
    """
    for value in sorted({v.strip("'\"") for v in values}, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, MASK)
    return text


def mask(path: str, text: str, role: str | None = None) -> str:
    """`text` of the project file `path` as it may be shown without `--show-secrets`."""
    if is_secret(role):
        return f"{MASK} (a secrets: file; its content is shown only with --show-secrets)\n"
    if is_env(path, role):
        return mask_env(text)
    return mask_compose(text)
