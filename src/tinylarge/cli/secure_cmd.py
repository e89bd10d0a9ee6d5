"""``tinylarge keys new | bundle sign | bundle verify``: Ed25519 keys and signed model bundles.

Each command parses its options and calls one function of ``tinylarge.secure``. ``bundle verify``
exits 0 when the bundle is accepted, 1 when it is refused (the reason is in the output) and 2 on
bad usage (a missing file, a key that is not Ed25519), like every other command.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import click
import typer

from tinylarge.cli.output import JSON_OPTION, console, emit_json, table
from tinylarge.cli.params import DEVICE, OUT_FILE, TFLITE, out_option

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)

keys_app = typer.Typer(help="Ed25519 signing keys for model bundles.", no_args_is_help=True)
bundle_app = typer.Typer(help="Signed model bundles (zip: .tflite, C, manifest, signature).")
bundle_app.info.no_args_is_help = True


@keys_app.command("new")
def keys_new(
    directory: Path = typer.Argument(
        ...,
        click_type=click.Path(file_okay=False, path_type=Path),
        help="Folder to write DIR/private.pem (mode 600) and DIR/public.pem into.",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing private key."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Create an Ed25519 key pair for signing bundles (keep private.pem off the devices)."""
    from tinylarge.secure.keys import key_id, load_public_key, new_keypair

    private_path, public_path = new_keypair(directory, overwrite=force)
    kid = key_id(load_public_key(public_path))
    out = {"private_key": str(private_path), "public_key": str(public_path), "key_id": kid}
    if json_out:
        emit_json(out)
    else:
        console.print(f"key {kid}: {private_path} (secret), {public_path} (give to devices)")


def _c_files(c_dir: Path | None) -> dict[str, bytes]:
    from tinylarge.errors import TinylargeError

    if c_dir is None:
        return {}
    if not c_dir.is_dir():
        raise TinylargeError(f"--c directory {str(c_dir)!r} does not exist")
    files = {
        f"c/{p.relative_to(c_dir).as_posix()}": p.read_bytes()
        for p in sorted(c_dir.rglob("*"))
        if p.is_file()
    }
    if not files:
        raise TinylargeError(f"--c directory {str(c_dir)!r} holds no files")
    return files


@bundle_app.command("sign")
def bundle_sign(
    model: Path = typer.Argument(..., click_type=TFLITE, help="The int8 .tflite to ship."),
    key: Path = typer.Option(
        ..., "--key", click_type=EXISTING_FILE, help="private.pem from `tinylarge keys new`."
    ),
    version: int = typer.Option(..., "--version", min=0, help="Model version."),
    target: str = typer.Option(
        ..., "--target", click_type=DEVICE, help="Device catalog name the model is for."
    ),
    out: Path = out_option(..., "Bundle file to write (.zip).", OUT_FILE),
    security_counter: int | None = typer.Option(
        None, "--security-counter", min=0, help="Anti-rollback counter (default: --version)."
    ),
    c_dir: Path | None = typer.Option(
        None,
        "--c",
        click_type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Add the generated C from this folder (default: none).",
    ),  # fmt: skip
    new_key: list[Path] = typer.Option(
        [],
        "--new-key",
        click_type=EXISTING_FILE,
        help="public.pem to introduce to the devices (key rotation; repeatable; default: none).",
    ),  # fmt: skip
    retire_key: list[str] = typer.Option(
        [], "--retire-key", help="Key id to retire (repeatable; default: none)."
    ),
    json_out: bool = JSON_OPTION,
) -> None:
    """Sign MODEL.tflite into one bundle: manifest (sha256 of every file, version, counter,
    target, time, key id) + Ed25519 signature."""
    from tinylarge.secure.bundle import save_bundle, sign_bundle, verify_bundle
    from tinylarge.secure.keys import key_id, load_private_key, load_public_key

    private = load_private_key(key)
    data = sign_bundle(
        model.read_bytes(),
        private,
        version=version,
        target=target,
        security_counter=security_counter,
        extra_files=_c_files(c_dir),
        new_keys=[load_public_key(p) for p in new_key],
        retired_keys=retire_key,
    )
    kid = key_id(private.public_key())
    manifest = verify_bundle(data, {kid: private.public_key()}).manifest  # self-check
    save_bundle(out, data)
    result = {
        "bundle": str(out),
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "version": manifest.version,
        "security_counter": manifest.security_counter,
        "target": manifest.target,
        "key_id": kid,
        "files": sorted(manifest.files),
    }
    if json_out:
        emit_json(result)
    else:
        console.print(
            table(f"bundle {out}", ["name", "value"], [[k, v] for k, v in result.items()])
        )


@bundle_app.command("verify")
def bundle_verify(
    bundle: Path = typer.Argument(..., click_type=EXISTING_FILE, help="Bundle .zip to check."),
    public_key: list[Path] = typer.Option(
        ..., "--public-key", click_type=EXISTING_FILE, help="Trusted public.pem (repeatable)."
    ),
    target: str | None = typer.Option(
        None,
        "--target",
        click_type=DEVICE,
        help="Refuse bundles for other devices (default: any target).",
    ),  # fmt: skip
    installed_version: int | None = typer.Option(
        None,
        "--installed-version",
        min=0,
        help="Installed security counter; refuse lower ones (default: none installed).",
    ),  # fmt: skip
    json_out: bool = JSON_OPTION,
) -> None:
    """Check a bundle as a device would. Exit 0 accepted, 1 refused (reason given), 2 bad usage."""
    from tinylarge.secure.bundle import BundleError, verify_bundle
    from tinylarge.secure.keys import key_id, load_public_key

    trusted = {key_id(k): k for k in (load_public_key(p) for p in public_key)}
    data = bundle.read_bytes()
    result: dict = {"ok": True, "reason": None, "detail": None, "version": None}
    try:
        verified = verify_bundle(data, trusted, target=target, installed_counter=installed_version)
        m = verified.manifest
        result.update(
            version=m.version,
            security_counter=m.security_counter,
            target=m.target,
            key_id=m.key_id,
            files=sorted(m.files),
        )
    except BundleError as exc:
        result.update(ok=False, reason=exc.reason.value, detail=exc.detail)
    if json_out:
        emit_json(result)
    elif result["ok"]:
        console.print(f"accepted: version {result['version']} for {result['target']}")
    else:
        console.print(f"[bold red]refused ({result['reason']}):[/] {result['detail']}")
    raise typer.Exit(code=0 if result["ok"] else 1)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(bundle_app, name="bundle")
