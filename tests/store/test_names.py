from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cfgroll.engine.refs import repository, with_default_tag
from cfgroll.store.names import backup_ref, new_name


def test_names_are_utc_stamps_made_unique_within_a_second() -> None:
    moment = datetime(2026, 11, 26, 23, 30, 5, tzinfo=timezone(timedelta(hours=1)))
    taken = {"backup_20261126_223005", "backup_20261126_223005_2"}
    assert new_name("backup_", moment, lambda n: False) == "backup_20261126_223005"
    assert new_name("backup_", moment, taken.__contains__) == "backup_20261126_223005_3"


def test_repository_and_backup_refs() -> None:
    assert repository("shop-web") == "shop-web"
    assert repository("api:1.2") == "api"
    assert repository("registry:5000/team/api:1.2") == "registry:5000/team/api"
    assert repository("registry:5000/team/api") == "registry:5000/team/api"
    assert repository("api@sha256:abc") == "api"
    assert backup_ref("registry:5000/api:1", "backup_x") == "registry:5000/api:backup_x"
    assert with_default_tag("api") == "api:latest"
    assert with_default_tag("registry:5000/api") == "registry:5000/api:latest"
    assert with_default_tag("api:2") == "api:2"


def test_a_name_tells_its_moment() -> None:
    from datetime import datetime, timezone

    from cfgroll.store.names import moment_of

    when = datetime(2026, 11, 26, 22, 15, 30, tzinfo=timezone.utc)
    assert moment_of("backup_20261126_221530") == when
    assert moment_of("backup_20261126_221530_2") == when
