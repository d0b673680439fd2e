"""What `pip install .` puts in site-packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def test_install_lands_under_the_cfgroll_namespace_only(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(REPO_ROOT),
        ],
        check=True,
        capture_output=True,
    )
    top = sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info"))
    assert top == ["bin", "cfgroll"] or top == ["cfgroll"]
    for sub in ("cli", "store", "engine"):
        assert (target / "cfgroll" / sub / "__init__.py").is_file()
    # every package of the checkout is installed (an unlisted one would import in the
    # checkout's tests and fail for a user)
    for init in sorted((REPO_ROOT / "cfgroll").rglob("__init__.py")):
        rel = init.relative_to(REPO_ROOT)
        if rel.parts[1] in ("cli", "store", "samples"):
            continue  # links to the card's folders, checked above
        assert (target / rel).is_file(), f"{rel} is not installed: list its package in pyproject"
    probe = "import importlib.util as u; print(u.find_spec('cli'), u.find_spec('store'))"
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path[:0] = [{str(target)!r}]; {probe}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert out.strip() == "None None"
