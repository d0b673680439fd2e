"""The `x-cfgroll:` block of the compose files: cfgroll's own settings for a project, and how
they combine with the command line.

Compose ignores top-level `x-` keys and merges them across `-f` files like any other key, so
the block is versioned with the compose files and read from Compose's own model. This is the
one place that reads it; unknown keys are refused, so a typo never passes silently. A flag
given on the command line wins over the block, the block over cfgroll's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from cfgroll import fleet_fields
from cfgroll import settings_fields as field_of
from cfgroll.errors import ProjectError
from cfgroll.fleet_fields import FleetRollout, Host
from cfgroll.settings_fields import DUMP_TIMEOUT as DUMP_TIMEOUT
from cfgroll.settings_fields import KEY as KEY
from cfgroll.settings_fields import DataCommand as DataCommand
from cfgroll.settings_fields import Notify as Notify
from cfgroll.settings_fields import duration as duration
from cfgroll.settings_fields import one_of as one_of
from cfgroll.store.manifest import ORCHESTRATORS as ORCHESTRATORS  # for the CLI
from cfgroll.store.manifest import Orchestrator as Orchestrator  # for the CLI
from cfgroll.store.manifest import orchestrator_of as orchestrator_of

if TYPE_CHECKING:
    from cfgroll.store.repo import Entry

# How a service's containers are replaced: stop the old ones, then start the new ones (what
# `docker compose up` does), or start the new ones beside the old ones first.
Order = Literal["stop-first", "start-first"]
ORDERS: tuple[Order, ...] = get_args(Order)
# How an old container goes once drained: out of the networks, then stopped (Docker's DNS stops
# naming it at once; a request in flight to it then is cut), or stopped, then out of the
# networks (a server that stops gracefully refuses new connections and finishes the ones it
# serves first: for proxies that route by DNS, docs/rollouts.md).
Retire = Literal["leave-then-stop", "stop-then-leave"]
RETIRES: tuple[Retire, ...] = get_args(Retire)
DRAIN = 2.0  # seconds an old container still serves, once its pre-stop command ran
HOOKS_DIR = ".cfgroll/hooks"  # where hooks live unless `hooks:` says otherwise
HOOK_TIMEOUT = 300.0
PUSH_TIMEOUT = 10.0  # seconds a push to the mirror may take after a deploy


@dataclass(frozen=True)
class Limits:
    """How long the gate waits in all (`timeout`), and how long a service without a
    healthcheck must keep running (`settle`), in seconds."""

    timeout: float = 120.0
    settle: float = 3.0


_DEFAULTS = Limits()
# key -> what it holds, for the error that lists the keys
_KNOWN = (
    "ignore",
    "track",
    "timeout",
    "settle",
    "lock_timeout",
    "hooks",
    "hook_timeout",
    "keep",
    "keep_for",
    "orchestrator",
    "rollout",
    "drain",
    "pre_stop",
    "retire",
    "recipients",
    "mirror_plaintext",
    "push_timeout",
    "pull",
    "data",
    "notify",
    "hosts",
    "fleet",
    "registry",
)
KEEP = 10  # `cfgroll prune`'s default when neither the flag nor `keep:` says


@dataclass(frozen=True)
class Flags:
    """What the command line said about the settings `x-cfgroll:` can also set; None: not
    given (`cfgroll.settings` combines them)."""

    timeout: float | None = None
    settle: float | None = None
    lock_timeout: float | None = None
    hook_timeout: float | None = None
    no_hooks: bool = False
    orchestrator: Orchestrator | None = None  # `--orchestrator`
    rollout: Order | None = None  # `--rollout`: every service's order, this run
    drain: float | None = None


@dataclass(frozen=True)
class Settings:
    """The block as written; None: not set."""

    track: tuple[str, ...] = ()  # project-relative paths or globs recorded in every release
    ignore: tuple[str, ...] = ()  # paths or globs never recorded
    timeout: float | None = None
    settle: float | None = None
    lock_timeout: float | None = None
    hooks: str | None = None
    hook_timeout: float | None = None
    keep: int | None = None
    keep_for: timedelta | None = None
    orchestrator: Orchestrator | None = None
    rollout: Order | None = None
    drain: float | None = None
    pre_stop: Mapping[str, tuple[str, ...]] | None = None
    retire: Retire | None = None
    recipients: tuple[str, ...] = ()  # age public keys, or recipients files (project paths)
    mirror_plaintext: bool = False  # the mirror is private: secrets may reach it unsealed
    push_timeout: float | None = None
    pull: tuple[str | None, str | None] = (None, None)  # the remote and branch `pull` follows
    data: Mapping[str, DataCommand] = field(default_factory=dict)  # service -> its dump/restore
    notify: Notify = field(default_factory=Notify)  # who is told what (capabilities/notify)
    hosts: tuple[Host, ...] = ()  # a fleet's hosts (operations/fleet)
    fleet: FleetRollout = FleetRollout()  # how a release goes to them

    def host(self, name: str | None) -> Host | None:
        """The fleet's host `name`, None when it names none."""
        return next((h for h in self.hosts if h.name == name), None)


