"""Security: device tokens, signed model bundles, update slots and staged rollout.

Depends on nothing in tinylarge but ``errors`` (and ``models`` for the split-privacy attacker), so
every other package may import it. Pieces:

- ``tokens``: HMAC device bearer tokens with expiry.
- ``keys`` / ``bundle``: Ed25519 keys and signed model bundles (verify names why it refuses).
- ``slots``: a device's test / confirm / revert of a new image (MCUboot's swap semantics).
- ``rollout``: staged canary -> full rollout with automatic rollback (pure state machine).
"""

from tinylarge.secure.bundle import (
    BundleError,
    Manifest,
    Reason,
    VerifiedBundle,
    rotate_keys,
    sign_bundle,
    verify_bundle,
)
from tinylarge.secure.keys import (
    KeyFileError,
    key_id,
    load_private_key,
    load_public_key,
    new_keypair,
)
from tinylarge.secure.rollout import DeviceReport, Phase, Rollout, RolloutPolicy
from tinylarge.secure.slots import Image, SlotState, UpdateSlots
from tinylarge.secure.tokens import (
    ExpiredTokenError,
    TokenAuthority,
    TokenClaims,
    TokenError,
    issue_token,
    new_secret,
    read_secret,
    verify_token,
    write_secret,
)

__all__ = [
    "BundleError",
    "DeviceReport",
    "ExpiredTokenError",
    "Image",
    "KeyFileError",
    "Manifest",
    "Phase",
    "Reason",
    "Rollout",
    "RolloutPolicy",
    "SlotState",
    "TokenAuthority",
    "TokenClaims",
    "TokenError",
    "UpdateSlots",
    "VerifiedBundle",
    "issue_token",
    "key_id",
    "load_private_key",
    "load_public_key",
    "new_keypair",
    "new_secret",
    "read_secret",
    "rotate_keys",
    "sign_bundle",
    "verify_bundle",
    "verify_token",
    "write_secret",
]
