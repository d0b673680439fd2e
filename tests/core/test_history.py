"""What `show` and `diff` print of a release's files, read from a real store without an
engine."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from cfgroll.history.log import Side, diff, show_file
from cfgroll.store.files import FileData
from cfgroll.store.manifest import Layout, Manifest, Role
from cfgroll.store.repo import Store

ROLES = {"compose.yaml": "compose", "db_password.txt": "secret", "app.env": "env"}


def release(tmp_path: Path, files: dict[str, bytes]) -> tuple[Store, object]:
    store, _ = Store.create(tmp_path / "store.git")
    manifest = Manifest(
        tag="backup_20261127_100001", action="deploy", project="p",
        created_at=datetime(2026, 11, 27, tzinfo=timezone.utc), host="h", user="u",
        cfgroll_version="0", result="ok", layout=Layout(ROLES, ("compose.yaml",)),
    )  # fmt: skip
    entry = store.record(
        {p: FileData(d) for p, d in files.items()}, manifest, "deploy\n", None, on_main=True
    )
    return store, entry


def test_a_secrets_file_is_never_shown_and_env_values_are_masked(tmp_path: Path) -> None:
    """The role recorded with the release decides, whatever the file is called."""
    store, entry = release(
        tmp_path,
        {"compose.yaml": b"services: {}\n", "db_password.txt": b"s3cr3t-pw\n",
         "app.env": b"\xef\xbb\xbfAPI_KEY=k3y-value\n"},
    )  # fmt: skip
    secret = show_file(store, entry, "db_password.txt", show_secrets=False)  # type: ignore[arg-type]
    assert "s3cr3t" not in secret and "secrets: file" in secret
    assert show_file(store, entry, "app.env", False) == "API_KEY=***\n"  # type: ignore[arg-type]
    assert "s3cr3t-pw" in show_file(store, entry, "db_password.txt", True)  # type: ignore[arg-type]


def test_diff_masks_env_values_and_says_a_secrets_file_changed(tmp_path: Path) -> None:
    roles: dict[str, Role] = {"db_password.txt": "secret", "settings": "env"}
    old = Side(
        "a",
        {"db_password.txt": FileData(b"one-pw\n"), "settings": FileData(b"K=v-one\n")},
        roles,
        None,
    )
    new = Side(
        "b",
        {"db_password.txt": FileData(b"two-pw\n"), "settings": FileData(b"K=v-two\n")},
        roles,
        None,
    )
    text = "\n".join(diff(old, new))
    assert "pw" not in text and "v-one" not in text and "v-two" not in text
    assert "a secrets: file, changed" in text and "K=***  (value changed)" in text
