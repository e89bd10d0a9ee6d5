"""Assembles the ``tinylarge`` command from one module per concern; holds no logic of its own."""

from __future__ import annotations

import importlib
import os

import typer

from tinylarge import __version__

app = typer.Typer(
    name="tinylarge",
    help=(
        "TinyML on microcontrollers and LargeML on servers as one system over 6G.\n\n"
        "Every command takes --json: exactly one JSON object on stdout; tables, logs and progress "
        "bars go to stderr."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Idle OpenMP threads spin by default; on a shared 2-core machine that made 2-thread training 5-10x
# slower than 1 thread. Passive waiting costs nothing measurable when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Each module exposes register(app). Modules whose dependencies are missing are skipped rather than
# breaking every other command.
COMMAND_MODULES = (
    "data_cmd",
    "demo_cmd",
    "tiny_cmd",
    "codegen_cmd",
    "integrate_cmd",
    "offload_cmd",
    "large_cmd",
    "secure_cmd",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tinylarge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """TinyML + LargeML over 6G."""


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"tinylarge.cli.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"tinylarge.cli.{_name}":
            raise
        continue
    _module.register(app)


def run() -> None:
    """Console-script entry point."""
    app()
