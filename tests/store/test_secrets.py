from __future__ import annotations

import codecs

import pytest

from cfgroll.store.files import FileData
from cfgroll.store.secrets import (
    env_changes,
    is_env,
    is_env_path,
    mask,
    mask_compose,
    mask_env,
    parse_env,
    redact,
    secret_values,
    shown_as_text,
    text_of,
)
from tests.env_shapes import SHAPES, Shape, secrets_of

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
    assert values["TOKEN"] == "multi\nline value"
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


# -- every shape Compose reads (tests/env_shapes.py; the engine test holds it to Compose) ----


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_each_shape_reads_as_compose_reads_it(shape: Shape) -> None:
    assert parse_env(text_of(shape.data("v1"))) == shape.read_values("v1")


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_each_shape_masked_shows_its_keys_and_none_of_its_values(shape: Shape) -> None:
    masked = mask(".env", text_of(shape.data("v1")))
    for key in shape.values:
        assert key in masked
    for value in secrets_of("v1"):
        assert value not in masked, f"{value!r} shown in {masked!r}"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_each_shape_a_new_value_of_every_key_is_a_change(shape: Shape) -> None:
    changed = env_changes(text_of(shape.data("v1")), text_of(shape.data("v2"))).changed
    written = shape.raw or shape.values  # a reference to a changed key is written the same
    assert set(changed) == {k for k, v in written.items() if "{v}" in v}


def test_a_bom_first_key_is_masked_and_its_change_seen() -> None:
    """Notepad and PowerShell write a BOM first: the first key is still a key (the leak of
    issue 29: it was shown as `\\ufeffDB_PASSWORD=hunter2-first`)."""
    for newline in ("\n", "\r\n"):
        old = codecs.BOM_UTF8 + f"DB_PASSWORD=hunter2-first{newline}B=x{newline}".encode()
        new = old.replace(b"hunter2-first", b"hunter3-first")
        assert mask(".env", text_of(old)) == "DB_PASSWORD=***\nB=***\n"
        assert env_changes(text_of(old), text_of(new)).changed == ("DB_PASSWORD",)


def test_utf16_env_is_read_and_masked_not_shown() -> None:
    """Compose refuses a UTF-16 `.env`; cfgroll still never shows its values."""
    data = "DB_PASSWORD=hunter2-utf16\nB=bee-value\n".encode("utf-16")
    assert parse_env(text_of(data)) == {"DB_PASSWORD": "hunter2-utf16", "B": "bee-value"}
    assert "hunter2" not in mask(".env", text_of(data))


def test_a_line_that_cannot_be_read_is_masked_whole() -> None:
    masked = mask_env("GOOD=1\nthis is no statement s3cr3t\n")
    assert "s3cr3t" not in masked and masked.startswith("GOOD=***\n***")


def test_unquoted_value_loses_its_inline_comment() -> None:
    assert parse_env("A=value # comment\nB=va#lue\n") == {"A": "value", "B": "va#lue"}


def test_escaped_quote_does_not_end_a_multi_line_value() -> None:
    text = 'A="one\\"\nSECRET_LINE=two"\nB=3\n'
    assert parse_env(text) == {"A": 'one"\nSECRET_LINE=two', "B": "3"}
    assert "two" not in mask_env(text)


def test_secret_values_hold_every_value_and_each_line_of_a_multi_line_one() -> None:
    files = {shape.name + ".env": FileData(shape.data("v1")) for shape in SHAPES}
    values = set(secret_values(files, {}))
    for shape in SHAPES:
        for value in shape.read_values("v1").values():
            assert value in values
    assert {"ml1-v1", "ml2-v1"} <= values
    excerpt = "container says ml2-v1 and hunter2-first-v1"
    assert redact(excerpt, values) == "container says *** and ***"


def test_values_are_redacted_as_written_too() -> None:
    """`cat .env` in a hook shows values in their quotes and escapes."""
    text = "DQ_PW=\"dq\\\"v1\\n-pw\" # note\nSQ='it\\'s-v1'\n"
    values = set(secret_values({".env": FileData(text.encode())}, {}))
    assert redact(text, values) == "DQ_PW=\"***\" # note\nSQ='***'\n"


def test_which_files_are_env_style() -> None:
    assert is_env("settings", "env") and is_env("a/b/.env") and is_env("a/b/prod.env")
    assert not is_env(".env", "secret") and not is_env("compose.yaml", "compose")
    assert not is_env("a.env/compose.yaml") and not is_env("x.envy")


def test_masked_text_keeps_every_other_line_as_it_was() -> None:
    """Comments, blank lines (before and between statements), a bare `KEY`, `export`, the
    spacing around `=`; CRLF becomes LF; the last newline only where there was one."""
    text = "# top\r\n\r\nA=1\r\n\r\n\r\n  export B = two words # c\r\nBARE\r\n# end"
    assert mask_env(text) == "# top\n\nA=***\n\n\n  export B = ***\nBARE\n# end"
    assert mask_env("A='x'\n") == "A=***\n" and mask_env("") == ""


def test_compose_masking_keeps_lines_and_the_last_newline() -> None:
    assert mask_compose("a: 1\n  DB_PASSWORD: x\n") == "a: 1\n  DB_PASSWORD: ***\n"
    assert mask_compose("TOKEN=x") == "TOKEN=***"


def test_undecodable_bytes_are_replaced_not_raised() -> None:
    assert text_of(b"A=\xff\n") == "A=\ufffd\n"
    assert text_of(codecs.BOM_UTF16_LE + "A=\ud800".encode("utf-16-le", "surrogatepass")) == (
        "A=\ufffd"
    )


def test_what_is_shown_as_text() -> None:
    assert shown_as_text(FileData(b"\0binary", "link"))  # a link's target
    assert shown_as_text(FileData("A=1\n".encode("utf-16")))
    assert not shown_as_text(FileData(b"\0binary"))
    assert not shown_as_text(FileData(b"\xff\xfe\0\0"[:1] + b"\0\0"))


def test_secrets_files_count_whole_and_line_by_line() -> None:
    files = {".env": FileData(b"K=value-k\n"), "db.txt": FileData(b"line-one\nline-two\n")}
    values = secret_values(files, {"db.txt": "secret"})
    assert {"line-one\nline-two", "line-one", "line-two", "value-k"} <= set(values)


def test_redaction_takes_the_longest_value_first_and_values_of_four_characters() -> None:
    values = ["abcd", "abcdefgh", "'quoted'", "abc"]
    assert redact("abcdefgh abcd quoted abc", values) == "*** *** *** abc"


def test_env_changes_are_true_when_anything_changed() -> None:
    assert not env_changes("A=1\n", "A=1\n")
    assert env_changes("A=1\n", "A=1\nB=2\n") and env_changes("A=1\n", "")
    assert env_changes("A=1\n", "A=2\n")


def test_a_secrets_file_is_never_shown() -> None:
    assert mask("db.txt", "s3cret", "secret") == (
        "*** (a secrets: file; its content is shown only with --show-secrets)\n"
    )
