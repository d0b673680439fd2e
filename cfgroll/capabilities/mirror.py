"""The store mirrored off the host: `cfgroll mirror`, `cfgroll push`, and the push that follows
every command that writes to the store.

Every release, attempt, draft, pin and note reaches the mirror (any git URL), with the files
that hold secrets sealed with age to `x-cfgroll: recipients:` (`cfgroll.store.mirror`). A push
after a deploy is bounded by `push_timeout` and never fails the deploy: a mirror that cannot
be reached costs one warning line, and the next push catches up. The mirror is never forced:
a history there that this store did not write is refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cfgroll.context import Context
from cfgroll.errors import CfgrollError, MirrorRefused, MirrorUnrelated, UsageError, one_line
from cfgroll.settings import KEY, PUSH_TIMEOUT, parse
from cfgroll.store.lock import store_lock
from cfgroll.store.repo import Store

if TYPE_CHECKING:  # the mirror's modules load only for a store that has one (`follow`)
    from cfgroll.store.mirror import Mirror, Sealing
    from cfgroll.store.remote import Pushed

NO_MIRROR = "this store has no mirror; `cfgroll mirror URL` sets one (see docs/mirror.md)"


@dataclass(frozen=True)
class MirrorState:
    """What `cfgroll mirror` shows."""

    url: str | None  # credentials masked; None: no mirror
    sealing: str  # how secrets reach it, or why they would not
    pending: tuple[str, ...]  # the store's refs the mirror does not hold as they are
    pushed: Pushed | None = None  # what setting it pushed
    problem: str = ""  # why that push did not happen
    removed: bool = False  # `--remove` forgot a mirror


def sealing(ctx: Context, block: Any) -> Sealing:
    """How secret files reach the mirror under the `x-cfgroll:` block `block`."""
    from cfgroll.store import age
    from cfgroll.store.mirror import Sealing

    settings = parse(block)
    if settings.mirror_plaintext:
        return Sealing(plaintext=True)
    recipients = age.Recipients.of(settings.recipients, ctx.directory)
    if not recipients:
        return Sealing()
    age.check()
    listed = recipients.listed()
    if not listed:
        raise MirrorRefused(f"`{KEY}: recipients:` names recipients files that hold no key")
    return Sealing(lambda data: age.seal(data, recipients), recipients.digest(), listed)


def described(seal: Sealing) -> str:
    if seal.plaintext:
        return f"secrets in plaintext (`{KEY}: mirror_plaintext: true`: a private mirror)"
    if seal.seal is None:
        return f"secrets refused: `{KEY}: recipients:` is not set"
    return f"secrets sealed with age to {len(seal.recipients)} recipient(s)"


def _project_block(ctx: Context, store: Store) -> Any:
    """The project's `x-cfgroll:` block as the compose files hold it now, else the live
    release's (the project folder may be gone)."""
    try:
        return ctx.compose.config().get(KEY)
    except (CfgrollError, OSError):
        live = store.live()
        return live.manifest.layout.settings if live else None


def _timeout(block: Any) -> float:
    return parse(block).push_timeout or PUSH_TIMEOUT


def _push(ctx: Context, store: Store, block: Any, mirror: Mirror | None = None) -> Pushed:
    from cfgroll.store.remote import Pushed

    mirror = mirror or store.mirror()
    if mirror.url() is None:
        raise UsageError(NO_MIRROR)
    todo = mirror.pending()
    if not todo:
        return Pushed((), 0.0)
    mirror.translate(todo, sealing(ctx, block))
    return mirror.push(_timeout(block))


def follow(ctx: Context, store: Store, block: Mapping[str, Any] | None = None) -> None:
    """Push what changed to the mirror, if the store has one; never raises: a mirror that is
    down costs at most `push_timeout` and one warning line. `block`: the `x-cfgroll:`
    settings to seal with (None: the live release's). A fleet's host run leaves it to the
    fleet, which pushes once."""
    try:
        if ctx.host is not None or store.mirror_url() is None:
            return
        mirror = store.mirror()
        if block is None:
            live = store.live()
            block = live.manifest.layout.settings if live else None
        pushed = _push(ctx, store, block, mirror)
    except (CfgrollError, OSError) as exc:
        ctx.reporter.warn(
            f"the mirror was not updated: {one_line(exc)}; the next deploy or `cfgroll push` "
            "catches up"
        )
        return
    if pushed.refs:
        ctx.reporter.step(f"mirrored {len(pushed.refs)} ref(s) in {pushed.seconds:.1f} s")


