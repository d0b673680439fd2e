"""The typer application: one module per command, imported and built only when needed.

Typer builds every registered command's parameters on each run (about 50 ms for all of them);
`build(command)` registers just the one being run, the whole set only for the top-level help,
completion and unknown names.
"""

from __future__ import annotations

import importlib

import typer

from cfgroll import __version__

# command name -> (module, function)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("cfgroll.cli.init", "init"),
    "deploy": ("cfgroll.cli.deploy", "deploy"),
    "update": ("cfgroll.cli.update", "update"),
    "rollback": ("cfgroll.cli.rollback", "rollback"),
    "status": ("cfgroll.cli.status", "status"),
    "log": ("cfgroll.cli.log", "log"),
    "show": ("cfgroll.cli.show", "show"),
    "diff": ("cfgroll.cli.diff", "diff"),
    "checkout": ("cfgroll.cli.checkout", "checkout"),
    "prune": ("cfgroll.cli.prune", "prune"),
    "pin": ("cfgroll.cli.prune", "pin"),
    "unpin": ("cfgroll.cli.prune", "unpin"),
    "doctor": ("cfgroll.cli.doctor", "doctor"),
    "import": ("cfgroll.cli.backups", "import_"),
    "mirror": ("cfgroll.cli.mirror", "mirror"),
    "push": ("cfgroll.cli.mirror", "push"),
    "clone": ("cfgroll.cli.clone", "clone"),
    "pull": ("cfgroll.cli.pull", "pull"),
    "watch": ("cfgroll.cli.pull", "watch"),
    "stats": ("cfgroll.cli.stats", "stats"),
    "report": ("cfgroll.cli.stats", "report"),
}

HELP = (
    "Versioned config store and safe deploys for Docker Compose projects. Every deploy "
    "commits the compose files, .env and a services manifest to a bare git repository "
    "(.cfgroll/store.git) and tags the service images; `cfgroll rollback` puts any recorded "
    "release back."
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cfgroll {__version__}")
        raise typer.Exit()


def _context(name: str | None) -> str | None:
    if name:
        from cfgroll.context import choose_engine

        choose_engine(name)
    return name


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    context: str = typer.Option(
        None,
        "--context",
        "-c",
        callback=_context,
        metavar="NAME",
        help="The docker context (engine) to use, as `docker --context NAME`; it wins over "
        "DOCKER_HOST and DOCKER_CONTEXT, and holds for Compose, the engine and the hooks.",
    ),
) -> None:
    pass


def build(command: str | None = None) -> typer.Typer:
    """The application with `command` only when it is one of `COMMANDS`, else with all."""
    app = typer.Typer(
        name="cfgroll",
        help=HELP,
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    chosen = [command] if command in COMMANDS else list(COMMANDS)
    for name in chosen:
        module, function = COMMANDS[name]
        app.command(name=name)(getattr(importlib.import_module(module), function))
    return app


def command_of(args: list[str]) -> str | None:
    """The command named on the command line (its first word that is neither an option nor
    the value of `--context`)."""
    for i, a in enumerate(args):
        if not a.startswith("-") and (i == 0 or args[i - 1] not in ("--context", "-c")):
            return a
    return None
