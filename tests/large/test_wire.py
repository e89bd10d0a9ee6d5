"""The wire format: tensors round-trip exactly; every malformed tensor fails with a reason."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from pydantic import ValidationError

from tinylarge.large.wire import (
    InferRequest,
    TensorPayload,
    WireError,
    decode_tensor,
    encode_tensor,
)

SAMPLE = (1, 8, 8)


def test_float32_nchw_round_trips_exactly():
    x = np.random.default_rng(0).normal(size=(3, *SAMPLE)).astype(np.float32)
    out = decode_tensor(TensorPayload(**encode_tensor(x)), SAMPLE, max_samples=8)
    np.testing.assert_array_equal(out, x)


def test_int8_nhwc_is_dequantized_and_transposed():
    q = np.random.default_rng(0).integers(-128, 128, size=(2, 8, 8, 1)).astype(np.int8)
    body = encode_tensor(q, layout="NHWC", scale=0.5, zero_point=-3)
    assert len(base64.b64decode(body["data"])) == q.size  # one byte per value on the wire
    out = decode_tensor(TensorPayload(**body), SAMPLE, max_samples=8)
    expected = 0.5 * (q.astype(np.float32) + 3)
    np.testing.assert_array_equal(out, expected.transpose(0, 3, 1, 2))


def _payload(**changes) -> TensorPayload:
    body = encode_tensor(np.zeros((2, *SAMPLE), dtype=np.float32))
    body.update(changes)
    return TensorPayload(**body)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"shape": [2, 64]}, "rank 2"),
        ({"shape": [2, 1, 4, 16]}, "does not match"),
        ({"shape": [2, 8, 8, 1]}, "does not match"),  # NHWC data labelled NCHW
        ({"data": "!!!!"}, "base64"),
        ({"data": base64.b64encode(b"\0" * 10).decode()}, "holds 10 bytes"),
        ({"data": base64.b64encode(b"\0" * 100_000).decode()}, "longer than"),
        ({"shape": [9, 1, 8, 8]}, "exceeds the limit of 8"),
    ],
)
def test_malformed_tensors_are_rejected_with_the_reason(changes, reason):
    with pytest.raises(WireError, match=reason):
        decode_tensor(_payload(**changes), SAMPLE, max_samples=8)


def test_non_finite_floats_are_rejected():
    x = np.zeros((1, *SAMPLE), dtype=np.float32)
    x[0, 0, 3, 3] = np.nan
    with pytest.raises(WireError, match="NaN"):
        decode_tensor(TensorPayload(**encode_tensor(x)), SAMPLE, max_samples=8)


@pytest.mark.parametrize(
    "body",
    [
        {"shape": [1, 1, 8, 8], "dtype": "int8", "data": ""},  # int8 without qparams
        {"shape": [1, 1, 8, 8], "dtype": "float32", "data": "", "scale": 1.0, "zero_point": 0},
        {"shape": [1, 1, 8, 8], "dtype": "float64", "data": ""},
        {"shape": [0, 1, 8, 8], "dtype": "float32", "data": ""},
        {"shape": ["1", 1, 8, 8], "dtype": "float32", "data": ""},  # strict: no coercion
        {
            "shape": [1, 1, 8, 8],
            "dtype": "int8",
            "data": "",
            "scale": float("nan"),
            "zero_point": 0,
        },
        {"shape": [1, 1, 8, 8], "dtype": "int8", "data": "", "scale": 1.0, "zero_point": 300},
        {"shape": [1, 1, 8, 8], "dtype": "float32", "data": "", "color": "red"},
    ],
)
def test_payload_schema_rejects_wrong_types_and_combinations(body):
    with pytest.raises(ValidationError):
        TensorPayload(**body)


def test_a_request_carries_exactly_one_of_tensor_or_texts():
    with pytest.raises(ValidationError, match="exactly one"):
        InferRequest()
    with pytest.raises(ValidationError, match="exactly one"):
        InferRequest(tensor=_payload(), texts=["a"])
    assert InferRequest(texts=["a"]).texts == ["a"]
