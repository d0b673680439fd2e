"""The typer application: registers one module per command, nothing else."""

from __future__ import annotations

import typer

from cfgroll import __version__
from cfgroll.cli.backups import import_
from cfgroll.cli.checkout import checkout
from cfgroll.cli.deploy import deploy
from cfgroll.cli.diff import diff
from cfgroll.cli.doctor import doctor
from cfgroll.cli.init import init
from cfgroll.cli.log import log
from cfgroll.cli.prune import pin, prune, unpin
from cfgroll.cli.rollback import rollback
from cfgroll.cli.show import show
from cfgroll.cli.status import status
from cfgroll.cli.update import update

app = typer.Typer(
    name="cfgroll",
    help="Versioned config store and safe deploys for Docker Compose projects. Every deploy "
    "commits the compose files, .env and a services manifest to a bare git repository "
    "(.cfgroll/store.git) and tags the service images; `cfgroll rollback` puts any recorded "
    "release back.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cfgroll {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    pass


for command in (
    init,
    deploy,
    update,
    rollback,
    status,
    log,
    show,
    diff,
    checkout,
    prune,
    pin,
    unpin,
    doctor,
):
    app.command()(command)
app.command(name="import")(import_)
