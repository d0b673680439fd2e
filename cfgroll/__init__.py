"""cfgroll: a git-backed versioned config store and safe deploys for Docker Compose.

This package (the repository's `core/` folder) holds what cfgroll does: deploy, rollback,
checkout and the history views, written as transactions over the store (`cfgroll.store`) and
the engine (`cfgroll.engine`). Nothing here prints: progress goes to a `Reporter`, results come
back as values, failures are `CfgrollError`s. The command line is `cfgroll.cli`.
"""

__version__ = "0.1.0"
