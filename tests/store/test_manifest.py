from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cfgroll.errors import StoreError
from cfgroll.store.manifest import ContainerRecord, Manifest, ServiceRecord


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
        files={"compose.yaml": "compose", ".env": "env"},
        compose_files=("compose.yaml",),
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
    text = m.to_yaml()
    assert Manifest.from_yaml(text) == m
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
        Manifest.from_yaml("release: {}\n")
