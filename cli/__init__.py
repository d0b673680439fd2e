"""cfgroll's command line: a thin typer layer over `cfgroll.ops` (one module per command)."""