@contextmanager
def changing(
    ctx: Context, store: Store, command: str, lock_timeout: float, block: Any = None
) -> Iterator[None]:
    """Hold the store's lock for a command that writes to the store, then push to the mirror
    what it wrote (a failed deploy's attempt too; not after Ctrl-C)."""
    from cfgroll.capabilities import volumes

    with store_lock(store.path, command, lock_timeout, ctx.reporter.warn):
        if (journal := volumes.read(ctx)) is not None:
            raise volumes.PutBackFailed(
                f"{volumes.describe(journal)} and its copies are not back yet; `cfgroll doctor "
                '--fix` puts them back (docs/data.md, "When a restore fails")'
            )
        try:
            yield
        except Exception:
            follow(ctx, store, block)
            raise
        follow(ctx, store, block)


def push(ctx: Context) -> Pushed:
    """`cfgroll push`: push now; `MirrorError` with the reason when it cannot."""
    store = ctx.open_store()
    block = _project_block(ctx, store)
    with store_lock(store.path, "push", parse(block).lock_timeout or 0, ctx.reporter.warn):
        return _push(ctx, store, block)


def configure(ctx: Context, url: str | None = None, remove: bool = False) -> MirrorState:
    """`cfgroll mirror [URL | --remove]`: set (and push to), forget, or show the mirror."""
    from cfgroll.store.remote import absolute

    store = ctx.open_store()
    mirror = store.mirror()
    block = _project_block(ctx, store)
    if remove:
        return MirrorState(None, "", (), removed=mirror.remove())
    if url is not None:
        if not url.strip():
            raise UsageError("the mirror's URL is empty; give a path, ssh://, https:// or git://")
        with store_lock(store.path, "mirror", parse(block).lock_timeout or 0, ctx.reporter.warn):
            previous = mirror.url()
            mirror.set_url(absolute(url.strip()))
            try:
                pushed = _push(ctx, store, block)
            except MirrorUnrelated:  # not ours: never leave it set
                _restore(mirror, previous)
                raise
            except CfgrollError as exc:
                return _state(ctx, store, block, problem=one_line(exc))
        return _state(ctx, store, block, pushed=pushed)
    if mirror.url() is None:
        return MirrorState(None, "", ())
    return _state(ctx, store, block)


def _restore(mirror: Mirror, previous: str | None) -> None:
    if previous is None:
        mirror.remove()
    else:
        mirror.set_url(previous)


def _state(
    ctx: Context, store: Store, block: Any, pushed: Pushed | None = None, problem: str = ""
) -> MirrorState:
    from cfgroll.store.remote import shown

    mirror = store.mirror()
    url = mirror.url()
    try:
        how = described(sealing(ctx, block))
    except CfgrollError as exc:
        how = one_line(exc)
    return MirrorState(shown(url) if url else None, how, tuple(mirror.pending()), pushed, problem)


@dataclass(frozen=True)
class Health:
    """What `doctor` finds: the refs the mirror lacks, and why it could not be asked."""

    url: str
    missing: tuple[str, ...]
    unreachable: str = ""


def health(ctx: Context, store: Store) -> Health | None:
    """The mirror against the store (asking it what it holds, within `push_timeout`); None:
    no mirror."""
    from cfgroll.store.remote import kept, shown

    mirror = store.mirror()
    url = mirror.url()
    if url is None:
        return None
    live = store.live()
    block = live.manifest.layout.settings if live else None
    refs = mirror.refs()
    missing = set(mirror.pending(refs))
    try:
        held = mirror.remote_refs(_timeout(block))
    except CfgrollError as exc:
        return Health(shown(url), tuple(sorted(missing)), one_line(exc))
    for name, sha in refs.items():
        translation = mirror.translated(sha)
        if kept(name) and translation and held.get(name) != translation:
            missing.add(name)
    return Health(shown(url), tuple(sorted(missing)))
