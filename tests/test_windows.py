"""The Windows branches, run here by faking the platform (`system.windows`): path forms that
would leave the project, syncing a read-only file, a target another program holds open, links
that cannot be made, `.exe`/`.bat` hooks, the privacy warning; and text read and written as
UTF-8 whatever the locale. CI also type-checks the package for Windows (`mypy --platform
win32`). What runs on which system: CONTRIBUTING.md."""

from __future__ import annotations

import ast
import errno
import os
import stat
from pathlib import Path

import pytest

from cfgroll.errors import ProjectError
from cfgroll.store import files, system
from cfgroll.store.files import FileData, write_atomic, write_file
from tests.helpers import REPO_ROOT
from tests.test_layering import PACKAGE, sources


@pytest.fixture
def on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system, "windows", lambda: True)


REFUSED = [
    "", "..\\x", "conf\\app.conf", "C:/x", "c:x", "//server/share/x", "/etc/passwd",
    "file.txt:stream", "../x", "a/../../x", "CON", "conf/nul.txt", "LPT1", "com9.log",
    "conf/app.", "conf/app ", "trailing./x",
]  # fmt: skip
ACCEPTED = ["compose.yaml", ".env", "conf/app.conf", "./conf/x", "a/b/c.d", "console.txt"]


@pytest.mark.parametrize("rel", REFUSED)
def test_windows_path_forms_are_refused_on_every_system(rel: str) -> None:
    assert system.outside(rel) is not None


@pytest.mark.parametrize("rel", ACCEPTED)
def test_plain_project_paths_pass(rel: str) -> None:
    assert system.outside(rel) is None


def test_a_recorded_windows_path_is_never_written(tmp_path: Path) -> None:
    from cfgroll.project.disk import write

    for rel in ("..\\escape", "C:/escape", "x:stream"):
        with pytest.raises(ProjectError, match="outside the project"):
            write(tmp_path / "p", {rel: FileData(b"x")}, {})
    assert list(tmp_path.iterdir()) == []


def test_a_hooks_folder_in_a_windows_form_is_refused_in_one_line() -> None:
    from cfgroll.settings import parse

    for value in ("..\\ops\\hooks", "C:/hooks", "\\\\server\\hooks"):
        with pytest.raises(ProjectError, match="leaves the project folder") as refused:
            parse({"hooks": value})
        assert "\n" not in str(refused.value)


def test_a_read_only_file_is_synced_through_a_handle_open_for_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_windows: None
) -> None:
    """Windows refuses fsync on a read-only handle: the loose objects git makes are read-only,
    so their flag is lifted for the moment and put back."""
    obj = tmp_path / "object"
    obj.write_bytes(b"x")
    obj.chmod(0o444)
    opened: list[int] = []
    real_open = os.open
    monkeypatch.setattr(
        os, "open", lambda p, flags, *a: opened.append(flags) or real_open(p, flags, *a)
    )
    system.fsync_file(obj)
    assert opened and opened[0] & os.O_RDWR
    assert not obj.stat().st_mode & stat.S_IWRITE  # read-only again


def test_elsewhere_a_file_is_synced_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    obj = tmp_path / "object"
    obj.write_bytes(b"x")
    opened: list[int] = []
    real_open = os.open
    monkeypatch.setattr(
        os, "open", lambda p, flags, *a: opened.append(flags) or real_open(p, flags, *a)
    )
    monkeypatch.setattr(system, "windows", lambda: False)
    system.fsync_file(obj)
    assert opened == [os.O_RDONLY]


def held_open(monkeypatch: pytest.MonkeyPatch, times: int) -> list[str]:
    """os.replace refuses `times` times, as Windows does while another program holds the
    target open."""
    calls: list[str] = []
    real_replace = os.replace

    def replace(src: str, dst: object) -> None:
        calls.append(src)
        if len(calls) <= times:
            raise PermissionError(errno.EACCES, "The process cannot access the file")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(files, "LOCKED_RETRY", (0.0,) * len(files.LOCKED_RETRY))
    return calls


