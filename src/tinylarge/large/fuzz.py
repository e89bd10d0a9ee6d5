"""Hypothesis strategies for malformed service requests (tests and ``benchmarks/bench_service``).

Every request drawn here is wrong in at least one way the service must reject with a 4xx and a
reason: auth (missing, garbled, expired, foreign-signed tokens), path (unknown model, cut out of
range or not an integer, wrong method), body (not JSON, JSON of the wrong shape or types, a tensor
whose shape, dtype, layout, quantization parameters, base64 or byte count is wrong, NaN, too many
samples, too many bytes, texts for a tensor model). Each draw starts from a valid request and
breaks it, so the faults sit next to the accepted inputs where parsers are most fragile.

Needs ``hypothesis`` (a dev dependency); nothing at run time imports this module.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field, replace

import numpy as np
from hypothesis import strategies as st

PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)


@dataclass(frozen=True)
class FuzzRequest:
    """One HTTP request: what is sent and ``why`` it must be rejected (``family: detail``)."""

    method: str
    path: str
    body: bytes | None
    why: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """What a valid request looks like for the model under test."""

    model: str
    sample_shape: tuple[int, ...]
    n_cuts: int
    token: str
    expired_token: str
    foreign_token: str
    max_samples: int
    max_body_bytes: int


def valid_tensor(target: Target, n: int = 1) -> dict:
    x = np.zeros((n, *target.sample_shape), dtype=np.float32)
    return {
        "shape": list(x.shape),
        "dtype": "float32",
        "data": base64.b64encode(x.tobytes()).decode(),
    }


def _json(obj: object) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()


def _infer(target: Target, body: bytes | None, why: str, **headers: str) -> FuzzRequest:
    auth = {"Authorization": f"Bearer {target.token}", "content-type": "application/json"}
    return FuzzRequest("POST", f"/v1/models/{target.model}/infer", body, why, {**auth, **headers})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(PRINTABLE, max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(PRINTABLE, max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def auth_faults(draw: st.DrawFn, target: Target) -> FuzzRequest:
    body = _json({"tensor": valid_tensor(target)})
    choice = draw(st.sampled_from(["missing", "scheme", "garbage", "expired", "foreign"]))
    headers = {"content-type": "application/json"}
    if choice == "scheme":
        headers["Authorization"] = f"Basic {target.token}"
    elif choice == "garbage":
        # HTTP header values cannot start or end with whitespace (h11 refuses to send them)
        garbage = st.text(PRINTABLE, min_size=1, max_size=80).filter(lambda t: t == t.strip())
        headers["Authorization"] = "Bearer " + draw(garbage)
    elif choice == "expired":
        headers["Authorization"] = f"Bearer {target.expired_token}"
    elif choice == "foreign":
        headers["Authorization"] = f"Bearer {target.foreign_token}"
    path = f"/v1/models/{target.model}/infer"
    return FuzzRequest("POST", path, body, f"auth: {choice}", headers)


@st.composite
def path_faults(draw: st.DrawFn, target: Target) -> FuzzRequest:
    good = {"Authorization": f"Bearer {target.token}", "content-type": "application/json"}
    body = _json({"tensor": valid_tensor(target)})
    choice = draw(st.sampled_from(["model", "cut", "cut-text", "method"]))
    if choice == "model":
        alphabet = st.characters(whitelist_categories=("Ll", "Lu", "Nd"), max_codepoint=127)
        name = draw(st.text(alphabet, min_size=1, max_size=20).filter(lambda s: s != target.model))
        return FuzzRequest("POST", f"/v1/models/{name}/infer", body, "unknown model", good)
    if choice == "cut":
        cut = draw(st.integers(-(2**40), -1) | st.integers(target.n_cuts, 2**40))
        path = f"/v1/models/{target.model}/split/{cut}"
        return FuzzRequest("POST", path, body, f"cut {cut} out of range", good)
    if choice == "cut-text":
        cut = draw(st.sampled_from(["abc", "1.5", "0x1", "", "%20", "1e3"]))
        return FuzzRequest(
            "POST", f"/v1/models/{target.model}/split/{cut}x", body, "cut text", good
        )
    method = draw(st.sampled_from(["GET", "PUT", "DELETE", "PATCH"]))
    return FuzzRequest(method, f"/v1/models/{target.model}/infer", body, "wrong method", good)


@st.composite
def body_faults(draw: st.DrawFn, target: Target) -> FuzzRequest:
    choice = draw(
        st.sampled_from(
            ["bytes", "json", "wrap", "content-type", "texts", "oversize", "empty", "extra"]
        )
    )
    if choice == "bytes":
        raw = draw(st.binary(min_size=1, max_size=200))
        return _infer(target, raw, "not JSON")
    if choice == "json":
        return _infer(target, _json(draw(json_values)), "arbitrary JSON")
    if choice == "wrap":  # the tensor at the wrong nesting level
        return _infer(target, _json(valid_tensor(target)), "tensor not under 'tensor'")
    if choice == "content-type":
        body = _json({"tensor": valid_tensor(target)})[: draw(st.integers(0, 20))]
        return _infer(
            target, body, "truncated, form content type", **{"content-type": "text/plain"}
        )
    if choice == "texts":
        texts = draw(st.lists(st.text(PRINTABLE, max_size=30), min_size=1, max_size=4))
        return _infer(target, _json({"texts": texts}), "texts for a tensor model")
    if choice == "oversize":
        n_bytes = target.max_body_bytes + draw(st.integers(1, 4096))
        return _infer(target, b" " * n_bytes, "body over the size limit")
    if choice == "empty":
        return _infer(target, None, "no body")
    extra = draw(st.text(PRINTABLE, min_size=1, max_size=10).filter(lambda k: k != "tensor"))
    body = {"tensor": valid_tensor(target), extra: draw(json_values)}
    return _infer(target, _json(body), "unknown top-level field")


@st.composite
def tensor_faults(draw: st.DrawFn, target: Target) -> FuzzRequest:
    tensor = valid_tensor(target)
    valid_shape = list(tensor["shape"])
    expected_bytes = math.prod(valid_shape) * 4
    field_name = draw(
        st.sampled_from(
            [
                "shape",
                "dtype",
                "data-b64",
                "data-len",
                "layout",
                "qparams",
                "types",
                "nan",
                "nan-data",
                "too-many",
                "missing",
            ]
        )
    )
    if field_name == "shape":
        tensor["shape"] = draw(
            st.lists(st.integers(-(2**31), 2**40), min_size=0, max_size=8).filter(
                lambda s: s != valid_shape
            )
        )
    elif field_name == "dtype":
        tensor["dtype"] = draw(st.sampled_from(["int8", "float64", "uint8", "f4", "", "FLOAT32"]))
    elif field_name == "data-b64":
        bad = draw(st.text(PRINTABLE, min_size=1, max_size=64).filter(lambda s: _not_b64(s)))
        tensor["data"] = bad
    elif field_name == "data-len":
        raw = draw(st.binary(max_size=600).filter(lambda b: len(b) != expected_bytes))
        tensor["data"] = base64.b64encode(raw).decode()
    elif field_name == "layout":
        tensor["layout"] = draw(st.text(PRINTABLE, max_size=6).filter(lambda s: s not in _LAYOUTS))
    elif field_name == "qparams":
        tensor["scale"] = draw(st.floats(allow_nan=True, allow_infinity=True))
        tensor["zero_point"] = draw(st.integers(-1000, 1000))
    elif field_name == "types":
        key = draw(st.sampled_from(["shape", "dtype", "data", "layout"]))
        tensor[key] = draw(
            json_values.filter(lambda v, k=key: not _same_type(v, tensor.get(k, "NCHW")))
        )
    elif field_name == "nan":
        tensor = {**tensor, "dtype": "int8", "scale": float("nan"), "zero_point": 0}
        tensor["data"] = base64.b64encode(bytes(math.prod(valid_shape))).decode()
    elif field_name == "nan-data":
        x = np.zeros(valid_shape, dtype=np.float32)
        x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        tensor["data"] = base64.b64encode(x.tobytes()).decode()
    elif field_name == "too-many":
        n = target.max_samples + draw(st.integers(1, 4))
        tensor = valid_tensor(target, n)
    else:
        del tensor[draw(st.sampled_from(["shape", "dtype", "data"]))]
    return _infer(target, _json({"tensor": tensor}), f"tensor: {field_name}")


_LAYOUTS = ("NCHW", "NHWC")


def _not_b64(s: str) -> bool:
    try:
        base64.b64decode(s, validate=True)
    except ValueError:
        return True
    return False


def _same_type(value: object, reference: object) -> bool:
    if isinstance(reference, list):
        return isinstance(value, list) and all(type(v) is int for v in value)
    return type(value) is type(reference)


def malformed_requests(target: Target) -> st.SearchStrategy[FuzzRequest]:
    """Any one malformed request against ``target``'s model (all kinds of faults mixed)."""
    return st.one_of(
        auth_faults(target),
        path_faults(target).map(lambda r: replace(r, why=f"path: {r.why}")),
        body_faults(target).map(lambda r: replace(r, why=f"body: {r.why}")),
        tensor_faults(target),
    )
