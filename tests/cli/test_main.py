"""The root command: user errors of every kind become one line naming the option, value and what is
valid; bugs still raise; commands load on demand; failed runs leave nothing behind."""

import json
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from tinylarge.cli.main import COMMANDS, app, reflow, user_error
from tinylarge.errors import UnknownNameError
from tinylarge.integrate.cascade import CascadeConfig

FIXTURES = Path(__file__).resolve().parent.parent / "large" / "fixtures"
ROOT = typer.main.get_command(app)


def command_with(option: str, name: str) -> click.Command:
    return click.Command("cascade", params=[click.Option([option, name])])


def validation_error(**fields):
    with pytest.raises(Exception) as info:
        CascadeConfig(**fields)
    return info.value


def test_a_validation_error_names_the_option_the_field_came_from():
    exc = validation_error(max_accuracy_drop=1.5)
    message = user_error(exc, command_with("--max-drop", "max_accuracy_drop"))
    assert message == "invalid --max-drop 1.5: Input should be less than or equal to 1"
    assert user_error(exc, None).startswith("invalid max_accuracy_drop 1.5:")  # no option: field


def test_a_check_across_fields_names_the_config():
    exc = validation_error(max_accuracy_drop=None, offload_budget=None)
    assert user_error(exc, None) == "invalid CascadeConfig: set max_accuracy_drop or offload_budget"


def test_library_and_file_errors_are_user_errors_and_bugs_are_not():
    assert user_error(UnknownNameError("gate", "vibes", ["margin"]), None) == (
        "unknown gate 'vibes'; valid: margin"
    )
    missing = FileNotFoundError(2, "No such file or directory", "/x/model.pt")
    assert user_error(missing, None) == "cannot use '/x/model.pt': No such file or directory"
    assert user_error(ValueError("a bug"), None) is None
    assert user_error(ZeroDivisionError(), None) is None


def test_every_listed_command_is_declared_by_its_module():
    ctx = click.Context(ROOT)
    for name, module in COMMANDS.items():
        command = ROOT.get_command(ctx, name)
        assert command is not None
        leaves = command.commands.values() if isinstance(command, click.Group) else [command]
        assert {leaf.callback.__module__ for leaf in leaves} == {f"tinylarge.cli.{module}"}
    assert ROOT.get_command(ctx, "no-such-command") is None


def test_unknown_command_and_missing_argument_are_one_line():
    runner = CliRunner()
    out = runner.invoke(app, ["quantise"])
    assert out.exit_code == 2 and out.stderr == "error: tinylarge: No such command 'quantise'.\n"
    out = runner.invoke(app, ["profile"])
    assert out.exit_code == 2
    assert out.stderr == "error: tinylarge profile: Missing argument 'MODEL'.\n"


def test_commands_that_produce_results_write_run_folders():
    ctx = click.Context(ROOT)
    experiments = ("demo", "distill", "transfer", "label", "search", "cascade", "split")
    for name in (*experiments, "early-exit", "fleet"):
        assert "runs_dir" in {p.name for p in ROOT.get_command(ctx, name).params}, name


def test_a_run_that_fails_leaves_no_folder_and_latest_where_it_was(tmp_path):
    """The teacher and student expect 8x8 digits; mnist5k's 28x28 images fail inside the run."""
    runner = CliRunner()
    models = [str(FIXTURES / "digits_resnet.pt"), str(FIXTURES / "digits_cnn_int8.tflite")]
    runs = tmp_path / "runs"
    good = runner.invoke(app, ["cascade", *models, "--runs-dir", str(runs), "--json"])
    assert good.exit_code == 0, good.output
    payload = json.loads(good.stdout)
    run_dir = Path(payload["run_dir"])
    assert json.loads((run_dir / "metrics.json").read_text()) == payload
    assert (run_dir / "plots" / "cascade.png").is_file()
    assert (runs / "latest").resolve() == run_dir.resolve()

    bad = runner.invoke(app, ["cascade", *models, "-d", "mnist5k", "--runs-dir", str(runs)])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: tinylarge cascade: input shape (")
    assert bad.stderr.count("\n") == 1
    assert sorted(p.name for p in runs.iterdir()) == [run_dir.name, "latest"]
    assert (runs / "latest").resolve() == run_dir.resolve()


def test_reflow_joins_docstring_paragraph_lines_but_keeps_lists() -> None:
    text = """First line.

    A paragraph wrapped
    at the docstring's width.

    Steps:
    - one
    - two
    """
    assert reflow(text) == (
        "First line.\n\nA paragraph wrapped at the docstring's width.\n\nSteps:\n- one\n- two"
    )


def test_command_help_has_no_hard_wrapped_paragraphs() -> None:
    result = CliRunner().invoke(app, ["demo", "--help"], terminal_width=200)
    assert result.exit_code == 0
    # the docstring wraps after "the student"; reflowed help keeps the sentence on one line
    assert "quantizes the student to int8" in result.output
