"""Every command refuses every bad value the same way: exit status 2, one line on stderr that names
the value, no traceback, nothing written, and before any work starts.

The commands are enumerated from the app and the bad values generated from each parameter's own
declaration (click ranges, enum choices, registry names, model files, paths), so a new command or
option is covered without touching this file. Tripwires on loading data, checkpoints and TFLM
prove the refusal comes first: they fail the test if a command got that far.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from tinylarge.cli.main import app
from tinylarge.cli.params import CommaList, ModelFile, Name, Url

FIXTURES = Path(__file__).resolve().parent.parent / "large" / "fixtures"
GOOD_FILES = {
    "checkpoint": FIXTURES / "digits_resnet.pt",
    "tflite": FIXTURES / "digits_cnn_int8.tflite",
}
ROOT = typer.main.get_command(app)


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    """Every leaf command by its path ("cascade", "bundle sign"), groups descended into."""
    found = {}
    for name in group.list_commands(click.Context(group)):
        cmd = group.get_command(click.Context(group), name)
        if isinstance(cmd, click.Group):
            found |= _commands(cmd, f"{prefix}{name} ")
        else:
            found[f"{prefix}{name}"] = cmd
    return found


COMMANDS = _commands(ROOT)

# One meaning per short flag, on every command.
SHORT_FLAGS = {
    "-d": "--dataset",
    "-o": "--out",
    "-s": "--scenario",
    "-T": "--temperature",
    "-k": "--exit-after",
}


SCRATCH = "{scratch}"  # each case's scratch folder: non-model files, a plain file, outputs


def make_scratch(scratch: Path) -> None:
    scratch.mkdir()
    (scratch / "notes.pt").write_text("not a model\n")
    (scratch / "notes.tflite").write_text("not a model\n")
    (scratch / "a-file").write_text("")


def bad_values(param: click.Parameter) -> list[str]:
    """Values that ``param``'s declaration rules out."""
    kind = param.type.item if isinstance(param.type, CommaList) else param.type
    if isinstance(kind, (click.IntRange, click.FloatRange)):
        number = int if isinstance(kind, click.IntRange) else float
        values = ["many"]
        if kind.min is not None:
            values.append(str(number(kind.min if kind.min_open else kind.min - 1)))
        if kind.max is not None:
            values.append(str(number(kind.max if kind.max_open else kind.max + 1)))
        return values
    if kind in (click.INT, click.FLOAT):
        return ["many"]
    if isinstance(kind, click.Choice):
        return ["no-such-choice"]
    if isinstance(kind, Name):
        return ["no-such-" + kind.kind.replace(" ", "-")]
    if isinstance(kind, Url):
        return ["127.0.0.1:8000", "ftp://example.org"]
    if isinstance(kind, ModelFile):
        suffix = "pt" if kind.kind == "checkpoint" else "tflite"
        return [f"{SCRATCH}/missing.{suffix}", f"{SCRATCH}/notes.{suffix}"]
    if isinstance(kind, click.Path):
        values = [f"{SCRATCH}/missing"] if kind.exists else []
        values += [] if kind.file_okay else [f"{SCRATCH}/a-file"]
        return values + ([] if kind.dir_okay else [SCRATCH])
    return []


def good_value(param: click.Parameter) -> str:
    """A value that passes ``param``'s declaration (for required parameters)."""
    if isinstance(param.type, ModelFile):
        return str(GOOD_FILES[param.type.kind])
    if isinstance(param.type, click.Path):
        if param.type.exists:
            return f"{SCRATCH}/a-file" if param.type.file_okay else SCRATCH
        return f"{SCRATCH}/output"
    if isinstance(param.type, Name):
        return param.type.valid()[0]
    if isinstance(param.type, click.types.IntParamType):
        return "1"
    return "dev-1"


def command_line(command: str, bad: click.Parameter, value: str) -> list[str]:
    """``command`` with valid required parameters and ``bad`` set to ``value``."""
    options, arguments = [], []
    for param in COMMANDS[command].params:
        if param is not bad and not param.required:
            continue
        text = value if param is bad else good_value(param)
        if isinstance(param, click.Argument):
            arguments.append(text)
        else:
            options += [max(param.opts, key=len), text]
    return [*command.split(), *options, *arguments]


def cases():
    for command, cmd in COMMANDS.items():
        for param in cmd.params:
            for value in bad_values(param):
                label = value.replace(SCRATCH + "/", "").replace(SCRATCH, "scratch-dir")
                yield pytest.param(command, param.name, value, id=f"{command}-{param.name}-{label}")


