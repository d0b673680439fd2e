"""A fleet's images through a registry (issue 38): pushed once, from the first host, and pulled
by their digest on every other host; a rollback on a host that lost a release's image pulls
it back by the digest the release recorded. The registry is Debian's docker-registry, served
at 127.0.0.1:5000 inside each host's network namespace from one shared storage, so every host
reaches one registry at one address (tests/hosts.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cfgroll.cli.main import main
from tests.fleet import FAST, Fleet, host_refs, on, tag_of
from tests.helpers import DOCKERFILE, REPO_ROOT, doc_recipe, git
from tests.hosts import Engine

pytestmark = pytest.mark.docker
SERVED = "127.0.0.1:5000"  # where each host reaches the test's registry
REGISTRY = f"{SERVED}/shop"


@pytest.fixture
def registry_on_hosts(hosts: list[Engine], tmp_path: Path) -> Iterator[str]:
    served = []
    try:
        for engine in hosts:
            served.append(engine.serve_registry(tmp_path / "registry"))
        yield SERVED
    finally:
        for process in served:
            process.terminate()
            process.wait(timeout=10)


def web_record(store: Path, tag: str) -> dict[str, str]:
    manifest = yaml.safe_load(git(store, "show", f"{tag}:.cfgroll/manifest.yaml"))
    return dict(manifest["services"]["web"])


def test_images_go_to_the_hosts_through_the_registry_by_digest(
    fleet: Fleet, registry_on_hosts: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/fleet.md's `registry:` recipe as written, its registry's address swapped for the
    one the test hosts reach."""
    recipe = doc_recipe(REPO_ROOT / "docs" / "fleet.md", "fleet-registry")
    line = recipe.removeprefix("x-cfgroll:\n").strip()
    assert line.startswith("registry: registry.example.com:5000/shop")
    proj = fleet.project(fleet=line.replace("registry.example.com:5000", registry_on_hosts))
    store = proj / ".cfgroll" / "store.git"
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    said = capsys.readouterr().err
    assert f"pushing {fleet.name}-web to {REGISTRY}" in said
    assert "onto b by digest" in said and "onto c by digest" in said
    assert "sending" not in said  # nothing went engine to engine
    v1 = tag_of(store, "main")
    record = web_record(store, v1)
    assert record["repo_digest"].startswith(f"{REGISTRY}/{fleet.name}-web@sha256:")
    first = {on(e, fleet.name) for e in fleet.hosts}
    assert len(first) == 1 and next(iter(first)) == ("v1", record["image_id"])
    for e in fleet.hosts[1:]:
        digests = e.docker("image", "inspect", "-f", "{{json .RepoDigests}}", record["image_id"])
        assert record["repo_digest"] in digests.stdout

    # a new image; then host c loses v1's (pruned by hand), and the fleet goes back to v1
    (proj / "Dockerfile").write_text(DOCKERFILE + "RUN echo 2 > /two\n")
    (proj / ".env").write_text("GREETING=v2\n")
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    assert {on(e, fleet.name)[0] for e in fleet.hosts} == {"v2"}
    c = fleet.hosts[2]
    assert c.docker("rmi", "-f", record["image_id"]).returncode == 0
    capsys.readouterr()
    assert main(["rollback", "previous", "--yes", "-C", str(proj), *FAST]) == 0
    said = capsys.readouterr().err
    assert "[c]" in said and "by digest" in said.split("[c]", 1)[1]
    assert {on(e, fleet.name) for e in fleet.hosts} == first


def test_keep_prunes_each_hosts_old_images_after_a_fleet_deploy(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    """`keep: 1`: after each fleet deploy, each host untags and removes the images of its
    releases beyond the live one and the last good one before it, on its own engine."""
    proj = fleet.project(fleet="keep: 1\n")
    images = []
    for i in range(3):
        (proj / "Dockerfile").write_text(DOCKERFILE + f"RUN echo {fleet.name}-{i} > /n\n")
        (proj / ".env").write_text(f"GREETING=v{i}\n")
        assert main(["deploy", "-C", str(proj), *FAST]) == 0
        images.append(on(fleet.hosts[0], fleet.name)[1])
    said = capsys.readouterr().err
    assert "[c] ==> pruned the image tags of 1 old release(s) (keep: 1)" in said
    for e in fleet.hosts:
        assert on(e, fleet.name) == ("v2", images[2])
        assert e.docker("image", "inspect", images[0]).returncode != 0, e.name  # pruned
        assert e.docker("image", "inspect", images[1]).returncode == 0, e.name  # the last good


def test_a_registry_that_does_not_answer_stops_the_deploy_before_any_host_changes(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = fleet.project(fleet=f"registry: {REGISTRY}\n")  # no registry serves it
    assert main(["deploy", "-C", str(proj), *FAST]) == 3
    err = capsys.readouterr().err
    assert "the build on a failed" in err and f"docker push {REGISTRY}/" in err, err
    assert "b not-started" in err and "c not-started" in err
    assert not host_refs(proj / ".cfgroll" / "store.git")
    assert {on(e, fleet.name) for e in fleet.hosts} == {("", "")}  # nothing runs anywhere
