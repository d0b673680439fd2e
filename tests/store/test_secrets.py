from __future__ import annotations

from cfgroll.store.secrets import env_changes, is_env_path, mask_compose, mask_env, parse_env

ENV = """\
# database
DB_PASSWORD=hunter2
export TOKEN="multi
line value"
GREETING=hello#world
EMPTY=
"""


def test_parse_env_keeps_hash_and_multiline_values() -> None:
    values = parse_env(ENV)
    assert values["GREETING"] == "hello#world"
    assert values["TOKEN"] == '"multi\nline value"'
    assert values["EMPTY"] == ""


def test_mask_env_hides_every_value_keeps_keys_and_comments() -> None:
    masked = mask_env(ENV)
    assert masked == "# database\nDB_PASSWORD=***\nexport TOKEN=***\nGREETING=***\nEMPTY=***\n"


def test_env_changes_and_changed_marker() -> None:
    new = "DB_PASSWORD=hunter3\nGREETING=hello#world\nADDED=1\n"
    ch = env_changes(ENV, new)
    assert ch.added == ("ADDED",) and ch.changed == ("DB_PASSWORD",)
    assert set(ch.removed) == {"TOKEN", "EMPTY"}
    assert "DB_PASSWORD=***  (value changed)" in mask_env(new, frozenset(ch.changed))
    assert "hunter" not in mask_env(new, frozenset(ch.changed))


def test_mask_compose_hides_secret_looking_values_only() -> None:
    text = "environment:\n  DB_PASSWORD: s3cret\n  - API_TOKEN=abc\n  LOG_LEVEL: debug\n"
    masked = mask_compose(text)
    assert "s3cret" not in masked and "abc" not in masked
    assert "LOG_LEVEL: debug" in masked


def test_env_paths() -> None:
    assert is_env_path(".env") and is_env_path("conf/app.env") and is_env_path(".env.prod")
    assert not is_env_path("compose.yaml") and not is_env_path("environment.yaml")
