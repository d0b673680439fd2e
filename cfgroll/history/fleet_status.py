"""Which release runs where (issue 38): for each host of a fleet, the release its ref names
(`refs/hosts/<name>`), whether its engine answers, whether its containers run that release's
images, and whether it is behind the fleet's release (`main`)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cfgroll.errors import CfgrollError, one_line
from cfgroll.fleet_fields import Host
from cfgroll.store.repo import Entry, Store


@dataclass(frozen=True)
class HostState:
    """One row of `cfgroll status` for a fleet."""

    host: str
    endpoint: str
    release: str  # the release its ref names ("" when none)
    drift: str  # "" when it runs the fleet's release as recorded; else why not, in short

    @property
    def ok(self) -> bool:
        return not self.drift


def host_states(
    store: Store, fleet_release: Entry | None, hosts: Sequence[Host]
) -> list[HostState]:
    """Each host's state, its engine asked (all at once)."""
    live = store.hosts_live()
    # read here, in one thread: GitPython's readers serve one thread at a time
    entries = {h.name: store.entry(live[h.name]) if h.name in live else None for h in hosts}
    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        return list(pool.map(lambda h: _state(fleet_release, h, entries[h.name]), hosts))


def _state(fleet: Entry | None, host: Host, entry: Entry | None) -> HostState:
    from cfgroll.engine.daemon import Daemon
    from cfgroll.engine.hosts import endpoint_of, unreachable

    tag = entry.tag if entry else ""
    if entry is None:
        return HostState(host.name, host.endpoint, "", "no release deployed to it")
    if (why := unreachable(host.endpoint)) is not None:
        return HostState(host.name, host.endpoint, tag, f"unreachable ({why})")
    behind = ""
    if fleet is not None and fleet.commit != entry.commit:
        behind = f"not on the fleet's release {fleet.tag}"
    try:
        running = {
            c.service: c.image_id
            for c in Daemon(endpoint_of(host.endpoint)).containers(entry.manifest.project)
            if c.state == "running"
        }
    except CfgrollError as exc:
        return HostState(host.name, host.endpoint, tag, f"unreadable ({one_line(exc)})")
    wanted = {n: s.image_id for n, s in entry.manifest.services.items()}
    other = sorted(n for n in wanted if running.get(n) != wanted[n])
    runs = f"runs something else ({', '.join(other)})" if other else ""
    return HostState(host.name, host.endpoint, tag, "; ".join(d for d in (behind, runs) if d))
