"""cfgroll: a git-backed versioned config store for Docker Compose deployments."""

__version__ = "0.1.0"
