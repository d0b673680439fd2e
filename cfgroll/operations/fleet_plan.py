"""A fleet's plan (issue 38): which hosts a command goes to (`--hosts`, `--group`), in which
waves (the canary group first, then `parallel` at a time), what goes back when one fails, and
the words for what happened on each host. Decisions only: `cfgroll.operations.fleet` acts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from cfgroll.errors import UsageError
from cfgroll.fleet_fields import FleetRollout, Host
from cfgroll.store.names import names

# What happened on a host, as the fleet's result and error name it.
Outcome = Literal[
    "deployed",  # it runs the new release
    "unchanged",  # it ran the release already
    "failed",  # its deploy failed and it put back what ran before
    "broken",  # its deploy failed and putting back failed too (or its run ended oddly)
    "undone",  # it ran the new release and went back (all or nothing)
    "undo-failed",  # going back failed
    "not-started",  # the rollout stopped before it
    "missed",  # unreachable (--skip-unreachable): it runs what it ran
    "rolled-back",  # a fleet rollback put it on the release asked for
]


@dataclass(frozen=True)
class Plan:
    """The hosts a run goes to, wave by wave: the canary wave first (when the selection holds
    any of its hosts), then waves of `parallel`, in the order `hosts:` lists them."""

    waves: tuple[tuple[Host, ...], ...]
    canary: bool  # the first wave is the canary group's (soaked before the rest)

    @property
    def hosts(self) -> tuple[Host, ...]:
        return tuple(h for wave in self.waves for h in wave)


@dataclass(frozen=True)
class HostRun:
    host: str
    outcome: Outcome
    release: str  # the release it runs now ("" when none)
    reason: str = ""

    def describe(self) -> str:
        on = f" ({self.release})" if self.release else ""
        return f"{self.host} {self.outcome}{on}" + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class FleetDeployed:
    release: str
    runs: tuple[HostRun, ...]
    complete: bool  # every host chosen runs it (`main` moved to it)


@dataclass(frozen=True)
class Choice:
    """The hosts a fleet command goes to: `--hosts a,b`, `--group G` (none: every host), and
    whether unreachable hosts are skipped (`--skip-unreachable`) rather than refused."""

    named: tuple[str, ...] = ()
    group: str | None = None
    skip_unreachable: bool = False

    @property
    def given(self) -> bool:
        return bool(self.named or self.group or self.skip_unreachable)


def select(
    hosts: Sequence[Host], named: Sequence[str] = (), group: str | None = None
) -> list[Host]:
    """The hosts `--hosts a,b` and `--group G` choose (all of them when neither is given); an
    unknown name or group is a usage error, before anything changes."""
    known = {h.name for h in hosts}
    unknown = sorted(set(named) - known)
    if unknown:
        raise UsageError(
            f"no host {names(unknown)} in `hosts:` (its hosts: {names(sorted(known))})"
        )
    if group is not None and not any(group in h.groups for h in hosts):
        raise UsageError(f"no host is in the group {group}")
    return [
        h for h in hosts if (not named or h.name in named) and (group is None or group in h.groups)
    ]


def plan(selected: Sequence[Host], rollout: FleetRollout) -> Plan:
    canary = tuple(h for h in selected if rollout.canary in h.groups)
    rest = [h for h in selected if h not in canary]
    n = rollout.parallel
    waves = ((canary,) if canary else ()) + tuple(
        tuple(rest[i : i + n]) for i in range(0, len(rest), n)
    )
    return Plan(waves, bool(canary))


def to_undo(outcomes: Mapping[str, Outcome], rollout: FleetRollout) -> list[str]:
    """When the rollout stops: the hosts that go back to the release they ran before. All or
    nothing: every host the rollout put on the new release; else none."""
    return [h for h, o in outcomes.items() if o == "deployed"] if rollout.all_or_nothing else []
