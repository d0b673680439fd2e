"""`cfgroll import DIR`: the old copy scripts' `.backup/` folders become releases.

The scripts left `DIR/<YYYYMMDD_HHMMSS>/` (a deploy backup: `docker-compose.yml`, `.env`,
`containers.json`) and `DIR/update_<YYYYMMDD_HHMMSS>/` (an update backup, plus
`services.json`), and image tags `<service>:backup_<same stamp>` where they still exist. Each
folder becomes one release of action `import`, oldest first, dated at the folder's name (the
host's local time, recorded in UTC), its services' images taken from those tags (tagged again
under cfgroll's name) where they still exist; a folder without any becomes a files-only
release (`checkout` works, `rollback` does not).

The imported history goes first on `main`: import runs while the store has no release of its
own (or only imported ones, and then only folders newer than those already imported are
added), so plain `git log` shows the old history under cfgroll's. It is idempotent (a folder
already imported is skipped), never deletes a folder, and reports each malformed folder in one
line while importing the rest.
"""

from __future__ import annotations

import json
import re
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast, get_args

from cfgroll import __version__
from cfgroll.capabilities import mirror
from cfgroll.context import Context, who
from cfgroll.engine.daemon import Health, State
from cfgroll.errors import CfgrollError, ProjectError, UsageError
from cfgroll.settings import recorded
from cfgroll.store.files import FileData
from cfgroll.store.manifest import Action, ContainerRecord, Layout, Manifest, Role, ServiceRecord
from cfgroll.store.names import RELEASE_PREFIX, backup_ref, new_name
from cfgroll.store.repo import Entry, Store
from cfgroll.transactions.init import ensure_store

FOLDER = re.compile(r"^(update_)?(\d{8}_\d{6})$")
COMPOSE_NAMES = ("docker-compose.yml", "docker-compose.yaml", "compose.yaml", "compose.yml")
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Backup:
    """One backup folder, read."""

    name: str  # `20240129_143052` or `update_20240129_153022`
    kind: Action
    moment: datetime  # UTC
    files: dict[str, FileData]
    roles: dict[str, Role]
    compose_file: str
    services: dict[str, ServiceRecord]  # those whose `<service>:backup_<stamp>` tag exists
    updated: tuple[str, ...] = ()  # an update backup's services (`services.json`)
    notes: tuple[str, ...] = ()  # what was odd but imported anyway


@dataclass
class Report:
    """What an import did (or, with `dry_run`, would do)."""

    imported: list[tuple[Backup, str]] = field(default_factory=list)  # (backup, release tag)
    already: list[str] = field(default_factory=list)  # folders imported before
    problems: list[str] = field(default_factory=list)  # one line each: folders not imported
    notes: list[str] = field(default_factory=list)  # one line each: imported, with a remark


def import_backups(
    ctx: Context, directory: Path, dry_run: bool = False, normalize: bool = False
) -> Report:
    """Import the backup folders under `directory` into the store (created if need be): their
    files byte for byte, unless `normalize` (a UTF-8 BOM and CRLF line ends removed)."""
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a folder; give the old scripts' .backup folder")
    project = _project_name(ctx)
    report = Report()
    folders = []
    for path in sorted(directory.iterdir()):
        match = FOLDER.match(path.name)
        if not path.is_dir():
            continue
        if match is None:
            report.problems.append(
                f"{path.name}: not a backup folder (YYYYMMDD_HHMMSS or update_YYYYMMDD_HHMMSS); "
                "left alone"
            )
            continue
        folders.append((match.group(2), path))
    folders.sort()
    store = ensure_store(ctx).store if not dry_run else _store_or_none(ctx)
    done = _imported(store) if store is not None else {}
    newest = max((e.manifest.created_at for e in done.values()), default=None)
    own = _own_releases(store) if store is not None else []
    previous: dict[str, ServiceRecord] = {}
    taken: set[str] = set()
    lock: AbstractContextManager[object] = nullcontext()
    if store is not None and not dry_run:
        timeout = recorded(ctx.flags, store.live()).lock_timeout
        lock = mirror.changing(ctx, store, "import", timeout)
    with lock:
        parent = store.live() if store is not None else None
        for stamp, path in folders:
            if path.name in done:
                report.already.append(path.name)
                previous = dict(done[path.name].manifest.services)
                continue
            try:
                backup = _read(ctx, path, stamp, project, previous, normalize)
            except CfgrollError as exc:
                report.problems.append(f"{path.name}: {exc}; not imported")
                continue
            if own:
                report.problems.append(
                    f"{path.name}: the store has releases of cfgroll's own ({own[0]}, …); old "
                    "backups go before them, so import runs before the first deploy (or into a "
                    "new store: --store); not imported"
                )
                continue
            if newest is not None and backup.moment <= newest:
                report.problems.append(
                    f"{path.name}: older than the backups imported already; import them "
                    "together into a new store (--store) to keep the order; not imported"
                )
                continue
            report.notes += [f"{path.name}: {note}" for note in backup.notes]
            tag = new_name(RELEASE_PREFIX, backup.moment, lambda n: _taken(store, taken, n))
            taken.add(tag)
            if not dry_run:
                assert store is not None
                parent = _record(ctx, store, backup, tag, project, parent)
            report.imported.append((backup, tag))
            previous = dict(backup.services)
        if report.imported and not dry_run:
            assert store is not None
            store.pack()
    return report


