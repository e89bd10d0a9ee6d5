"""A device's two model slots with MCUboot's test / confirm / revert, as a pure state machine.

MCUboot (``bootutil``) swaps a new image in "for test": if the application does not mark it
confirmed before the next reset, the bootloader swaps the old image back. Here:

- :meth:`UpdateSlots.stage` verifies a bundle (signature, hashes, target, security counter) and
  makes it the *trial* image; the confirmed image stays in the other slot, untouched.
- :meth:`confirm` makes the trial permanent: only then does the installed security counter rise
  and does a key rotation carried by the bundle take effect (a reverted trial changes neither).
- :meth:`revert` (a failed self-test or health check) or :meth:`tick` past the trial deadline
  (nobody confirmed in time) returns to the confirmed image.

Refused bundles change nothing: the device keeps running what it ran. Time is passed in (seconds,
any clock), so the same machine runs live in the agent and in a simulated fleet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tinylarge.errors import TinylargeError
from tinylarge.secure.bundle import (
    BundleError,
    Manifest,
    VerifiedBundle,
    rotate_keys,
    verify_bundle,
)


class SlotState(StrEnum):
    CONFIRMED = "confirmed"  # running the confirmed image
    TRIAL = "trial"  # running a staged image that must confirm before its deadline


@dataclass(frozen=True)
class Image:
    """One installed model: its authenticated manifest and its ``.tflite`` bytes."""

    manifest: Manifest
    model: bytes

    @property
    def version(self) -> int:
        return self.manifest.version


@dataclass(frozen=True)
class SlotEvent:
    """One step of the slot history: ``kind`` is refused / staged / confirmed / reverted."""

    at_s: float
    kind: str
    version: int | None
    detail: str = ""


@dataclass
class UpdateSlots:
    """Confirmed and trial slots for one device (see the module docstring).

    ``trusted`` maps key ids to Ed25519 keys; ``target`` is this device's name in manifests;
    ``trial_window_s`` is how long a trial image may run unconfirmed.
    """

    trusted: Mapping[str, Ed25519PublicKey]
    target: str
    confirmed: Image | None = None
    installed_counter: int = 0
    trial_window_s: float = 60.0
    trial: Image | None = None
    trial_deadline_s: float = 0.0
    events: list[SlotEvent] = field(default_factory=list)

    @property
    def state(self) -> SlotState:
        return SlotState.TRIAL if self.trial is not None else SlotState.CONFIRMED

    @property
    def running(self) -> Image | None:
        """The image the device runs now: the trial if there is one, else the confirmed one."""
        return self.trial if self.trial is not None else self.confirmed

    def stage(self, data: bytes, now_s: float) -> Image:
        """Verify bundle ``data`` and run it on trial; a :class:`BundleError` changes nothing."""
        if self.trial is not None:
            self._refuse(now_s, "busy", "another update is on trial")
        try:
            bundle: VerifiedBundle = verify_bundle(
                data, self.trusted, target=self.target, installed_counter=self.installed_counter
            )
        except BundleError as exc:
            self.events.append(SlotEvent(now_s, "refused", None, f"{exc.reason}: {exc.detail}"))
            raise
        self.trial = Image(bundle.manifest, bundle.model)
        self.trial_deadline_s = now_s + self.trial_window_s
        self.events.append(SlotEvent(now_s, "staged", bundle.manifest.version))
        return self.trial

    def _refuse(self, now_s: float, kind: str, detail: str) -> None:
        self.events.append(SlotEvent(now_s, "refused", None, f"{kind}: {detail}"))
        raise TinylargeError(f"update refused: {detail}")

    def confirm(self, now_s: float) -> Image:
        """Make the trial image permanent: raise the counter, apply its key rotation."""
        if self.trial is None:
            raise TinylargeError("nothing to confirm: no image is on trial")
        image, self.trial = self.trial, None
        self.trusted = rotate_keys(self.trusted, image.manifest)
        self.installed_counter = max(self.installed_counter, image.manifest.security_counter)
        self.confirmed = image
        self.events.append(SlotEvent(now_s, "confirmed", image.version))
        return image

    def revert(self, now_s: float, reason: str) -> Image | None:
        """Drop the trial image and run the confirmed one again; returns what now runs."""
        if self.trial is None:
            raise TinylargeError("nothing to revert: no image is on trial")
        version, self.trial = self.trial.version, None
        self.events.append(SlotEvent(now_s, "reverted", version, reason))
        return self.confirmed

    def tick(self, now_s: float) -> bool:
        """Revert a trial that passed its deadline unconfirmed; ``True`` if it did."""
        if self.trial is not None and now_s >= self.trial_deadline_s:
            self.revert(now_s, f"not confirmed within {self.trial_window_s:g} s")
            return True
        return False
