"""``python -m tinylarge.cli``: the same command as the ``tinylarge`` script."""

from tinylarge.cli.main import run

run()
