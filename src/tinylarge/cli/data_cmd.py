"""``tinylarge datasets``: the bundled real datasets."""

from __future__ import annotations

import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, table


def datasets(json_out: bool = JSON_OPTION) -> None:
    """List the bundled real datasets: shapes, classes, sizes, source package and licence.

    Every dataset ships inside a pip package; nothing is downloaded at run time.
    """
    from tinylarge.data import list_datasets

    infos = list_datasets()
    rows = []
    for i in infos:
        rows.append(
            {
                "name": i.name,
                "kind": i.kind,
                "input_shape": list(i.input_shape),
                "n_classes": i.n_classes,
                "n_train": i.n_train,
                "n_test": i.n_test,
                "groups": i.has_groups,
                "source": i.source,
                "license": i.license,
                "description": i.description,
            }
        )
    if json_out:
        emit_json({"datasets": rows})
        return
    columns = ["name", "kind", "input (C,H,W)", "classes", "train", "test", "source", "licence"]
    body = [
        [
            r["name"],
            r["kind"],
            "x".join(map(str, r["input_shape"])),
            r["n_classes"],
            r["n_train"],
            r["n_test"],
            r["source"],
            r["license"],
        ]
        for r in rows
    ]
    console.print(table("bundled datasets", columns, body))


def register(app: typer.Typer) -> None:
    app.command("datasets")(datasets)
