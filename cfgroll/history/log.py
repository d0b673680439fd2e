"""`cfgroll log`, `show` and `diff`: reading the store's history."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import TYPE_CHECKING

from cfgroll import orchestrators, project
from cfgroll.capabilities.snapshot import Availability, judge, overall
from cfgroll.context import Context
from cfgroll.engine.refs import short as short  # re-exported: the CLI shows image IDs
from cfgroll.errors import CfgrollError, UsageError
from cfgroll.store.files import FileData, changed_files
from cfgroll.store.manifest import (
    RELEASE,
    HookRecord,
    Role,
    ServiceRecord,
    Unrecorded,
    changed_keys,
)
from cfgroll.store.manifest import FileUse as FileUse  # re-exported: the CLI renders uses
from cfgroll.store.manifest import (
    Manifest as Manifest,  # re-exported: the CLI renders it
)
from cfgroll.store.manifest_yaml import hooks_from_yaml
from cfgroll.store.names import size_text
from cfgroll.store.repo import Entry as Entry  # re-exported: the CLI renders entries
from cfgroll.store.repo import Store
from cfgroll.store.secrets import (
    env_changes,
    is_env,
    is_secret,
    mask,
    mask_compose,
    mask_env,
    shown_as_text,
    text_of,
)

if TYPE_CHECKING:
    from cfgroll.capabilities.data import Dump


@dataclass(frozen=True)
class LogLine:
    entry: Entry
    files_changed: tuple[str, ...]
    images_changed: tuple[str, ...]  # services whose image differs from the release before
    restorable: Availability | None = None  # its images: here, pullable, gone; None: unknown
    roles: Mapping[str, Role] = field(default_factory=dict)  # of the files changed
    pinned: bool = False  # `cfgroll pin`: prune never touches its images
    data: tuple[tuple[str, int], ...] = ()  # (service, bytes) of the dumps taken while it was live


def log(
    store: Store,
    limit: int | None = None,
    include_side: bool = False,
    service: str | None = None,
) -> list[LogLine]:
    """The releases newest first, each with what changed since the one before it.

    `service`: only releases that changed that service.
    """
    known: dict[str, dict[str, str]] = {}

    def file_ids(entry: Entry) -> dict[str, str]:  # each release is a line and a parent
        if entry.commit not in known:
            known[entry.commit] = store.file_ids(entry)
        return known[entry.commit]

    pairs = _with_parents(store.releases())
    if service is not None:
        pairs = (p for p in pairs if service in p[0].manifest.services_changed)
    pins = store.pins()
    lines = [
        replace(_line(file_ids, e, parent), pinned=e.tag in pins)
        for e, parent in islice(pairs, limit)
    ]
    if include_side:
        for side in store.side_entries():
            if service is not None and service not in side.manifest.services_changed:
                continue
            parent = store.entry(side.parent) if side.parent else None
            lines.append(_line(file_ids, side, parent))
        lines.sort(key=lambda line: (line.entry.manifest.created_at, line.entry.tag), reverse=True)
        lines = lines[:limit] if limit is not None else lines
    store.save_cache()
    return lines


def changes(line: LogLine, most: int | None = 6) -> list[str]:
    """What a release changed, as `log` shows it: its files (each with its role, a compose
    file's aside; past `most`, counted), the services whose image changed, the dumps kept."""
    named = [
        p if line.roles.get(p) in (None, "compose") else f"{p} ({line.roles[p]})"
        for p in line.files_changed
    ]
    more = len(named) - most if most is not None else 0
    found = []
    if named:
        shown = named[:most] if most is not None else named
        found.append("files: " + ", ".join(shown) + (f" and {more} more" if more > 0 else ""))
    if line.images_changed:
        found.append("images: " + ", ".join(line.images_changed))
    if line.data:
        found.append("data: " + ", ".join(f"{s} {size_text(n)}" for s, n in line.data))
    return found


def with_restorable(lines: list[LogLine], images: set[str] | None) -> list[LogLine]:
    """The lines marked with whether each release can still be restored, given the image IDs
    the engine holds (None: the engine did not answer, nothing is marked)."""
    if images is None:
        return lines
    marked = []
    for line in lines:
        m = line.entry.manifest
        found: Availability = "no"
        if m.kind == RELEASE:
            found = overall(judge(m.services, images))
        marked.append(replace(line, restorable=found))
    return marked


def _with_parents(releases: Iterator[Entry]) -> Iterator[tuple[Entry, Entry | None]]:
    previous = next(releases, None)
    for entry in releases:
        if previous is not None:
            yield previous, entry
        previous = entry
    if previous is not None:
        yield previous, None


def _line(
    file_ids: Callable[[Entry], dict[str, str]], entry: Entry, parent: Entry | None
) -> LogLine:
    files = changed_keys(file_ids(parent) if parent else {}, file_ids(entry))
    before = parent.manifest.services if parent else {}
    images = changed_keys(before, entry.manifest.services, lambda s: s.image_id)
    known = {**(parent.manifest.files if parent else {}), **entry.manifest.files}
    roles = {p: known[p] for p in files if p in known}
    return LogLine(entry, tuple(files), tuple(images), roles=roles)


@dataclass(frozen=True)
class Side:
    """One side of a diff: a label and file contents; for the files on disk, what the stack
    reads that would not be recorded, and why the project could not be resolved (if so)."""

    label: str
    files: Mapping[str, FileData]
    roles: dict[str, Role]
    manifest: Manifest | None
    not_recorded: tuple[Unrecorded, ...] = ()
    problem: str = ""


def entry_side(store: Store, entry: Entry, label: str = "") -> Side:
    return Side(label or entry.tag, store.files(entry), entry.manifest.files, entry.manifest)


def working_side(ctx: Context, store: Store, live: Entry) -> Side:
    """The project files on disk: the ones the stack reads now (new ones included), and those
    the live release had; a file unchanged since it was read last is not read again."""
    roles = dict(live.manifest.files)
    known = store.known(ctx.directory, live)
    try:
        config = ctx.compose.config()
        now = project.resolve(ctx.compose.named(str(config["name"])), config, known)
    except CfgrollError as exc:  # a broken compose file: compare the files the release had
        had = project.read(ctx.directory, roles)
        return Side("working files", had, roles, None, live.manifest.layout.not_recorded, str(exc))
    roles.update(now.roles)
    files = now.content.adding(project.read(ctx.directory, set(roles) - set(now.content)))
    return Side("working files", files, roles, None, now.layout.not_recorded)


def sides(ctx: Context, store: Store, a: str | None, b: str | None) -> tuple[Side, Side]:
    """The two sides `cfgroll diff [A [B]]` compares."""
    live = store.live()
    if live is None:
        raise UsageError("the store has no release yet; run `cfgroll deploy` first")
    if a is None:
        return entry_side(store, live, f"{live.tag} (live)"), working_side(ctx, store, live)
    left = entry_side(store, store.resolve(a))
    if b is None:
        return left, entry_side(store, live, f"{live.tag} (live)")
    return left, entry_side(store, store.resolve(b))


def diff(old: Side, new: Side, show_secrets: bool = False) -> Iterator[str]:
    """Unified diff lines between two sides; `.env`-style values masked unless asked."""
    for path in changed_files(old.files, new.files):
        a, b = old.files.get(path), new.files.get(path)
        role = new.roles.get(path) or old.roles.get(path)
        header = [
            f"--- a/{path}\t{old.label}" if a is not None else "--- /dev/null",
            f"+++ b/{path}\t{new.label}" if b is not None else "+++ /dev/null",
        ]
        kind = [f"kind: {a.kind} -> {b.kind}"] if a and b and a.kind != b.kind else []
        summary = None
        if a and b and a.data == b.data:
            summary = kind  # only the kind changed (`chmod +x`)
        elif (a and not shown_as_text(a)) or (b and not shown_as_text(b)):
            summary = [f"binary, {_size(a)} -> {_size(b)}, changed", *kind]
        elif is_secret(role) and not show_secrets:
            summary = ["a secrets: file, changed (content shown only with --show-secrets)", *kind]
        if summary is not None:
            yield from header
            yield from summary
            continue
        a_text = text_of(a.data if a else b"")
        b_text = text_of(b.data if b else b"")
        if not show_secrets:
            if is_env(path, role):
                changed = frozenset(env_changes(a_text, b_text).changed)
                a_text, b_text = mask_env(a_text), mask_env(b_text, changed)
            else:
                a_text, b_text = mask_compose(a_text), mask_compose(b_text)
        yield from difflib.unified_diff(
            a_text.splitlines(),
            b_text.splitlines(),
            fromfile=f"a/{path}\t{old.label}" if a is not None else "/dev/null",
            tofile=f"b/{path}\t{new.label}" if b is not None else "/dev/null",
            lineterm="",
        )
        yield from kind
    if old.manifest and new.manifest:
        yield from image_changes(old.manifest.services, new.manifest.services)


def image_changes(
    old: Mapping[str, ServiceRecord], new: Mapping[str, ServiceRecord]
) -> Iterator[str]:
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a is None and b is not None:
            yield f"service {name}: added ({b.image} {short(b.image_id)})"
        elif b is None and a is not None:
            yield f"service {name}: removed (was {a.image} {short(a.image_id)})"
        elif a is not None and b is not None and a.image_id != b.image_id:
            yield f"service {name}: image {short(a.image_id)} -> {short(b.image_id)} ({b.image})"


def _size(file: FileData | None) -> str:
    return "none" if file is None else f"{len(file.data):,} bytes"


def show_file(store: Store, entry: Entry, path: str, show_secrets: bool) -> str:
    files = store.files(entry)
    if path not in files:
        raise UsageError(
            f"release {entry.tag} has no file {path!r}; it has: {', '.join(sorted(files))}"
        )
    file = files[path]
    if file.kind == "link":
        return f"(a link to {file.data.decode(errors='replace')})"
    if not shown_as_text(file):
        return (
            f"(binary, {len(file.data):,} bytes; `git --git-dir {store.path} show "
            f"{entry.tag}:{path} > FILE` writes it out)"
        )
    text = text_of(file.data)
    return text if show_secrets else mask(path, text, entry.manifest.files.get(path))


def hook_runs(store: Store, entry: Entry) -> list[HookRecord]:
    """What the hooks did for `entry`: those run before it was recorded (its manifest), then
    those run after (`post-deploy`, `on-failure`: a git note on its commit)."""
    return [*entry.manifest.hooks, *hooks_from_yaml(store.note(entry.commit))]


# -- what the CLI calls: one function each, the Context in, plain data out -------------------


def log_of(
    ctx: Context,
    limit: int | None = None,
    include_side: bool = False,
    service: str | None = None,
) -> list[LogLine]:
    """`cfgroll log`: the releases (newest first) marked restorable. The engine is asked for
    its image IDs by a child process started first, while the store is read."""
    from cfgroll.capabilities import data
    from cfgroll.engine.daemon import ImageIdsLater

    images = ImageIdsLater(ctx.daemon)
    lines = log(ctx.open_store(), limit, include_side, service)
    kept: dict[str, dict[str, int]] = {}
    for d in data.dumps(ctx):  # the newest of each service counts
        kept.setdefault(d.tag, {})[d.service] = d.size
    lines = [
        replace(line, data=tuple(sorted(kept[line.entry.tag].items())))
        if line.entry.tag in kept
        else line
        for line in lines
    ]
    return with_restorable(lines, images.result())


@dataclass(frozen=True)
class Compared:
    """`cfgroll diff`: the labels of both sides, the diff lines, and (comparing against the
    disk) why the project as it is could not be resolved."""

    old: str
    new: str
    lines: list[str]
    problem: str = ""


def compare(ctx: Context, a: str | None, b: str | None, show_secrets: bool = False) -> Compared:
    old, new = sides(ctx, ctx.open_store(), a, b)
    return Compared(old.label, new.label, list(diff(old, new, show_secrets)), new.problem)


@dataclass(frozen=True)
class Shown:
    """`cfgroll show TAG`: the entry and what its hooks did."""

    entry: Entry
    hooks: list[HookRecord]
    data: list[Dump] = field(default_factory=list)  # the dumps taken while it was live

    @property
    def label(self) -> str:
        """What the release runs as, when it is not a plain Compose project (`Swarm stack`)."""
        return orchestrators.of(self.entry.manifest.orchestrator).label


def shown(ctx: Context, ref: str) -> Shown:
    from cfgroll.capabilities import data

    store = ctx.open_store()
    entry = store.resolve(ref)
    return Shown(entry, hook_runs(store, entry), [d for d in data.dumps(ctx) if d.tag == entry.tag])


def shown_file(ctx: Context, ref: str, path: str, show_secrets: bool = False) -> str:
    """`cfgroll show TAG PATH`: one file of a release, masked unless `show_secrets`."""
    store = ctx.open_store()
    return show_file(store, store.resolve(ref), path, show_secrets)
