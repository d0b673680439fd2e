"""`cfgroll import` of the old scripts' folders, decided without an engine."""

from __future__ import annotations

from pathlib import Path

from cfgroll.context import Context
from cfgroll.engine.compose import Compose
from cfgroll.operations.importer import import_backups
from tests.core.test_hooks import Collecting
from tests.helpers import build_file_tree


class NoImages:
    def image_id(self, ref: str) -> None:
        return None


def test_folders_are_imported_oldest_first_whatever_their_names(tmp_path: Path) -> None:
    """An update folder sorts after every deploy folder by name (`update_…`), but goes where
    its time puts it."""
    compose = "services:\n  web:\n    image: web\n"
    backups = build_file_tree(
        tmp_path / ".backup",
        {
            "20260103_000000/docker-compose.yml": compose,
            "update_20260102_000000/docker-compose.yml": compose,
            "20260101_000000/docker-compose.yml": compose,
        },
    )
    ctx = Context(Compose(tmp_path, ()), tmp_path / "store.git", Collecting())
    ctx._daemon = NoImages()  # type: ignore[assignment]
    report = import_backups(ctx, backups, dry_run=True)
    assert [b.name for b, _tag in report.imported] == [
        "20260101_000000",
        "update_20260102_000000",
        "20260103_000000",
    ]


class Tagged:
    """The engine's images: `service:backup_<stamp>` tags left by the old scripts."""

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags

    def image_id(self, ref: str) -> str | None:
        return self.tags.get(ref)

    def tag(self, image_id: str, ref: str) -> None:
        self.tags[ref] = image_id


def test_a_folder_is_read_with_its_images_states_and_notes(tmp_path: Path) -> None:
    """What each folder becomes: the compose file and `.env` (BOM and CRLF dropped, said in
    a note), the services whose `<service>:backup_<stamp>` tag still exists (with the states
    `containers.json` saved, one object a line), an update folder's services; malformed
    folders are reported one line each and imported around."""
    compose = "services:\n  web:\n    image: shop/web:1\n  worker: {}\n"
    rows = (
        '{"Service": "web", "Name": "p-web-1", "State": "running", "Health": "healthy"}\n'
        '{"Service": "worker", "Name": "p-worker-1", "State": "Up 2 hours"}\n'
    )
    backups = build_file_tree(
        tmp_path / ".backup",
        {
            "20260101_000000/docker-compose.yml": compose,
            "20260101_000000/.env": b"\xef\xbb\xbfA=1\r\n",
            "20260101_000000/containers.json": rows,
            "update_20260102_000000/docker-compose.yml": compose,
            "update_20260102_000000/services.json": "web,worker",
            "20260103_000000/docker-compose.yml": "not: [a, mapping",
            "notes/readme.txt": "x",
        },
    )
    ctx = Context(Compose(tmp_path, ()), tmp_path / "store.git", Collecting())
    ctx._daemon = Tagged({"web:backup_20260101_000000": "sha256:" + "1" * 64})  # type: ignore[assignment]
    report = import_backups(ctx, backups, dry_run=True)
    (first, _), (update, _) = report.imported
    # the history holds what was there, byte for byte; --normalize drops the BOM and CRLF
    assert first.files[".env"].data == b"\xef\xbb\xbfA=1\r\n" and first.roles == {
        "docker-compose.yml": "compose",
        ".env": "env",
    }
    assert "'.env has a UTF-8 BOM and CRLF line ends; kept as it was" in repr(first.notes)
    normalized = import_backups(ctx, backups, dry_run=True, normalize=True).imported[0][0]
    assert normalized.files[".env"].data == b"A=1\n"
    assert "imported without (--normalize)" in repr(normalized.notes)
    web = first.services["web"]
    assert (web.image, web.image_id) == ("shop/web:1", "sha256:" + "1" * 64)
    assert [(c.name, c.state, c.health) for c in web.containers] == [
        ("p-web-1", "running", "healthy")
    ]
    assert "worker" not in first.services  # no tag left for it
    assert update.kind == "update" and update.updated == ("web", "worker")
    assert update.services["web"] == web  # carried from the folder before
    assert sorted(p.split(":")[0] for p in report.problems) == ["20260103_000000", "notes"]
