"""`cfgroll import` of the old scripts' folders, decided without an engine."""

from __future__ import annotations

from pathlib import Path

from cfgroll.capabilities.importer import import_backups
from cfgroll.context import Context
from cfgroll.engine.compose import Compose
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
