"""Creating the store, and adopting a stack that ran before cfgroll."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from cfgroll import project
from cfgroll.capabilities import mirror, preflight
from cfgroll.context import STORE_DIR, Context
from cfgroll.engine.compose import Compose
from cfgroll.engine.daemon import Container
from cfgroll.errors import EngineUnreachable, ProjectError, os_error
from cfgroll.project import ProjectFiles
from cfgroll.settings import HOOKS_DIR, KEY, effective
from cfgroll.store import system
from cfgroll.store.files import write_atomic
from cfgroll.store.repo import Entry, Store
from cfgroll.transactions.release import Release, record_release


@dataclass(frozen=True)
class Initialised:
    store: Store
    created: bool
    gitignore: Path | None  # the .gitignore that now names the store folder, if one was edited
    baseline: Entry | None = None  # the running stack, recorded by `init`
    samples: tuple[Path, ...] = ()  # sample hooks installed now


def ensure_store(ctx: Context) -> Initialised:
    """Create the store (private, 0700) if it does not exist yet; idempotent.

    When the project folder is inside a git work tree and the store lives in the project,
    `.cfgroll/` is added to the project's `.gitignore`, so `.env` copies never reach that repo.
    """
    store, created = ctx.create_store()
    if created and system.windows():
        ctx.reporter.warn(
            "on Windows, file modes cannot make the store private (0700) nor env files 0600: "
            "keep the project in a folder only your account can read (its access list)"
        )
    gitignore = ignore_store(ctx)
    samples = install_samples(ctx) if created else ()
    return Initialised(store, created, gitignore, samples=samples)


def install_samples(ctx: Context) -> tuple[Path, ...]:
    """Copy the sample hooks cfgroll ships into `.cfgroll/hooks/` as `NAME.sample` (not
    executable, so never run until renamed); a file already there is left alone. Only when the
    store lives in the project's `.cfgroll/` (a store kept elsewhere keeps the project folder
    as it is). The samples installed."""
    from importlib.resources import files

    if not ctx.store_path.is_relative_to(ctx.directory / STORE_DIR):
        return ()
    folder = ctx.directory / HOOKS_DIR
    installed = []
    for sample in sorted(files("cfgroll.samples").iterdir(), key=lambda p: p.name):
        if not sample.name.endswith(".sample"):
            continue
        path = folder / sample.name
        if path.exists() or path.is_symlink():
            continue
        try:
            write_atomic(path, sample.read_bytes(), executable=False)
        except OSError as exc:  # samples are a convenience: never a reason to fail
            ctx.reporter.warn(f"could not install the sample hooks: {os_error(exc)}")
            break
        installed.append(path)
    return tuple(installed)


def ignore_store(ctx: Context, dry_run: bool = False) -> Path | None:
    """When the project folder is inside a git work tree and the store lives in the project,
    name `.cfgroll/` in the project's `.gitignore`; the file if it was (with `dry_run`: would
    be) edited."""
    inside_project = ctx.store_path.is_relative_to(ctx.directory / STORE_DIR)
    if not (inside_project and _in_git_work_tree(ctx.directory)) or _excluded(ctx.directory):
        return None
    gitignore = ctx.directory / ".gitignore"
    from cfgroll.store.worktree import WorkTree, tracked_paths

    if gitignore.resolve() in (tracked_paths(ctx.directory) or set()):
        # the application's own, committed (a checkout that `cfgroll pull` follows): an edit
        # would be a change to its tree; this clone's `info/exclude` ignores the store instead
        if not dry_run:
            WorkTree.of(ctx.directory).exclude(STORE_DIR + "/")
        return None
    return _ignore(gitignore, f"/{STORE_DIR}/", dry_run)


def _excluded(folder: Path) -> bool:
    """Whether the repository's own `info/exclude` ignores every `.cfgroll/` (what `cfgroll
    pull` writes, so that it never edits a tracked `.gitignore`)."""
    for parent in (folder, *folder.parents):
        if (parent / ".git").is_dir():
            try:
                text = (parent / ".git" / "info" / "exclude").read_text(encoding="utf-8")
            except OSError:
                return False
            return any(line.strip() in (STORE_DIR, STORE_DIR + "/") for line in text.splitlines())
    return False


def init(ctx: Context) -> Initialised:
    """Create the store; when the project's containers already run and the store has no
    release yet, record them as a `baseline` release, so the first deploy can be rolled back."""
    result = ensure_store(ctx)
    if not result.created:  # `init` on an existing store adds the samples it lacks
        result = replace(result, samples=install_samples(ctx))
    if result.store.live() is not None:
        return result
    try:
        config = ctx.compose.config()
        compose = ctx.compose.named(str(config["name"]))
        assert compose.name
        existing = ctx.daemon.containers(compose.name)
    except (EngineUnreachable, ProjectError) as exc:
        ctx.reporter.warn(f"could not look for running containers to record: {exc}")
        return result
    if not existing:
        return result
    files = project.resolve(compose, config)
    preflight.check(ctx, preflight.Needs(preflight.size_of(files.content)))
    lock_timeout = effective(ctx.flags, config.get(KEY)).lock_timeout
    with mirror.changing(ctx, result.store, "init", lock_timeout):
        if result.store.live() is not None:  # another run got there first
            return result
        baseline = record_baseline(ctx, result.store, compose, files, existing)
    return replace(result, baseline=baseline)


def record_baseline(
    ctx: Context,
    store: Store,
    compose: Compose,
    files: ProjectFiles,
    existing: list[Container],
    tag: str | None = None,
) -> Entry:
    """Record the running containers (their images tagged) and the current files as a release
    of action `baseline`. Warns when the files were edited since the containers were made:
    the baseline then pairs the running images with the edited files."""
    assert compose.name
    ctx.reporter.step(f"recording the running stack as a baseline release ({compose.name})")
    hashes = compose.run("config", "--hash", "*", what="docker compose config --hash").stdout
    expected = dict(line.split(None, 1) for line in hashes.splitlines() if line.strip())
    if any(expected.get(c.service, "").strip() != c.config_hash for c in existing):
        ctx.reporter.warn(
            "the running containers were not made from the compose files as they are now, so "
            "the baseline pairs their images with the edited files; next time run `cfgroll "
            "init` before editing"
        )
    services = tuple(sorted({c.service for c in existing}))
    return record_release(ctx, store, Release("baseline", compose.name, files, services, None), tag)


def _in_git_work_tree(folder: Path) -> bool:
    return any((p / ".git").exists() for p in (folder, *folder.parents))


def _ignore(gitignore: Path, pattern: str, dry_run: bool = False) -> Path | None:
    """Add `pattern` to `gitignore` unless a line already ignores it; the file if edited."""
    old = gitignore.read_bytes() if gitignore.is_file() else b""
    lines = {line.strip() for line in old.decode(errors="replace").splitlines()}
    bare = pattern.strip("/")
    if lines & {bare, bare + "/", "/" + bare, "/" + bare + "/"}:
        return None
    if dry_run:
        return gitignore
    sep = b"" if not old or old.endswith(b"\n") else b"\n"
    note = b"# cfgroll's store: release history, including .env copies\n"
    write_atomic(gitignore, old + sep + note + pattern.encode() + b"\n")
    return gitignore
