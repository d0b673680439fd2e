"""Reading the values of the `x-cfgroll:` block, one kind each (paths, seconds, counts,
durations, words of a typed vocabulary, commands, the `data:` and `pull:` blocks); every one
refuses a wrong value with a one-line `ProjectError` that names the key and shows an example.
`cfgroll.settings` puts them together."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from cfgroll.errors import ProjectError
from cfgroll.store import system

KEY = "x-cfgroll"


DUMP_TIMEOUT = 600.0  # seconds a dump or a restore may take


@dataclass(frozen=True)
class DataCommand:
    """How a service's data leaves and comes back: `dump` writes it to stdout, `restore` reads
    it from stdin, both run in the service's running container (no shell), each within
    `timeout` seconds; `offline`: the restore runs with the service stopped, in a one-off
    container of its image on its volumes; `check`, if any, must pass after a restore.
    `preset`: the name they came from (`db: postgres`), if any."""

    dump: tuple[str, ...]
    restore: tuple[str, ...]
    timeout: float = DUMP_TIMEOUT
    check: tuple[str, ...] = ()
    offline: bool = False
    preset: str | None = None


def paths(block: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = block.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ProjectError(
            f"`{KEY}: {key}:` must be a list of project-relative paths or globs, "
            f"e.g. `{key}: [nginx/, scripts/entrypoint.sh]`"
        )
    for v in value:
        _inside(key, v)
    return tuple(v.strip() for v in value)


def seconds(block: Mapping[str, Any], key: str, least: float = 0) -> float | None:
    value = block.get(key)
    if value is None:
        return None
    try:
        number = float(value)  # Compose's JSON keeps numbers; an interpolated one is a string
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not number >= least or number == float("inf"):
        raise ProjectError(
            f"`{KEY}: {key}:` must be a number of seconds of at least {least:g}, "
            f"not {value!r} (e.g. `{key}: 60`)"
        )
    return number


def count(block: Mapping[str, Any], key: str) -> int | None:
    value = block.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not str(value).strip().isdigit() or int(value) < 1:
        raise ProjectError(f"`{KEY}: {key}:` must be a whole number of at least 1, not {value!r}")
    return int(value)


def duration_of(block: Mapping[str, Any], key: str) -> timedelta | None:
    value = block.get(key)
    if value is None:
        return None
    try:
        return duration(str(value))
    except ValueError as exc:
        raise ProjectError(f"`{KEY}: {key}:` {exc}") from exc


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `2w`, `45s` as a time span; `ValueError` saying what is expected."""
    text = text.strip().lower()
    number, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not number.isdigit() or int(number) < 1:
        raise ValueError(
            f"must be a number and a unit (s, m, h, d or w), such as 30d or 12h, not {text!r}"
        )
    return timedelta(seconds=int(number) * _UNITS[unit])


T = TypeVar("T", bound=str)


def one_of(value: Any, known: tuple[T, ...], where: str) -> T:
    """`value` as one of a typed vocabulary's words (`known`); `ProjectError` naming `where`
    and the words otherwise."""
    for word in known:
        if value == word:
            return word
    raise ProjectError(f"{where} must be one of {', '.join(known)}, not {value!r}")


def maybe(block: Mapping[str, Any], key: str, known: tuple[T, ...]) -> T | None:
    value = block.get(key)
    return None if value is None else one_of(value, known, f"`{KEY}: {key}:`")


def pre_stop(block: Mapping[str, Any]) -> dict[str, tuple[str, ...]] | None:
    value = block.get("pre_stop")
    if value is None:
        return None
    example = "e.g. `pre_stop: {web: [touch, /tmp/draining]}`"
    if not isinstance(value, Mapping):
        raise ProjectError(f"`{KEY}: pre_stop:` must map services to a command, {example}")
    commands = {}
    for service, argv in value.items():
        if isinstance(argv, str) and argv.strip():
            argv = ["sh", "-c", argv]  # a string runs in a shell, as a healthcheck's does
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ProjectError(
                f"`{KEY}: pre_stop: {service}:` must be a command (a list of arguments, run in "
                f"the old container without a shell), {example}"
            )
        commands[str(service)] = tuple(argv)
    return commands


def recipients(block: Mapping[str, Any]) -> tuple[str, ...]:
    value = block.get("recipients") or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ProjectError(
            f"`{KEY}: recipients:` must list age public keys (age1…, ssh-ed25519 …) or "
            "recipients files, e.g. `recipients: [age1ql3z…]` or `recipients: [ops/keys.txt]`"
        )
    from cfgroll.store.age import KEY_PREFIXES

    for v in value:
        if not v.strip().startswith(KEY_PREFIXES):
            _inside("recipients", v.strip())
    return tuple(v.strip() for v in value)


def pull(block: Mapping[str, Any]) -> tuple[str | None, str | None]:
    value = block.get("pull")
    if value is None:
        return None, None
    example = "e.g. `pull: {remote: origin, branch: production}`"
    if not isinstance(value, Mapping) or set(value) - {"remote", "branch"}:
        raise ProjectError(f"`{KEY}: pull:` takes `remote` and `branch`, {example}")
    found = []
    for key in ("remote", "branch"):
        given = value.get(key)
        if given is not None and (not isinstance(given, str) or not given.strip()):
            raise ProjectError(f"`{KEY}: pull: {key}:` must be a name, {example}")
        found.append(given.strip() if isinstance(given, str) else None)
    return found[0], found[1]


