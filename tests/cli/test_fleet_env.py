"""A fleet host's own env file (issue 38): one release records every host's env file, and each
host reads its own after the project's, in a deploy and in a rollback (the env file the
release gave it), on three real engines (tests/fleet.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cfgroll.cli.main import main
from tests.fleet import FAST, Fleet, host_refs, on, tag_of
from tests.helpers import git

pytestmark = pytest.mark.docker


def own_env_project(fleet: Fleet) -> tuple[Path, Path, Path]:
    """A fleet project where host a (the canary) has its own env file: the project, its
    store, a's file."""
    proj = fleet.project(own={"a": "hosts/a.env"})
    own = proj / "hosts" / "a.env"
    own.parent.mkdir()
    own.write_text("GREETING=hello-a\n")
    return proj, proj / ".cfgroll" / "store.git", own


def test_each_host_reads_its_own_env_file_and_the_release_holds_them_all(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, store, own = own_env_project(fleet)
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    refs = host_refs(store)
    assert len(set(refs.values())) == 1  # one release
    v1 = tag_of(store, refs["a"])
    assert {e.name: on(e, fleet.name)[0] for e in fleet.hosts} == {
        "a": "hello-a",
        "b": "v1",
        "c": "v1",
    }
    assert git(store, "show", f"{v1}:hosts/a.env") == "GREETING=hello-a\n"
    manifest = git(store, "show", f"{v1}:.cfgroll/manifest.yaml")
    assert "hosts/a.env: env" in manifest  # a secret's role: its values masked in every output
    capsys.readouterr()
    assert main(["show", v1, "hosts/a.env", "-C", str(proj)]) == 0
    assert "hello-a" not in capsys.readouterr().out

    # a's own file changes: a new release, only a's container changes (a is the canary: it
    # records the release, and its own file must not become the others')
    kept = {e.name: on(e, fleet.name) for e in fleet.hosts}
    own.write_text("GREETING=hello-a2\n")
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    v2 = tag_of(store, "main")
    assert v2 != v1 and {tag_of(store, r) for r in host_refs(store).values()} == {v2}
    now = {e.name: on(e, fleet.name) for e in fleet.hosts}
    assert now["b"] == kept["b"] and now["c"] == kept["c"] and now["a"][0] == "hello-a2"

    # the fleet goes back: a reads the env file v1 gave it, the others none; the project's
    # file is v1's
    assert main(["rollback", "previous", "--yes", "-C", str(proj), *FAST]) == 0
    assert [on(e, fleet.name)[0] for e in fleet.hosts] == ["hello-a", "v1", "v1"]
    assert own.read_text() == "GREETING=hello-a\n"

    # a host's env file gone: refused before anything changes
    own.unlink()
    capsys.readouterr()
    assert main(["deploy", "-C", str(proj), *FAST]) != 0
    assert "hosts/a.env" in capsys.readouterr().err
    assert on(fleet.hosts[0], fleet.name)[0] == "hello-a"


def test_a_dry_run_asks_each_host_and_changes_nothing(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    """`deploy --dry-run` on a fleet: each host's own dry run (its live release, its env
    file), nothing changed anywhere."""
    proj, store, own = own_env_project(fleet)
    assert main(["deploy", "-C", str(proj), *FAST]) == 0
    v1, refs = tag_of(store, "main"), host_refs(store)
    served = {e.name: on(e, fleet.name) for e in fleet.hosts}
    capsys.readouterr()
    shown = dry_run_json(proj, capsys)  # nothing changed: a reads its own file as it ran it
    assert shown["release"] == v1 and [h["host"] for h in shown["hosts"]] == ["a", "b", "c"]
    assert changes(shown) == {h: [("web", "unchanged")] for h in "abc"}
    own.write_text("GREETING=hello-a2\n")  # only a's containers would change
    shown = dry_run_json(proj, capsys)
    assert changes(shown) == {
        "a": [("web", "recreate")],
        "b": [("web", "unchanged")],
        "c": [("web", "unchanged")],
    }
    assert [f["path"] for f in shown["hosts"][1]["dry_run"]["files"]] == ["hosts/a.env"]
    assert main(["deploy", "-C", str(proj), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert f"== a (runs {v1}) ==" in text and "hello-a2" not in text  # masked
    assert host_refs(store) == refs and {e.name: on(e, fleet.name) for e in fleet.hosts} == served


def dry_run_json(proj: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["deploy", "-C", str(proj), "--dry-run", "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def changes(shown: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Each host's services and what its dry run says the deploy would do to them."""
    return {
        h["host"]: [(s["service"], s["change"]) for s in h["dry_run"]["services"]]
        for h in shown["hosts"]
    }
