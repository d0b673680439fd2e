"""The project on disk: which files make up the stack's configuration, reading them, and
writing them back. This package is the only code that walks the project folder.

- `locate`: the compose files and env files Compose reads, chosen as Compose chooses them;
- `resolve`: the recorded set, with each file's role, the services that use it, what is read
  but not recorded and why, checked against the limits;
- `read` / `write`: the files as they are now, and writing recorded files back.
"""

from cfgroll.project.disk import leftovers, read, write
from cfgroll.project.locate import locate
from cfgroll.project.recorded import MAX_FILE, MAX_FILES, MAX_TOTAL, ProjectFiles, resolve

__all__ = [
    "MAX_FILE",
    "MAX_FILES",
    "MAX_TOTAL",
    "leftovers",
    "ProjectFiles",
    "locate",
    "read",
    "resolve",
    "write",
]