@pytest.fixture
def tripwires(monkeypatch):
    """Fail the test if a command starts loading data, checkpoints or the TFLM interpreter."""
    import torch
    import uvicorn

    import tinylarge.data
    import tinylarge.data.registry
    import tinylarge.tiny.runtime

    def heavy(*args, **kwargs):
        raise AssertionError("a command started heavy work before refusing a bad value")

    monkeypatch.setattr(tinylarge.data, "load_dataset", heavy)
    monkeypatch.setattr(tinylarge.data.registry, "load_dataset", heavy)
    monkeypatch.setattr(torch, "load", heavy)
    monkeypatch.setattr(uvicorn, "run", heavy)
    monkeypatch.setattr(tinylarge.tiny.runtime.TflmRuntime, "__init__", heavy)


@pytest.mark.parametrize(("command", "name", "value"), list(cases()))
def test_a_bad_value_is_one_line_exit_2_and_nothing_written(
    command, name, value, tmp_path, monkeypatch, tripwires
):
    scratch, cwd = tmp_path / "scratch", tmp_path / "cwd"
    make_scratch(scratch)
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # runs/ and any relative output would land here
    param = next(p for p in COMMANDS[command].params if p.name == name)
    args = [a.replace(SCRATCH, str(scratch)) for a in command_line(command, param, value)]
    value = value.replace(SCRATCH, str(scratch))
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 2, (args, out.output, out.exception)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and value in lines[0], (args, out.stderr)
    # a group's subcommand may be named by its group only ("tinylarge bundle: ...")
    assert lines[0].startswith(f"error: tinylarge {command.split()[0]}"), lines[0]
    assert "Traceback" not in out.output and out.stdout == ""
    assert list(cwd.iterdir()) == [] and not (scratch / "output").exists()


def test_every_command_is_covered():
    assert set(COMMANDS) >= {"cascade", "split", "early-exit", "distill", "quantize", "serve"}
    covered = {case.values[0] for case in cases()}
    no_bad_value = {
        "datasets",
        "devices",
        "token",
        "keys new",
        "scenarios",
    }  # nothing to get wrong but files
    assert covered | no_bad_value >= set(COMMANDS)


def test_short_flags_mean_one_thing_everywhere():
    for command, cmd in COMMANDS.items():
        for param in cmd.params:
            shorts = [o for o in param.opts if len(o) == 2]
            for short in shorts:
                assert short in SHORT_FLAGS, f"{command}: {short} is not in the table"
                assert SHORT_FLAGS[short] in param.opts, f"{command}: {short} is not {param.opts}"
            for short, long in SHORT_FLAGS.items():
                if long in param.opts:
                    assert short in param.opts, f"{command} {long} lacks {short}"


def test_help_explains_every_option_and_its_default():
    """Each option says what it is; one without a default says what leaving it out means."""
    unexplained = []
    for command, cmd in COMMANDS.items():
        assert cmd.help, command
        for param in cmd.params:
            text = getattr(param, "help", None) or ""
            optional = isinstance(param, click.Option) and not param.required
            if not text or (optional and param.default is None and "default" not in text.lower()):
                unexplained.append(f"{command} {param.name}: {text!r}")
    assert unexplained == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cascade", "T", "S", "--max-drop", "1.5"], "'--max-drop': 1.5 is not in the range"),
        (["cascade", "T", "S", "--offload-budget", "2"], "2.0 is not in the range 0.0<=x<=1.0"),
        (["early-exit", "M", "--max-drop", "2"], "'--max-drop': 2.0 is not in the range"),
        (["split", "M", "--n-eval", "-1"], "'--n-eval': -1 is not in the range x>=0"),
        (["split", "M", "--server", "toaster"], "unknown device 'toaster'; valid: a100,"),
    ],
)
def test_the_installed_command_refuses_before_loading_anything(args, message, tmp_path):
    """Spot checks in a real process: `tinylarge cascade T.pt S.tflite --max-drop 1.5` used to
    print a pydantic traceback and exit 0; an unknown device failed after the heavy work."""
    files = {
        "T": GOOD_FILES["checkpoint"],
        "S": GOOD_FILES["tflite"],
        "M": GOOD_FILES["checkpoint"],
    }
    args = [str(files.get(a, a)) for a in args]
    out = subprocess.run(
        [sys.executable, "-m", "tinylarge.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    assert out.stdout == "" and list(tmp_path.iterdir()) == []
