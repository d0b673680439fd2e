"""Which files a release records, decided from Compose's model (here written by hand, as
`docker compose config --format json` would give it) and the files on disk. No engine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cfgroll.errors import ProjectError
from cfgroll.project import MAX_FILE, locate, resolve
from cfgroll.project.recorded import ProjectFiles
from cfgroll.store.manifest import FileUse, Unrecorded
from tests.helpers import build_file_tree


def bind(proj: Path, source: str, target: str, ro: bool = False) -> dict[str, Any]:
    src = source if source.startswith("/") else str(proj / source)
    return {"type": "bind", "source": src, "target": target, "read_only": ro}


def resolved(proj: Path, services: dict[str, Any], **top: Any) -> ProjectFiles:
    config = {"name": "p", "services": services, **top}
    return resolve(locate(proj), config)


def test_every_kind_of_file_with_its_role_and_users(tmp_path: Path) -> None:
    proj = build_file_tree(
        tmp_path / "p",
        {
            "compose.yaml": """\
            include: [inc/compose.yaml]
            services:
              web:
                extends: {file: base.yaml, service: base}
                env_file: [web.env, {path: opt.env, required: false}]
            """,
            "base.yaml": "services:\n  base:\n    env_file: base.env\n",
            "inc/compose.yaml": "services:\n  api:\n    env_file: api.env\n",
            "inc/api.env": "A=1\n",
            "web.env": "W=1\n",
            "base.env": "B=1\n",
            ".env": "G=1\n",
            "conf/app.conf": "listen 80\n",
            "site/index.html": "v1\n",
            "site/img/logo.svg": "<svg/>\n",
            "data/db.sqlite": "rows\n",
            "secrets/db.txt": "hunter2\n",
            "conf/motd.txt": "hello\n",
            "scripts/entry.sh": "#!/bin/sh\n",
        },
    )
    os.chmod(proj / "scripts/entry.sh", 0o755)
    files = resolved(
        proj,
        {
            "web": {
                "volumes": [
                    bind(proj, "conf/app.conf", "/etc/app.conf", ro=True),
                    bind(proj, "site", "/site", ro=True),
                    bind(proj, "data", "/data"),
                    bind(proj, "/etc/ssl", "/ssl", ro=True),
                    bind(proj, "logs", "/logs"),  # Compose creates it on `up`
                ],
                "configs": [{"source": "motd", "target": "/etc/motd"}],
                "secrets": [{"source": "db"}],
            },
            "api": {},
        },
        configs={"motd": {"file": str(proj / "conf/motd.txt")}},
        secrets={"db": {"file": str(proj / "secrets/db.txt")}},
        **{"x-cfgroll": {"track": ["scripts/entry.sh"]}},
    )
    assert files.roles == {
        ".env": "env",
        "base.env": "env",
        "base.yaml": "compose",
        "compose.yaml": "compose",
        "conf/app.conf": "mount",
        "conf/motd.txt": "config",
        "inc/api.env": "env",
        "inc/compose.yaml": "compose",
        "scripts/entry.sh": "tracked",
        "secrets/db.txt": "secret",
        "site/img/logo.svg": "mount",
        "site/index.html": "mount",
        "web.env": "env",
    }
    assert files.content["scripts/entry.sh"].kind == "exec"
    uses = set(files.layout.uses)
    assert FileUse("conf/app.conf", "web", "bind", "/etc/app.conf", True) in uses
    assert FileUse("site", "web", "bind", "/site", True) in uses
    assert FileUse("secrets/db.txt", "web", "secret", "/run/secrets/db", True) in uses
    assert FileUse("conf/motd.txt", "web", "config", "/etc/motd", True) in uses
    assert FileUse("inc/api.env", "api", "env_file") in uses
    assert FileUse("base.env", "web", "env_file") in uses  # through `extends`
    assert set(files.layout.not_recorded) == {
        Unrecorded("data", "writable folder", "web", "bind"),
        Unrecorded("/etc/ssl", "outside the project", "web", "bind"),
        Unrecorded("logs", "missing", "web", "bind"),
    }
    assert files.layout.services_using(["site/img/logo.svg"]) == {"web"}


def test_a_writable_folder_records_only_what_git_tracks_there(tmp_path: Path) -> None:
    proj = build_file_tree(
        tmp_path / "p",
        {"compose.yaml": "", "prometheus/prometheus.yml": "scrape: []\n", "prometheus/wal": "x"},
    )
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    subprocess.run(["git", "-C", str(proj), "add", "prometheus/prometheus.yml"], check=True)
    files = resolved(proj, {"prom": {"volumes": [bind(proj, "prometheus", "/etc/prometheus")]}})
    assert "prometheus/prometheus.yml" in files.roles
    assert "prometheus/wal" not in files.roles
    assert Unrecorded("prometheus", "writable folder", "prom", "bind") in files.layout.not_recorded


def test_track_names_a_writable_folder_as_configuration(tmp_path: Path) -> None:
    proj = build_file_tree(tmp_path / "p", {"compose.yaml": "", "nginx/nginx.conf": "x\n"})
    files = resolved(
        proj,
        {"web": {"volumes": [bind(proj, "nginx", "/etc/nginx")]}},
        **{"x-cfgroll": {"track": ["nginx/"]}},
    )
    assert files.roles["nginx/nginx.conf"] == "mount"
    assert files.layout.not_recorded == ()


def test_ignore_leaves_out_folders_and_files_and_lists_them(tmp_path: Path) -> None:
    proj = build_file_tree(
        tmp_path / "p",
        {
            "compose.yaml": "",
            "grafana/provisioning/ds.yaml": "x\n",
            "grafana/dashboards/cache/a.json": "{}\n",
            "grafana/big.bin": b"\0" * (MAX_FILE + 1),
        },
    )
    files = resolved(
        proj,
        {"g": {"volumes": [bind(proj, "grafana", "/g", ro=True)]}},
        **{"x-cfgroll": {"ignore": ["grafana/dashboards/cache/", "*.bin"]}},
    )
    assert list(files.roles) == ["compose.yaml", "grafana/provisioning/ds.yaml"]
    assert {u.path for u in files.layout.not_recorded} == {"grafana/dashboards/cache/", "*.bin"}


def test_limits_are_refused_naming_the_culprits(tmp_path: Path) -> None:
    proj = build_file_tree(
        tmp_path / "p", {"compose.yaml": "", "site/geo.db": b"\1" * (MAX_FILE + 1)}
    )
    services = {"web": {"volumes": [bind(proj, "site", "/site", ro=True)]}}
    with pytest.raises(ProjectError, match=r"site/geo\.db \(5\.0 MiB\).*x-cfgroll: ignore:"):
        resolved(proj, services)
    (proj / "site/geo.db").unlink()
    for i in range(2001):
        (proj / "site" / f"{i}.txt").write_text("x")
    with pytest.raises(ProjectError, match=r"2,002 files.*most are under site/"):
        resolved(proj, services)


def test_links_are_links_and_never_leave_the_project(tmp_path: Path) -> None:
    proj = build_file_tree(
        tmp_path / "p", {"compose.yaml": "", "conf/v2.conf": "v2\n", "certs/x": ""}
    )
    (tmp_path / "outside.pem").write_text("key\n")
    os.symlink("v2.conf", proj / "conf/current.conf")
    os.symlink(str(tmp_path / "outside.pem"), proj / "tls.pem")
    files = resolved(
        proj,
        {
            "web": {
                "volumes": [
                    bind(proj, "conf/current.conf", "/app.conf", ro=True),
                    bind(proj, "tls.pem", "/tls.pem", ro=True),
                ]
            }
        },
    )
    assert files.content["conf/current.conf"].kind == "link"
    assert files.content["conf/current.conf"].data == b"v2.conf"
    assert files.roles["conf/v2.conf"] == "mount"  # what the link names, too
    assert Unrecorded("tls.pem", "outside the project", "web", "bind") in files.layout.not_recorded
    os.symlink(str(tmp_path / "outside.pem"), proj / "conf/leak.pem")
    with pytest.raises(ProjectError, match="conf/leak.pem is a link to .*outside the project"):
        resolved(proj, {"web": {"volumes": [bind(proj, "conf", "/conf", ro=True)]}})


def test_the_store_folder_and_git_are_never_recorded(tmp_path: Path) -> None:
    proj = build_file_tree(
        tmp_path / "p",
        {"compose.yaml": "", ".cfgroll/store.git/HEAD": "x", ".git/HEAD": "y", "app.py": "z"},
    )
    files = resolved(proj, {"web": {"volumes": [bind(proj, ".", "/app", ro=True)]}})
    assert sorted(files.roles) == ["app.py", "compose.yaml"]


def test_x_cfgroll_is_checked(tmp_path: Path) -> None:
    proj = build_file_tree(tmp_path / "p", {"compose.yaml": ""})
    with pytest.raises(ProjectError, match="unknown key.*trak.*ignore, track"):
        resolved(proj, {}, **{"x-cfgroll": {"trak": ["a"]}})
    with pytest.raises(ProjectError, match="names nginx/, which does not exist"):
        resolved(proj, {}, **{"x-cfgroll": {"track": ["nginx/"]}})
    with pytest.raises(ProjectError, match="leaves the project folder"):
        resolved(proj, {}, **{"x-cfgroll": {"track": ["../etc/"]}})


def test_include_forms_with_project_directory_and_env_file(tmp_path: Path) -> None:
    proj = build_file_tree(
        tmp_path / "p",
        {
            "compose.yaml": """\
            include:
              - a/compose.yaml
              - path: [b/one.yaml, b/two.yaml]
                project_directory: b/root
                env_file: [b/vars.env]
              - path: ${SUB}/c.yaml
            """,
            ".env": "SUB=c\n",
            "a/compose.yaml": "services:\n  a:\n    env_file: a.env\n",
            "a/a.env": "A=1\n",
            "b/one.yaml": "services:\n  b:\n    env_file: b.env\n",
            "b/two.yaml": "services: {}\n",
            "b/root/b.env": "B=1\n",
            "b/vars.env": "V=1\n",
            "c/c.yaml": "include: [../shared/compose.yaml]\n",
            "shared/compose.yaml": "services: {}\n",
        },
    )
    files = resolved(proj, {"a": {}, "b": {}})
    assert {p for p, r in files.roles.items() if r == "compose"} == {
        "compose.yaml",
        "a/compose.yaml",
        "b/one.yaml",
        "b/two.yaml",
        "c/c.yaml",
        "shared/compose.yaml",
    }
    assert {p for p, r in files.roles.items() if r == "env"} == {
        ".env",
        "a/a.env",
        "b/root/b.env",
        "b/vars.env",
    }
