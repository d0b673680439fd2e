"""Reading the store: the log, a release, a diff, how the project drifted (status), what pull
follows, the stats and the report."""
