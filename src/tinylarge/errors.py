"""User-facing errors: each names the bad value and, where there is a closed set, the valid ones."""

from __future__ import annotations

from collections.abc import Iterable


class TinylargeError(Exception):
    """Base of the errors a user can cause and fix (bad name, bad file, bad budget)."""


class UnknownNameError(TinylargeError, KeyError):
    """A name looked up in a registry (dataset, model, device, op, band) that does not exist."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid: {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]
