"""The ``tinylarge`` command: ``main`` assembles the sub-commands, one module per concern."""
