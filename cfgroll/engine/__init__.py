"""The Docker side: `compose` runs the `docker compose` v2 CLI (the one subprocess helper),
`daemon` talks to the engine through the Docker SDK (the one module that imports it)."""
