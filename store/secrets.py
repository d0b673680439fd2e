"""Masking of secret values in everything cfgroll shows.

`.env`-style files (the project `.env` and every `env_file:`) are masked whole: keys stay
visible, values become `***`. Files of `secrets:` are never shown at all. In other text files
(compose files, mounted config files), values of keys that look like secrets (`*PASSWORD*`,
`*SECRET*`, `*TOKEN*`, …) are masked; that part is a heuristic.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cfgroll.store.files import FileData

MASK = "***"
_UTF16 = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

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
    files, to be kept out of log excerpts. A multi-line value counts line by line too: an
    excerpt may hold only some of its lines."""
    values: list[str] = []
    for path in files:  # only the env and secret files are read (`files` may read lazily)
        secret, env = is_secret(roles.get(path)), is_env(path, roles.get(path))
        if not (secret or env):
            continue
        text = text_of(files[path].data)
        if secret:
            values += [text.strip(), *(line.strip() for line in text.splitlines())]
        else:
            for entry in env_entries(text):
                for value in {entry.value or "", entry.written}:  # `cat .env` shows the latter
                    lines = value.splitlines()
                    values += [value, *(line.strip() for line in lines)] if lines[1:] else [value]
    return values


def is_env_path(path: str) -> bool:
    """Whether a project file is `.env`-style by its name (`.env`, `app.env`, `.env.prod`)."""
    name = path.rsplit("/", 1)[-1]
    return name == ".env" or name.endswith(".env") or name.startswith(".env.")


def text_of(data: bytes) -> str:
    """A file's text as Compose reads it: UTF-8 without its byte order mark (what Notepad and
    PowerShell write first); UTF-16 with a byte order mark decoded, so that it is masked like
    any other (Compose itself refuses it); bytes that are not text replaced."""
    if data[:2] in _UTF16:
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def shown_as_text(file: FileData) -> bool:
    """Whether a file is shown (masked) as text: not binary by git's rule, or UTF-16 with a
    byte order mark (binary to git, text to a person and to the masking)."""
    return file.kind == "link" or not file.binary or file.data[:2] in _UTF16


@dataclass(frozen=True)
class EnvEntry:
    """One statement of a `.env`-style file as Compose reads it.

    `key` is None for a comment or blank line and for a line that cannot be read (`readable`
    False: its whole text is then treated as a value). `value` is the value with quotes and
    escapes undone, not interpolated (None for a bare `KEY`, which Compose takes from the
    environment); `written`, the value as it stands in the file (in its quotes, escapes
    and all). `head` is the statement's first line up to its value (`export KEY = `); `text`
    the statement as written, blank lines before it included."""

    key: str | None
    value: str | None
    head: str
    text: str
    readable: bool = True

    @property
    def written(self) -> str:
        if not self.readable:
            return self.text.strip()
        rest = self.text.lstrip()[len(self.head.lstrip()) :].strip()
        if rest[:1] in ("'", '"') and rest.rfind(rest[0]) > 0:
            return rest[1 : rest.rfind(rest[0])]
        return rest


# Compose also reads `KEY: value` (YAML style); python-dotenv does not, so such a line is read
# again as `KEY=value`.
_COLON_FORM = re.compile(r"^(\s*(?:export\s+)?[^\s:=#'\"]+\s*):[ \t]*(.*)$", re.DOTALL)
_HEAD = re.compile(r"^(\s*(?:export\s+)?['\"]?[^\s=:'\"]+['\"]?\s*[=:][ \t]*)")


def env_entries(text: str) -> list[EnvEntry]:
    """The statements of a `.env`-style file, read by python-dotenv's parser (which reads
    quotes, escapes, `export`, inline comments and multi-line values as Compose does; the
    project's Compose-oracle test holds it to that; it drops a leading BOM as Compose does)."""
    from dotenv.parser import parse_stream  # about 4 ms, paid only where a .env is read

    entries = []
    for b in parse_stream(io.StringIO(text)):
        original = b.original.string
        blank, statement = _split_blank_lines(original)
        if b.error:
            colon = _COLON_FORM.match(statement)
            again = list(parse_stream(io.StringIO(f"{colon[1]}={colon[2]}"))) if colon else []
            if colon and len(again) == 1 and again[0].key and not again[0].error:
                head = f"{blank}{colon[1]}: "
                entries.append(EnvEntry(again[0].key, again[0].value, head, original))
            else:
                entries.append(EnvEntry(None, None, blank, original, readable=False))
            continue
        if b.key is None:
            entries.append(EnvEntry(None, None, original, original))
            continue
        start = _HEAD.match(statement.splitlines()[0] if statement else "")
        entries.append(
            EnvEntry(b.key, b.value, blank + (start[1] if start else f"{b.key}="), original)
        )
    return entries


def _split_blank_lines(text: str) -> tuple[str, str]:
    """The blank lines python-dotenv puts before a statement, and the statement."""
    lines = text.splitlines(keepends=True)
    n = 0
    while n < len(lines) and not lines[n].strip():
        n += 1
    return "".join(lines[:n]), "".join(lines[n:])


def parse_env(text: str) -> dict[str, str]:
    """Keys and values of a `.env`-style file, as Compose reads them (not interpolated)."""
    return {e.key: e.value or "" for e in env_entries(text) if e.key is not None}


def mask_env(text: str, changed: frozenset[str] = frozenset()) -> str:
    """The file with every value replaced by `***`; keys in `changed` say so. Comments and
    blank lines stay; a line that cannot be read is masked whole."""
    out: list[str] = []
    for e in env_entries(text):
        if e.key is not None:
            if e.value is None:  # a bare `KEY`: no value in the file
                out.append(e.text.rstrip("\r\n"))
                continue
            note = "  (value changed)" if e.key in changed else ""
            out.append(f"{e.head}{MASK}{note}")
        elif e.readable:
            out.append(e.text.rstrip("\r\n"))
        else:
            out.append(f"{e.head}{MASK}  (a line cfgroll cannot read; Compose would refuse it)")
    masked = "\n".join(out).replace("\r", "")
    return masked + ("\n" if text.endswith("\n") and masked else "")


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
