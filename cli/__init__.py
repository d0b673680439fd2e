"""cfgroll's command line: a thin typer layer over the core (one module per command)."""