@dataclass(frozen=True)
class HookSettings:
    directory: str = HOOKS_DIR  # project-relative
    timeout: float = HOOK_TIMEOUT
    enabled: bool = True  # False: `--no-hooks`


@dataclass(frozen=True)
class RolloutSettings:
    """How services are replaced (`cfgroll.orchestrators.startfirst`): the project's default
    order, the order `--rollout` forces on every service this run (None: each service's own),
    the drain time, the command run in an old container before it is drained, and whether it
    leaves the networks before or after it is stopped."""

    default: Order = "stop-first"
    forced: Order | None = None
    drain: float = DRAIN
    pre_stop: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    retire: Retire = "leave-then-stop"


@dataclass(frozen=True)
class Effective:
    """The settings a run works with: flags over the block over the defaults."""

    limits: Limits
    lock_timeout: float
    hooks: HookSettings
    orchestrator: Orchestrator = "compose"
    rollout: RolloutSettings = RolloutSettings()


def settings(config: Mapping[str, Any]) -> Settings:
    """The settings in Compose's model of the project (`docker compose config` JSON)."""
    return parse(config.get(KEY))


def parse(block: Any) -> Settings:
    """The settings in an `x-cfgroll:` block (None: no block)."""
    if block is None:
        return Settings()
    if not isinstance(block, Mapping):
        raise ProjectError(f"`{KEY}:` in the compose file must be a mapping (keys: {_keys()})")
    unknown = sorted(set(block) - set(_KNOWN))
    if unknown:
        raise ProjectError(
            f"`{KEY}:` has unknown key(s) {', '.join(unknown)}; the keys cfgroll knows are "
            f"{_keys()} (see docs/settings.md)"
        )
    return Settings(
        track=field_of.paths(block, "track"),
        ignore=field_of.paths(block, "ignore"),
        timeout=field_of.seconds(block, "timeout", least=1),
        settle=field_of.seconds(block, "settle"),
        lock_timeout=field_of.seconds(block, "lock_timeout"),
        hooks=field_of.folder(block, "hooks"),
        hook_timeout=field_of.seconds(block, "hook_timeout", least=1),
        keep=field_of.count(block, "keep"),
        keep_for=field_of.duration_of(block, "keep_for"),
        orchestrator=field_of.maybe(block, "orchestrator", ORCHESTRATORS),
        rollout=field_of.maybe(block, "rollout", ORDERS),
        drain=field_of.seconds(block, "drain"),
        pre_stop=field_of.pre_stop(block),
        retire=field_of.maybe(block, "retire", RETIRES),
        recipients=field_of.recipients(block),
        mirror_plaintext=field_of.flag(block, "mirror_plaintext"),
        push_timeout=field_of.seconds(block, "push_timeout", least=1),
        pull=field_of.pull(block),
        data=field_of.data(block),
        notify=field_of.notify(block),
        hosts=fleet_fields.hosts(block),
        fleet=fleet_fields.fleet(block),
    )


def effective(flags: Flags, block: Any = None) -> Effective:
    """`flags` over the `x-cfgroll:` block `block` (a mapping, or None) over the defaults."""
    s = parse(block)

    def pick(flag: float | None, setting: float | None, default: float) -> float:
        return flag if flag is not None else setting if setting is not None else default

    return Effective(
        limits=Limits(
            pick(flags.timeout, s.timeout, _DEFAULTS.timeout),
            pick(flags.settle, s.settle, _DEFAULTS.settle),
        ),
        lock_timeout=pick(flags.lock_timeout, s.lock_timeout, 0.0),
        hooks=HookSettings(
            s.hooks or HOOKS_DIR,
            pick(flags.hook_timeout, s.hook_timeout, HOOK_TIMEOUT),
            not flags.no_hooks,
        ),
        orchestrator=flags.orchestrator or s.orchestrator or "compose",
        rollout=RolloutSettings(
            s.rollout or "stop-first",
            flags.rollout,
            pick(flags.drain, s.drain, DRAIN),
            dict(s.pre_stop or {}),
            s.retire or "leave-then-stop",
        ),
    )


def recorded(flags: Flags, entry: Entry | None) -> Effective:
    """`flags` over the `x-cfgroll:` block `entry` recorded (None: no release) over the
    defaults: the settings of a run that works with a recorded release."""
    return effective(flags, entry.manifest.layout.settings if entry is not None else None)


def _keys() -> str:
    return ", ".join(_KNOWN)