def test_a_briefly_held_target_is_replaced_on_a_later_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_windows: None
) -> None:
    target = tmp_path / ".env"
    target.write_bytes(b"OLD=1\n")
    calls = held_open(monkeypatch, 2)
    write_atomic(target, b"NEW=1\n")
    assert len(calls) == 3 and target.read_bytes() == b"NEW=1\n"


def test_a_target_held_open_is_a_clear_error_and_stays_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_windows: None
) -> None:
    target = tmp_path / ".env"
    target.write_bytes(b"OLD=1\n")
    held_open(monkeypatch, 99)
    with pytest.raises(ProjectError, match="another program holds it open"):
        write_atomic(target, b"NEW=1\n")
    assert target.read_bytes() == b"OLD=1\n" and [p.name for p in tmp_path.iterdir()] == [".env"]


def test_elsewhere_a_refused_rename_is_not_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = held_open(monkeypatch, 99)
    with pytest.raises(PermissionError):
        write_atomic(tmp_path / ".env", b"NEW=1\n")
    assert len(calls) == 1


def test_a_link_that_cannot_be_made_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_privilege(*_a: object) -> None:
        raise OSError(errno.EPERM, "A required privilege is not held by the client")

    monkeypatch.setattr(os, "symlink", no_privilege)
    with pytest.raises(ProjectError, match="developer mode"):
        write_file(tmp_path / "current", FileData(b"releases/3", "link"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "argv"),
    [("check.exe", []), ("check.bat", ["cmd", "/c"]), ("check.cmd", ["cmd", "/c"])],
)
def test_windows_hooks_run_by_suffix(
    tmp_path: Path, on_windows: None, name: str, argv: list[str]
) -> None:
    from cfgroll.capabilities.hooks import Hooks, Occasion
    from cfgroll.context import Context
    from cfgroll.engine.compose import Compose
    from cfgroll.settings import HookSettings
    from tests.core.test_hooks import Collecting

    folder = tmp_path / ".cfgroll" / "hooks"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(b"")
    ctx = Context(Compose(tmp_path, ()), tmp_path / "store.git", Collecting())
    hooks = Hooks(ctx, HookSettings(), Occasion("deploy", "t", "", (), "p"))
    assert hooks.command("check") == [*argv, str(folder / name)]
    assert hooks.command("pre-deploy") is None


def test_windows_is_told_the_store_cannot_be_made_private(tmp_path: Path, on_windows: None) -> None:
    from cfgroll.context import Context
    from cfgroll.engine.compose import Compose
    from cfgroll.transactions.init import ensure_store
    from tests.core.test_hooks import Collecting

    reporter = Collecting()
    ensure_store(Context(Compose(tmp_path, ()), tmp_path / ".cfgroll" / "store.git", reporter))
    assert any("cannot make the store private" in w for w in reporter.warnings)


TEXT_CALLS = {"read_text", "write_text", "fdopen", "Popen", "run", "check_output"}


def test_text_is_read_and_written_as_utf8_whatever_the_locale() -> None:
    """Windows' default encoding is the locale's (cp1252, …): every text read, write or
    subprocess pipe in the package names UTF-8."""
    loose = []
    for path in sources(*PACKAGE):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr not in TEXT_CALLS:
                continue
            words = {k.arg: k.value for k in node.keywords}
            if node.func.attr in ("read_text", "write_text"):
                texty = True
            elif node.func.attr == "fdopen":
                mode = node.args[1] if len(node.args) > 1 else words.get("mode")
                texty = isinstance(mode, ast.Constant) and "b" not in str(mode.value)
            else:
                flags = [words.get("text"), words.get("universal_newlines")]
                texty = any(isinstance(f, ast.Constant) and f.value is True for f in flags)
            if texty and "encoding" not in words:
                loose.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert not loose, f"text without encoding='utf-8': {loose}"
