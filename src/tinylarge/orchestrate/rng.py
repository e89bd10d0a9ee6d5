"""Counter-based random numbers: every draw is a pure function of (seed, key, stream).

The fleet simulator keys each random number by what it belongs to (a device, a request = device and
its k-th arrival, a map tile for shadowing), never by the order in which numbers are drawn. So a run
gives identical numbers however the fleet is sharded across workers, and all policies of one run see
the same arrivals and channel draws (common random numbers: policy differences are not noise).

The mixer is SplitMix64's finaliser (Steele, Lea & Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014), a bijection of 64-bit words with good avalanche; uniforms take its top 53
bits. ``numpy.uint64`` arithmetic wraps modulo 2**64, as the mixer needs.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_M53 = 2.0**-53


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser of ``x`` (uint64 array)."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def keyed(seed: int, stream: int, key: np.ndarray) -> np.ndarray:
    """A 64-bit random word per key: ``mix64(mix64(key) ^ hash(seed, stream))``."""
    salt = mix64(np.array([(seed & 0xFFFFFFFF) << 32 | (stream & 0xFFFFFFFF)], dtype=np.uint64))
    with np.errstate(over="ignore"):
        return mix64(mix64(np.asarray(key, dtype=np.uint64)) ^ salt[0])


def uniform(seed: int, stream: int, key: np.ndarray) -> np.ndarray:
    """Uniform in the open interval (0, 1), one per key."""
    return ((keyed(seed, stream, key) >> _S11).astype(np.float64) + 0.5) * _TWO_M53


def normal(seed: int, stream: int, key: np.ndarray) -> np.ndarray:
    """Standard normal, one per key (Box-Muller on two keyed uniforms)."""
    u1 = uniform(seed, 2 * stream, key)
    u2 = uniform(seed, 2 * stream + 1, key)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


_S32 = np.uint64(32)
_MASK32 = np.uint64(0xFFFFFFFF)


def normal_pair(seed: int, stream: int, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent standard normals per key from one keyed word (Box-Muller's cosine and sine
    branches on two 32-bit uniforms): half the hashing of two :func:`normal` calls."""
    w = keyed(seed, stream, key)
    u1 = ((w >> _S32).astype(np.float64) + 0.5) * 2.0**-32
    u2 = ((w & _MASK32).astype(np.float64) + 0.5) * 2.0**-32
    r = np.sqrt(-2.0 * np.log(u1))
    theta = 2.0 * np.pi * u2
    return r * np.cos(theta), r * np.sin(theta)


def combine(*parts: np.ndarray) -> np.ndarray:
    """One uint64 key from several integer arrays (each mixed in turn, order matters)."""
    out = np.zeros(np.broadcast_shapes(*[np.shape(p) for p in parts]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for p in parts:
            out = mix64(out ^ np.asarray(p).astype(np.uint64))
    return out
