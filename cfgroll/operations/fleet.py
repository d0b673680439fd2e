"""One release on several hosts (issue 38; in progress: the plan, not yet the rollout). The
fleet drives the transactions from above, as pull does: the canary group first, then the rest
in waves; a failure stops the rollout and, all or nothing, takes the hosts already on the new
release back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cfgroll.errors import UsageError
from cfgroll.fleet_fields import FleetRollout, Host
from cfgroll.store.names import names


@dataclass(frozen=True)
class Plan:
    """The hosts a run goes to, wave by wave: the canary wave first (when the selection holds
    any of its hosts), then waves of `parallel`, in the order `hosts:` lists them."""

    waves: tuple[tuple[Host, ...], ...]
    canary: bool  # the first wave is the canary group's (soaked before the rest)

    @property
    def hosts(self) -> tuple[Host, ...]:
        return tuple(h for wave in self.waves for h in wave)


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


def to_undo(done: Sequence[Host], failed: Host, rollout: FleetRollout) -> tuple[Host, ...]:
    """After `failed` failed its gate (and rolled itself back): the hosts that go back to the
    release before too. All or nothing: every host already on the new release; else none."""
    return tuple(h for h in done if h != failed) if rollout.all_or_nothing else ()
