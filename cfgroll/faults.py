"""Named points where the fault suite makes cfgroll fail, to prove that every step of deploy,
update and rollback can fail without losing anything.

Inert unless the environment variable `CFGROLL_FAULT` names a point: `STEP` raises
`InjectedFault` there (an unexpected error), `STEP:exit` ends the process at once (as a crash
or `kill -9` would). Each point fires once per process. The suite finds the points by reading
the package's source for `faults.point("…")`, so a new step is covered as soon as it is named.
"""

from __future__ import annotations

import os

ENV = "CFGROLL_FAULT"
EXIT_CODE = 99
_fired: set[str] = set()


class InjectedFault(Exception):
    """The error a fault point raises (deliberately not a `CfgrollError`: it stands for a bug
    or an outside failure cfgroll did not foresee)."""


def point(step: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    crash = spec.endswith(":exit")
    if spec.removesuffix(":exit") != step or step in _fired:
        return
    _fired.add(step)
    if crash:
        os._exit(EXIT_CODE)
    raise InjectedFault(f"fault injected at {step}")
