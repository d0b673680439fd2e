"""Reading the store: the log, a release, a diff, and how the project drifted (status)."""
