"""`cfgroll stats` and `cfgroll report --html` on a real history: three deploys, a crashing
deploy rolled back by itself, a rollback by hand away from the third; the page opened in a
real headless browser (Debian's chromium)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import _needed
from tests.helpers import DOCKERFILE, Runner, build_file_tree, git, png_colours, web_compose

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "60"]
SECRETS = ("hunter1-secret", "hunter2-secret", "hunter3-secret", "hunter4-secret")


@pytest.fixture
def history(
    tmp_path: Path, base_image: str, project_name: str, capsys: pytest.CaptureFixture[str]
) -> Runner:
    proj = build_file_tree(
        tmp_path / "shop", {"compose.yaml": web_compose(project_name), "Dockerfile": DOCKERFILE}
    )
    cfg = Runner(proj, capsys)
    for n in (1, 2, 3):
        (proj / ".env").write_text(f"GREETING=v{n}\nDB_PASSWORD=hunter{n}-secret\n")
        assert cfg("deploy", *FAST) == 0, cfg.err
    crash = web_compose(project_name, web_extra='entrypoint: ["sh", "-c", "exit 3"]\n')
    (proj / "compose.yaml").write_text(crash)
    (proj / ".env").write_text("GREETING=v4\nDB_PASSWORD=hunter4-secret\n")
    assert cfg("deploy", *FAST) == 3  # failed, rolled back by itself
    (proj / "compose.yaml").write_text(web_compose(project_name))
    assert cfg("rollback", "previous", "--yes", *FAST) == 0, cfg.err
    return cfg


def test_the_figures_of_a_real_history(history: Runner) -> None:
    cfg = history
    assert cfg("stats", "--json") == 0, cfg.err
    doc = json.loads(cfg.out)
    assert doc["deployments"] == 4
    assert doc["failures"] == 2
    assert doc["change_failure_rate"] == 0.5
    assert doc["median_time_to_restore_s"] > 0
    assert doc["deploys_per_week"] > 0
    assert doc["rollbacks"] == {"automatic": 1, "by_hand": 1}
    assert all(r["restored_by"] for r in doc["restores"])

    assert cfg("stats") == 0
    assert re.search(r"deployments\s+4\s", cfg.out)
    assert re.search(r"change failure rate\s+50%", cfg.out)
    assert cfg("stats", "--service", "web", "--json") == 0
    assert json.loads(cfg.out)["deployments"] == 4  # each changed web's configuration
    assert cfg("stats", "--service", "worker", "--json") == 0
    assert json.loads(cfg.out)["deployments"] == 0


def test_the_report_is_one_self_contained_page_a_browser_shows(
    history: Runner, tmp_path: Path
) -> None:
    cfg = history
    page = tmp_path / "report.html"
    assert cfg("report", "--html", str(page)) == 0, cfg.err
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html
    tags = git(cfg.store, "tag").split()
    assert len(tags) == 5  # three releases, the attempt, the rollback
    for tag in tags:
        assert tag in html
    assert not re.search(r"""\b(src|href)\s*=""", html)  # nothing loaded from anywhere
    assert "<script" not in html
    for secret in SECRETS:
        assert secret not in html

    # not a report: never overwritten
    other = tmp_path / "notes.html"
    other.write_text("<p>mine</p>")
    assert cfg("report", "--html", str(other)) == 2
    assert other.read_text() == "<p>mine</p>"

    shot = tmp_path / "report.png"
    browser = _needed("chromium", "chromium")
    run = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", f"--screenshot={shot}", "--window-size=1100,1200", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    assert png_colours(shot) > 3  # not blank: text, lanes, marks in their colours
