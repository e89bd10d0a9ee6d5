"""Assembles the ``tinylarge`` command from one module per concern, and is the one place where a
user's mistake becomes one line on stderr and exit status 2 (never a traceback)."""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Iterable
from functools import cache
from importlib import import_module
from typing import Any

import click
import typer
from typer.core import TyperGroup

from tinylarge import __version__

# Idle OpenMP threads spin by default; on a shared 2-core machine that made 2-thread training 5-10x
# slower than 1 thread. Passive waiting costs nothing measurable when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# module (``tinylarge.cli.<module>``) -> the commands its register(app) declares. A module is
# imported only when one of its commands runs (or for --help): option defaults come from config
# classes, and those pull in torch.
MODULES = {
    "data_cmd": ("datasets",),
    "tiny_cmd": ("devices", "profile"),
    "demo_cmd": ("demo", "run", "scenarios"),
    "quantize_cmd": ("quantize",),
    "codegen_cmd": ("codegen",),
    "integrate_cmd": ("distill", "transfer", "label", "search"),
    "offload_cmd": ("cascade", "split", "early-exit"),
    "large_cmd": ("serve", "token", "device", "fleet"),
    "simulate_cmd": ("simulate",),
    "federate_cmd": ("federate",),
    "secure_cmd": ("keys", "bundle"),
    "intent_cmd": ("intent",),
    "robust_cmd": ("robust",),
}
COMMANDS = {command: module for module, commands in MODULES.items() for command in commands}


class UserError(click.ClickException):
    exit_code = 2


class Root(TyperGroup):
    """Loads each command's module on demand; prints every user error as one line, exit 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return _module_commands(COMMANDS[name]).get(name) if name in COMMANDS else None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:  # click's own exceptions are no user_error: they pass
            name = ctx.invoked_subcommand or ""
            message = user_error(exc, self.get_command(ctx, name))
            if message is None:
                raise
            raise UserError(f"{ctx.command_path} {name}: {message}") from None

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as exc:
            if not standalone_mode:
                raise
            where = f"{exc.ctx.command_path}: " if getattr(exc, "ctx", None) else ""
            message = " ".join(exc.format_message().split())  # one line, whatever click wrote
            if message:  # empty: `tinylarge` alone, which printed the help
                click.echo(f"error: {where}{message}", err=True)
            sys.exit(exc.exit_code)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


@cache
def _module_commands(module: str) -> dict[str, click.Command]:
    sub = typer.Typer()
    import_module(f"tinylarge.cli.{module}").register(sub)
    commands = typer.main.get_group(sub).commands
    _restore_argument_help(sub, commands)
    _reflow_help(commands.values())
    return commands


def reflow(text: str) -> str:
    """Docstring paragraphs joined into single lines (typer's rich help keeps a docstring's hard
    line breaks after the first paragraph and then wraps again, leaving ragged half-lines); lines
    of a list (``- ``, ``* ``, ``1. ``) and indented lines keep their breaks."""
    out = []
    for para in inspect.cleandoc(text).split("\n\n"):
        lines = para.splitlines()
        keep = any(re.match(r"\s|[-*] |\d+\. |\x08", line) for line in lines[1:])
        out.append(para if keep else " ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def _reflow_help(commands: Iterable[click.Command]) -> None:
    for command in commands:
        if command.help:
            command.help = reflow(command.help)
        if isinstance(command, click.Group):
            _reflow_help(command.commands.values())


def _restore_argument_help(sub: typer.Typer, commands: dict[str, click.Command]) -> None:
    """typer 0.20 on click >= 8.3 loses arguments' help: put it back, in sub-groups too."""
    for info in sub.registered_commands:
        declared = inspect.signature(info.callback).parameters
        for param in commands[info.name or info.callback.__name__].params:
            if isinstance(param, click.Argument) and param.help is None:
                param.help = getattr(declared[param.name].default, "help", None)
    for group in sub.registered_groups:
        _restore_argument_help(group.typer_instance, commands[group.name].commands)


def user_error(exc: Exception, command: click.Command | None) -> str | None:
    """The one-line message for an error the user caused (``None``: a bug, let it raise):
    ``TinylargeError``, a pydantic ``ValidationError`` (naming the option of the field), or a
    file that cannot be read or written."""
    from pydantic import ValidationError

    from tinylarge.errors import TinylargeError

    if isinstance(exc, TinylargeError):
        return str(exc)
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)):
        return f"cannot use {exc.filename!r}: {exc.strerror}"
    if not isinstance(exc, ValidationError):
        return None
    error = exc.errors()[0]
    reason = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:  # a check across fields
        return f"invalid {exc.title}: {reason}"
    options = {p.name: max(p.opts, key=len) for p in command.params} if command else {}
    names = [str(part) for part in error["loc"]]
    where = next((options[n] for n in reversed(names) if n in options), ".".join(names))
    return f"invalid {where} {error['input']!r}: {reason}"


app = typer.Typer(
    name="tinylarge",
    cls=Root,
    help=(
        "TinyML on microcontrollers and LargeML on servers as one system over 6G.\n\n"
        "Every command takes --json: exactly one JSON object on stdout; tables, logs and progress "
        "bars go to stderr. A bad value is one line on stderr and exit status 2."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


def run() -> None:
    """Console-script entry point (also ``python -m tinylarge.cli``)."""
    app(prog_name="tinylarge")