def _read(
    ctx: Context,
    path: Path,
    stamp: str,
    project: str,
    previous: dict[str, ServiceRecord],
    normalize: bool = False,
) -> Backup:
    kind: Action = "update" if path.name.startswith("update_") else "deploy"
    local = datetime.strptime(stamp, "%Y%m%d_%H%M%S").astimezone()  # the host's local time
    moment = local.astimezone(timezone.utc)
    notes: list[str] = []
    compose_file = next((n for n in COMPOSE_NAMES if (path / n).is_file()), None)
    if compose_file is None:
        raise ProjectError("no docker-compose.yml in it")
    files: dict[str, FileData] = {}
    roles: dict[str, Role] = {}
    wanted: tuple[tuple[str, Role], ...] = ((compose_file, "compose"), (".env", "env"))
    for name, role in wanted:
        if not (path / name).is_file():
            continue
        data = (path / name).read_bytes()
        plain, fixed = _plain_text(data)
        if fixed and normalize:
            data = plain
            notes.append(f"{name} had {' and '.join(fixed)}; imported without (--normalize)")
        elif fixed:
            notes.append(f"{name} has {' and '.join(fixed)}; kept as it was (--normalize removes)")
        if not plain.strip():
            if role == "compose":
                raise ProjectError(f"{name} is empty")
            notes.append(f"{name} is empty")
        files[name] = FileData(data)
        roles[name] = role
    try:
        model = _yaml(_plain_text(files[compose_file].data)[0])
    except ValueError as exc:
        raise ProjectError(f"{compose_file} cannot be read as YAML ({exc})") from exc
    declared = model.get("services") or {}
    states = _containers(path / "containers.json", notes)
    updated: tuple[str, ...] = ()
    if kind == "update":
        updated = tuple(_json_list(path / "services.json", notes))
    stamp_tag = f"backup_{stamp}"
    tag_prefix = f"{RELEASE_PREFIX}{moment:%Y%m%d_%H%M%S}"
    services: dict[str, ServiceRecord] = {}
    if kind == "update":  # the services the update did not touch ran as before
        services = {n: s for n, s in previous.items() if n in declared}
    for name, svc in sorted(declared.items()):
        image_id = ctx.daemon.image_id(f"{name}:{stamp_tag}")
        if image_id is None:
            continue
        image = str((svc or {}).get("image") or f"{project}-{name}")
        services[name] = ServiceRecord(
            image=image,
            image_id=image_id,
            backup_ref=backup_ref(image, tag_prefix),
            containers=tuple(states.get(name, ())),
        )
    if not services:
        notes.append(f"no image tag {{service}}:{stamp_tag} is left: imported as files only")
    return Backup(
        path.name, kind, moment, files, roles, compose_file, services, updated, tuple(notes)
    )


