"""``tinylarge federate``: bad values are one line and exit 2 before Flower starts."""

import pytest
from typer.testing import CliRunner

from tinylarge.cli.main import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--partition", "dirichlet:0"], "unknown partition 'dirichlet:0'; valid: iid, dirichlet"),
        (["--partition", "shards"], "unknown partition 'shards'"),
        (["--framework", "sl", "--mu", "0.1"], "proximal_mu"),
        (["--clients", "3", "--holdout", "3"], "leaves no training client"),
        (["--clients", "3", "--clients-per-round", "4"], "exceeds the 3 training clients"),
        (
            [
                "--framework",
                "ftl",
                "-d",
                "japanese-vowels",
                "--partition",
                "group",
                "--clients",
                "30",
            ],
            "n_clients",
        ),
    ],
)
def test_bad_combinations_are_one_line_and_exit_2(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(app, ["federate", *args])
    assert out.exit_code == 2, out.output
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.output and list(tmp_path.iterdir()) == []


def test_help_names_every_framework():
    out = CliRunner().invoke(app, ["federate", "--help"])
    assert out.exit_code == 0
    for name in ("fedprox", "ftl", "fml", "fsl", "ffm", "network-aware", "deployment"):
        assert name in out.stdout
