"""The fleet's test hosts (tests/hosts.py) work here: two engines of their own, each running a
container that publishes the same port, each reached in its own network namespace."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hosts import Engine, start

pytestmark = pytest.mark.docker


@pytest.fixture
def engines(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[list[Engine]]:
    root = Path("/tmp") / f"cfgh-{tmp_path_factory.mktemp('h').name}"  # short socket paths
    found: list[Engine] = []
    try:
        for name in ("a", "b"):
            found.append(start(name, root / name))
            found[-1].load(base_image)
        yield found
    finally:
        for engine in found:
            engine.stop()


def test_two_hosts_each_with_its_own_engine_and_network(
    engines: list[Engine], base_image: str
) -> None:
    for e in engines:
        serve = f"mkdir -p /www && echo {e.name} > /www/index.html && exec httpd -f -p 80 -h /www"
        run = e.docker("run", "-d", "-p", "8080:80", base_image, "sh", "-c", serve)
        assert run.returncode == 0, run.stderr
    time.sleep(1)
    for e in engines:
        got = e.inside("busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/").stdout
        assert got.strip() == e.name
        assert len(e.docker("ps", "-q").stdout.split()) == 1
