from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cfgroll.errors import StoreError
from cfgroll.store.manifest import (
    ContainerRecord,
    FileUse,
    Layout,
    Manifest,
    ServiceRecord,
    Unrecorded,
)
from cfgroll.store.manifest_yaml import manifest_from_yaml, manifest_to_yaml


def test_round_trip_and_fixed_key_order() -> None:
    m = Manifest(
        tag="backup_20261126_220000",
        action="rollback",
        target="backup_20261125_100000",
        project="shop",
        created_at=datetime(2026, 11, 26, 22, tzinfo=timezone.utc),
        host="h",
        user="u",
        cfgroll_version="0.1.0",
        result="ok",
        services_changed=("web",),
        layout=Layout(
            {"compose.yaml": "compose", ".env": "env", "conf/app.conf": "mount"},
            ("compose.yaml",),
            ("prod.env",),
            (FileUse("conf", "web", "bind", "/etc/app", True),),
            (Unrecorded("/etc/ssl", "outside the project", "web", "bind"),),
        ),
        services={
            "web": ServiceRecord(
                "shop-web",
                "sha256:ab",
                "shop-web:backup_20261126_220000",
                "h1",
                (ContainerRecord("shop-web-1", "running", "healthy"),),
            ),
            "api": ServiceRecord("api:1", "sha256:cd", "api:backup_20261126_220000"),
        },
    )
    text = manifest_to_yaml(m)
    assert manifest_from_yaml(text) == m
    keys = [
        line.split(":")[0].strip()
        for line in text.splitlines()
        if line.startswith("  ") and not line.startswith("   ")
    ]
    assert keys[:4] == ["tag", "kind", "action", "target"]
    assert text.index("  api:") < text.index("  web:")  # services sorted: clean diffs
    assert text.index(".env:") < text.index("compose.yaml:")


def test_unreadable_manifest_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="fsck"):
        manifest_from_yaml("release: {}\n")


FORMAT_1 = """\
format: 1
release:
  tag: backup_20261126_220000
  kind: release
  action: deploy
  target: null
  services_changed: [web]
  project: shop
  created_at: '2026-11-26T22:00:00Z'
  host: h
  user: u
  cfgroll_version: 0.1.0
  result: ok
  compose_files: [compose.yaml]
files: {.env: env, compose.yaml: compose}
services: {}
"""


def test_format_1_manifests_still_read() -> None:
    m = manifest_from_yaml(FORMAT_1)
    assert m.files == {".env": "env", "compose.yaml": "compose"}
    assert m.layout.uses == () and m.layout.not_recorded == () and m.layout.env_files == ()


def test_a_newer_format_says_to_upgrade() -> None:
    with pytest.raises(StoreError, match="newer cfgroll"):
        manifest_from_yaml(FORMAT_1.replace("format: 1", "format: 99"))


def test_services_using_a_changed_file_or_a_file_in_a_mounted_folder() -> None:
    layout = Layout(
        uses=(
            FileUse("conf/app.conf", "web", "bind", "/app.conf"),
            FileUse("site", "web", "bind", "/site", True),
            FileUse("sec/db.txt", "api", "secret", "/run/secrets/db"),
            FileUse("api.env", "api", "env_file"),  # Compose recreates on env changes itself
        )
    )
    assert layout.services_using(["site/index.html"]) == {"web"}
    assert layout.services_using(["sec/db.txt", "api.env"]) == {"api"}
    assert layout.services_using(["api.env", "sitemap.xml"]) == set()


def test_the_commit_a_pull_deployed_round_trips() -> None:
    from cfgroll.store.manifest import GitSource

    when = datetime(2026, 12, 2, 20, 41, 55, tzinfo=timezone.utc)
    source = GitSource("3f2a9c1e" + "0" * 32, "main", "origin", "Ana <ana@example.com>", when)
    m = Manifest(
        tag="backup_20261202_204212", action="deploy", project="shop", created_at=when,
        host="h", user="u", cfgroll_version="0", result="ok", git=source,
    )  # fmt: skip
    text = manifest_to_yaml(m)
    assert "git:\n    commit: 3f2a9c1e" in text and "committed_at: '2026-12-02T20:41:55Z'" in text
    assert manifest_from_yaml(text).git == source
    assert manifest_from_yaml(manifest_to_yaml(Manifest(**{**m.__dict__, "git": None}))).git is None