def _record(
    ctx: Context, store: Store, backup: Backup, tag: str, project: str, parent: Entry | None
) -> Entry:
    user, host = who()
    services = {
        name: replace(svc, backup_ref=backup_ref(svc.image, tag))
        for name, svc in backup.services.items()
    }
    manifest = Manifest(
        tag=tag,
        action="import",
        project=project,
        created_at=backup.moment,
        host=host,
        user=user,
        cfgroll_version=__version__,
        result="ok",
        services_changed=tuple(sorted(backup.updated or services)),
        layout=Layout(roles=backup.roles, compose_files=(backup.compose_file,)),
        services=services,
        source=backup.name,
    )
    what = f"update of {', '.join(backup.updated)}" if backup.updated else "deploy"
    message = (
        f"import: {what} backup {backup.name}\n\nRead from the old scripts' backup folder "
        f"{backup.name} by cfgroll import; its images: "
        f"{', '.join(sorted(services)) or 'none left (files only)'}.\n"
    )
    for svc in services.values():
        ctx.daemon.tag(svc.image_id, svc.backup_ref)
    return store.record(
        backup.files, manifest, message, parent.commit if parent else None, True, pack=False
    )


def _plain_text(data: bytes) -> tuple[bytes, list[str]]:
    """`data` without a UTF-8 BOM and with LF line ends (the PowerShell twins wrote both)."""
    fixed = []
    if data.startswith(BOM):
        data = data[len(BOM) :]
        fixed.append("a UTF-8 BOM")
    if b"\r\n" in data:
        data = data.replace(b"\r\n", b"\n")
        fixed.append("CRLF line ends")
    return data, fixed


def _yaml(data: bytes) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise ValueError(" ".join(str(exc).split())[:120]) from exc
    if not isinstance(doc, dict):
        raise ValueError("not a mapping")
    return doc


def _containers(path: Path, notes: list[str]) -> dict[str, list[ContainerRecord]]:
    """`docker compose ps --format json` as the scripts saved it: a JSON array (older Compose)
    or one object a line (newer)."""
    if not path.is_file():
        return {}
    text, _ = _plain_text(path.read_bytes())
    try:
        doc = json.loads(text) if text.strip().startswith(b"[") else None
        rows = doc if doc is not None else [json.loads(x) for x in text.splitlines() if x.strip()]
    except ValueError:
        notes.append(
            "containers.json is not JSON (older Compose's table?); its states are left out"
        )
        return {}
    found: dict[str, list[ContainerRecord]] = {}
    for row in rows:
        if not isinstance(row, dict) or not row.get("Service"):
            continue
        state, health = str(row.get("State") or "").lower(), str(row.get("Health") or "")
        if state not in get_args(State):
            continue  # an older Compose's "Up 2 hours": no state cfgroll can record
        record = ContainerRecord(
            str(row.get("Name", "")),
            cast(State, state),
            cast(Health, health) if health in get_args(Health) else None,
        )
        found.setdefault(str(row["Service"]), []).append(record)
    return found


def _json_list(path: Path, notes: list[str]) -> list[str]:
    if not path.is_file():
        notes.append("services.json is missing: the services updated are unknown")
        return []
    text, _ = _plain_text(path.read_bytes())
    try:
        doc = json.loads(text)
    except ValueError:
        words = text.decode(errors="replace").replace(",", " ").split()
        if words:
            return words  # the scripts wrote `a,b` as often as JSON
        notes.append("services.json is not JSON")
        return []
    return [str(x) for x in doc] if isinstance(doc, list) else []


def _taken(store: Store | None, taken: set[str], name: str) -> bool:
    return name in taken or (store is not None and store.has_tag(name))


def _project_name(ctx: Context) -> str:
    try:
        return str(ctx.compose.config()["name"])
    except CfgrollError:
        return re.sub(r"[^a-z0-9_-]", "", ctx.directory.name.lower()) or "project"


def _store_or_none(ctx: Context) -> Store | None:
    from cfgroll.store.repo import Store

    return Store.open(ctx.store_path) if Store.exists(ctx.store_path) else None


def _imported(store: Store) -> dict[str, Entry]:
    """Folder name -> the release imported from it."""
    return {e.manifest.source: e for e in store.releases() if e.manifest.source}


def _own_releases(store: Store) -> list[str]:
    return [e.tag for e in store.releases() if e.manifest.action != "import"]
