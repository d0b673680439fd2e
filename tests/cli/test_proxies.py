"""Zero-downtime behind real proxies: Traefik (examples/proxy as written, and docs/rollouts.md's
recipe), nginx and Caddy (docs/rollouts.md's recipes, from the doc's own text). A client asks
through the proxy every 20 ms over a deploy, a rollback and a deploy whose new container
crashes: no request fails, none takes longer than 250 ms, exactly one API container runs after
each step, and the answers end on v2, then on v1, and stay there."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfgroll.cli.main import main
from tests.helpers import containers
from tests.proxies import PROXIES, SLOWEST, Stack, example, from_docs, local_images, run_steps

pytestmark = pytest.mark.docker

FAST = ["--settle", "0.5", "--timeout", "60"]  # the drain stays the recipe's own


@pytest.fixture(scope="session")
def images(servers: dict[str, str]) -> dict[str, str]:
    return local_images(servers["nginx"])


@pytest.mark.parametrize("way", ["example", *PROXIES])
def test_no_request_fails_or_waits(
    way: str, tmp_path: Path, project_name: str, images: dict[str, str]
) -> None:
    folder = tmp_path / "p"
    stack: Stack = (
        example(folder, project_name)
        if way == "example"
        else from_docs(way, folder, project_name, images)
    )

    def cfgroll(*args: str) -> int:
        return main([*args, "-C", str(folder), *FAST])

    def one_running(step: str) -> None:
        mine = containers(
            project_name, "--filter", f"label=com.docker.compose.service={stack.service}"
        )
        running = containers(
            project_name,
            "--filter",
            f"label=com.docker.compose.service={stack.service}",
            "--filter",
            "status=running",
        )
        assert len(running) == 1 and mine == running, f"after the {step}: {mine}"

    found = run_steps(stack, cfgroll, one_running)
    print("\n".join(map(str, found)))
    deploy, rollback, crash = found
    # both answer while both run (a proxy by DNS asks each in turn); the new one stays
    assert (deploy.bodies[0], deploy.bodies[-1]) == ("v1", "v2"), found
    assert (rollback.bodies[0], rollback.bodies[-1]) == ("v2", "v1"), found
    assert crash.bodies == ("v1",), found  # the crashing container never answered
    for step in found:
        assert step.requests > 40, f"the client hardly ran: {step}"
        assert step.failed == 0 and step.slowest <= SLOWEST, step
