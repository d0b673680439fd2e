"""`.env` files of every shape Compose reads, with the values Compose gives their keys.

One table for two tests: the engine-free one holds cfgroll's reading of each shape to these
values, the engine one holds these values to `docker compose config` (Compose is the oracle)
and checks that no cfgroll output shows any of them. Keys are unique across shapes, so that
all of them can be one service's `env_file:` list. `{v}` is the version of the values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    name: str
    text: str  # with `{v}` where a version goes; written as UTF-8 (a BOM is in the text)
    values: dict[str, str]  # as Compose reads them, `{v}` likewise
    raw: dict[str, str] | None = None  # cfgroll's reading where Compose interpolates

    def data(self, v: str) -> bytes:
        return self.text.replace("{v}", v).encode()

    def compose_values(self, v: str) -> dict[str, str]:
        return _versioned(self.values, v)

    def read_values(self, v: str) -> dict[str, str]:
        return _versioned(self.raw or self.values, v)


def _versioned(values: dict[str, str], v: str) -> dict[str, str]:
    return {k: val.replace("{v}", v) for k, val in values.items()}


SHAPES = [
    Shape("bom+crlf", "\ufeffBOM_PASSWORD=hunter2-bom-{v}\r\nBOM_B='bom b {v}'\r\n",
          {"BOM_PASSWORD": "hunter2-bom-{v}", "BOM_B": "bom b {v}"}),
    Shape("bom", "\ufeffFIRST_PASSWORD=hunter2-first-{v}\nSECOND=second-{v}\n",
          {"FIRST_PASSWORD": "hunter2-first-{v}", "SECOND": "second-{v}"}),
    Shape("export", "export EXP_PW=exp-{v}-pw\nexport  EXP_B = expb-{v} \n",
          {"EXP_PW": "exp-{v}-pw", "EXP_B": "expb-{v}"}),
    Shape("single quotes", "SQ_PW='sq\\'{v}-pw'\nSQ_HASH='x#{v}y'\n",
          {"SQ_PW": "sq'{v}-pw", "SQ_HASH": "x#{v}y"}),
    Shape("double quotes", 'DQ_PW="dq\\"{v}\\n-pw"\nDQ_TAB="t\\tb{v}\\\\c"\n',
          {"DQ_PW": 'dq"{v}\n-pw', "DQ_TAB": "t\tb{v}\\c"}),
    Shape("inline comments", "CMT_PW=cmt-{v}-pw # a comment\nCMT_HASH=h{v}#kept\n"
          "CMT_Q='q{v}q' # c\n",
          {"CMT_PW": "cmt-{v}-pw", "CMT_HASH": "h{v}#kept", "CMT_Q": "q{v}q"}),
    Shape("multi-line", 'ML_PW="ml1-{v}\nml2-{v}"\nML_SQ=\'s1-{v}\ns2-{v}\'\n',
          {"ML_PW": "ml1-{v}\nml2-{v}", "ML_SQ": "s1-{v}\ns2-{v}"}),
    Shape("multi-line, escaped quote", 'MLESC_PW="e1-{v}\\"\n# e2-{v}"\nMLESC_B=after-{v}\n',
          {"MLESC_PW": 'e1-{v}"\n# e2-{v}', "MLESC_B": "after-{v}"}),
    Shape("yaml colon", "COL_PW: col-{v}-pw\nCOL_B : colb-{v}\n",
          {"COL_PW": "col-{v}-pw", "COL_B": "colb-{v}"}),
    Shape("tabs", "TAB_PW=\ttab-{v}-pw\t\nTAB_B\t=\ttabb-{v}\n",
          {"TAB_PW": "tab-{v}-pw", "TAB_B": "tabb-{v}"}),
    Shape("dotted key", "DOT.PW=dot-{v}-pw\n", {"DOT.PW": "dot-{v}-pw"}),
    Shape("empty values", "EMPTY_Q=\"\"\nEMPTY_S=''\nEMPTY_B=\nAFTER_PW=after-{v}-pw\n",
          {"EMPTY_Q": "", "EMPTY_S": "", "EMPTY_B": "", "AFTER_PW": "after-{v}-pw"}),
    Shape("comments and blank lines", "# head {v}\n\n  # indented\nBLANK_PW=blank-{v}-pw\n\n",
          {"BLANK_PW": "blank-{v}-pw"}),
    Shape("interpolation", "INT_PW=int-{v}-pw\nINT_B=${INT_PW}-tail\nINT_C=$INT_PW-c\n",
          {"INT_PW": "int-{v}-pw", "INT_B": "int-{v}-pw-tail", "INT_C": "int-{v}-pw-c"},
          raw={"INT_PW": "int-{v}-pw", "INT_B": "${INT_PW}-tail", "INT_C": "$INT_PW-c"}),
]  # fmt: skip


def secrets_of(*versions: str) -> set[str]:
    """Every value (at least 4 characters: shorter ones are never redacted) and every line
    of a multi-line value, for these versions: what no output may contain."""
    found = set()
    for v in versions:
        for shape in SHAPES:
            for value in shape.compose_values(v).values():
                found |= {value, *value.splitlines()}
    return {s for s in found if len(s) >= 4 and any(v in s for v in versions)}
