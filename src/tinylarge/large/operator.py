"""The operator's client for ``/v1/admin``: register and revoke devices, upload signed bundles,
start and watch rollouts, read the audit log. Blocking (``httpx``); errors raise
:class:`ServiceError` with the service's reason.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tinylarge.large.client import _check
from tinylarge.secure.keys import public_key_to_b64
from tinylarge.secure.tls import client_verify


class OperatorClient:
    """Admin calls with an operator token (issued with the service's admin key)."""

    def __init__(
        self, base_url: str, admin_token: str, verify: bool | str = True, timeout_s: float = 30.0
    ) -> None:
        import httpx

        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=timeout_s,
            verify=client_verify(verify),
        )

    def __enter__(self) -> OperatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return _check(self._http.request(method, path, **kwargs))

    def register(self, device_id: str, public_key: Ed25519PublicKey | str, target: str) -> dict:
        if isinstance(public_key, Ed25519PublicKey):
            public_key = public_key_to_b64(public_key)
        body = {"device_id": device_id, "public_key": public_key, "target": target}
        return self._call("POST", "/v1/admin/devices", json=body)

    def devices(self) -> list[dict]:
        return self._call("GET", "/v1/admin/devices")["devices"]

    def revoke(self, device_id: str, reason: str = "revoked by operator") -> dict:
        return self._call("POST", f"/v1/admin/devices/{device_id}/revoke", json={"reason": reason})

    def revoke_token(self, token: str) -> dict:
        return self._call("POST", "/v1/admin/tokens/revoke", json={"token": token})

    def upload_bundle(self, data: bytes) -> dict:
        headers = {"content-type": "application/zip"}
        return self._call("PUT", "/v1/admin/bundles", content=data, headers=headers)

    def start_rollout(
        self,
        rollout_id: str,
        target: str,
        from_version: int,
        to_version: int,
        policy: dict | None = None,
    ) -> dict:
        body = {
            "rollout_id": rollout_id,
            "target": target,
            "from_version": from_version,
            "to_version": to_version,
            "policy": policy or {},
        }
        return self._call("POST", "/v1/admin/rollouts", json=body)

    def rollout(self, rollout_id: str) -> dict:
        return self._call("GET", f"/v1/admin/rollouts/{rollout_id}")

    def audit(self, since_id: int = 0, limit: int = 1000) -> list[dict]:
        params = {"since_id": since_id, "limit": limit}
        return self._call("GET", "/v1/admin/audit", params=params)["records"]