@dataclass(frozen=True)
class Notify:
    """`x-cfgroll: notify:`: where more Apprise URLs are (a file, recorded as a secret), and
    whether every deploy is told, not only failures, rollbacks and a held branch."""

    file: str | None = None
    deploys: bool = False
    fetch_minutes: float = 30.0  # a pull that cannot fetch for this long is told once


def notify(block: Mapping[str, Any]) -> Notify:
    value = block.get("notify")
    if value is None:
        return Notify()
    example = "e.g. `notify: {file: notify.urls, deploys: true, fetch_minutes: 30}`"
    if not isinstance(value, Mapping) or set(value) - {"file", "deploys", "fetch_minutes"}:
        raise ProjectError(
            f"`{KEY}: notify:` takes `file`, `deploys` and `fetch_minutes`, {example}"
        )
    file = value.get("file")
    if file is not None and (not isinstance(file, str) or not file.strip()):
        raise ProjectError(f"`{KEY}: notify: file:` must be a project-relative path, {example}")
    deploys = value.get("deploys", False)
    if not isinstance(deploys, bool):
        raise ProjectError(f"`{KEY}: notify: deploys:` must be true or false, {example}")
    minutes = seconds(dict(value), "fetch_minutes", least=1)
    return Notify(file.strip() if file else None, deploys, minutes or 30.0)


def data(block: Mapping[str, Any]) -> dict[str, DataCommand]:
    from cfgroll.presets import NAMES, RECIPES

    value = block.get("data")
    if value is None:
        return {}
    example = (
        "e.g. `data: {db: postgres}` (a preset: " + ", ".join(NAMES) + ") or "
        "`data: {db: {dump: [pg_dumpall, -U, postgres], restore: [psql, -U, postgres]}}`"
    )
    if not isinstance(value, Mapping):
        raise ProjectError(f"`{KEY}: data:` must map services to a dump and a restore, {example}")
    found = {}
    for service, given in value.items():
        where = f"`{KEY}: data: {service}:`"
        spec = {"preset": given} if isinstance(given, str) else given
        keys = (
            {"preset", "timeout", "check"}
            if isinstance(spec, Mapping) and "preset" in spec
            else {"dump", "restore", "timeout", "check", "offline"}
        )
        if not isinstance(spec, Mapping) or set(spec) - keys:
            raise ProjectError(
                f"{where} takes {', '.join(f'`{k}`' for k in sorted(keys))}, {example}"
            )
        argv = {}
        if "preset" in spec:
            if spec["preset"] not in NAMES:
                raise ProjectError(
                    f"{where} has no preset {spec['preset']!r}; the presets: {', '.join(NAMES)}, "
                    "or give `dump` and `restore`"
                )
            recipe = RECIPES[spec["preset"]]
            argv["dump"], argv["restore"], offline = recipe.dump, recipe.restore, recipe.offline
        else:
            for key in ("dump", "restore"):
                argv[key] = _command(spec.get(key), f"{where} `{key}:`", example)
            given_offline = spec.get("offline", False)
            if not isinstance(given_offline, bool):
                raise ProjectError(f"{where} `offline:` must be true or false")
            offline = given_offline
        check = _command(spec["check"], f"{where} `check:`", example) if "check" in spec else ()
        try:
            timeout = seconds(dict(spec), "timeout", least=1)
        except ProjectError:
            raise ProjectError(
                f"{where} `timeout:` must be a number of seconds of at least 1, "
                f"not {spec.get('timeout')!r}"
            ) from None
        found[str(service)] = DataCommand(
            argv["dump"],
            argv["restore"],
            timeout or DUMP_TIMEOUT,
            check,
            offline,
            spec.get("preset"),
        )
    return found


def _command(given: Any, where: str, example: str) -> tuple[str, ...]:
    """A command: a list of arguments, or a string that runs under `sh -c`."""
    if isinstance(given, str) and given.strip():
        given = ["sh", "-c", given]
    if not isinstance(given, list) or not given or not all(isinstance(a, str) and a for a in given):
        raise ProjectError(f"{where} must be a command (a list of arguments), {example}")
    return tuple(given)


def flag(block: Mapping[str, Any], key: str) -> bool:
    value = block.get(key, False)
    if not isinstance(value, bool):
        raise ProjectError(f"`{KEY}: {key}:` must be true or false, not {value!r}")
    return value


def folder(block: Mapping[str, Any], key: str) -> str | None:
    value = block.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip().rstrip("/"):
        raise ProjectError(f"`{KEY}: {key}:` must be a project-relative folder, e.g. `ops/hooks`")
    value = value.strip().rstrip("/").removeprefix("./")
    _inside(key, value)
    return value


def _inside(key: str, v: str) -> None:
    why = system.outside(v)
    if why is not None:
        raise ProjectError(
            f"`{KEY}: {key}:` entry {v!r} leaves the project folder ({why}); name paths "
            "relative to it, with /"
        )
