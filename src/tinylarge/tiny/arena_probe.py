"""Find the smallest TFLM tensor arena for a model, probing in a child process.

Why a child: the ``tflite-micro`` wheel can *crash* (SIGSEGV) instead of failing cleanly when an
arena is a little too small: a kernel's Prepare dereferences a tensor whose tail allocation just
failed (seen with DEPTHWISE_CONV_2D at 2,048 bytes on an 8x8 CNN, where 2,560 fails cleanly).
So every probe runs in a worker process; a worker that dies counts as "does not fit" (the crash
always follows a failed allocation) and a fresh worker continues the search.

Protocol (worker = ``python -m tinylarge.tiny.arena_probe``, stderr silenced): the parent writes
one line ``<model size in bytes> <input shape, comma separated>`` and then the model bytes; then
one arena size per line, and the worker answers ``1`` (allocates and invokes) or ``0`` per line.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections.abc import Callable

import numpy as np

from tinylarge.errors import TinylargeError

# TFLM aligns arena allocations to 16 bytes, so bisecting finer than this only measures padding.
ARENA_ALIGN_BYTES = 16
# Give up beyond this: no microcontroller has 256 MiB of SRAM, and a model TFLM cannot run at all
# (a missing kernel) fails at every size.
MAX_ARENA_BYTES = 256 * 1024 * 1024


def find_arena_bytes(works: Callable[[int], bool], start_bytes: int = 4096) -> int:
    """The smallest arena size (a multiple of 16 bytes) for which ``works(size)`` holds.

    Doubles from ``start_bytes`` until an arena works, then bisects between the last failure and
    the first success. Assumes monotonicity (a larger arena never fails where a smaller worked),
    which holds for TFLM's head/tail arena allocator.
    """
    lo, hi = 0, max(ARENA_ALIGN_BYTES, start_bytes)
    while not works(hi):
        lo, hi = hi, hi * 2
        if hi > MAX_ARENA_BYTES:
            raise TinylargeError(
                f"TFLM cannot allocate and run this model in any arena up to {MAX_ARENA_BYTES} "
                "bytes: it uses an op this TFLM build lacks, or it is far too big for a "
                "microcontroller"
            )
    # invariant: works(hi), and not works(lo) (or lo == 0, never tried)
    while hi - lo > ARENA_ALIGN_BYTES:
        mid = (lo + hi) // 2 // ARENA_ALIGN_BYTES * ARENA_ALIGN_BYTES
        if mid <= lo:
            break
        if works(mid):
            hi = mid
        else:
            lo = mid
    return hi


class ArenaProber:
    """Answers "does TFLM allocate and invoke this model in N bytes?" from a worker process."""

    def __init__(self, model_bytes: bytes, input_shape: tuple[int, ...]) -> None:
        self.model_bytes = model_bytes
        self.input_shape = tuple(int(d) for d in input_shape)
        self._worker: subprocess.Popen | None = None
        self.n_crashes = 0

    def __enter__(self) -> ArenaProber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tinylarge.tiny.arena_probe"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert worker.stdin is not None
        header = f"{len(self.model_bytes)} {','.join(map(str, self.input_shape))}\n"
        worker.stdin.write(header.encode() + self.model_bytes)
        worker.stdin.flush()
        return worker

    def __call__(self, arena_bytes: int) -> bool:
        if self._worker is None:
            self._worker = self._start()
        worker = self._worker
        assert worker.stdin is not None and worker.stdout is not None
        try:
            worker.stdin.write(f"{int(arena_bytes)}\n".encode())
            worker.stdin.flush()
            answer = worker.stdout.readline().strip()
        except BrokenPipeError:
            answer = b""
        if answer in (b"0", b"1"):
            return answer == b"1"
        worker.wait()  # the worker crashed inside TFLM: this arena is too small
        self._worker = None
        self.n_crashes += 1
        if self.n_crashes > 32:
            raise TinylargeError("the TFLM arena probe keeps crashing; giving up")
        return False

    def close(self) -> None:
        if self._worker is not None:
            if self._worker.stdin is not None:
                self._worker.stdin.close()
            self._worker.wait()
            self._worker = None


# Memo of measured minima, SHA-256 of the model -> bytes. A fact about a model (not configuration),
# kept for the life of the process: a fleet or a ``--device all`` profile builds many runtimes of
# one model and needs a single measurement.
_MIN_ARENA_BYTES: dict[str, int] = {}


def measure_arena_bytes(model_bytes: bytes, input_shape: tuple[int, ...]) -> int:
    """The smallest arena with which TFLM allocates and invokes ``model_bytes`` (see module doc)."""
    digest = hashlib.sha256(model_bytes).hexdigest()
    if digest not in _MIN_ARENA_BYTES:
        with ArenaProber(model_bytes, input_shape) as probe:
            _MIN_ARENA_BYTES[digest] = find_arena_bytes(probe)
    return _MIN_ARENA_BYTES[digest]


def arena_is_enough(model_bytes: bytes, input_shape: tuple[int, ...], arena_bytes: int) -> bool:
    """Whether TFLM allocates and invokes the model in ``arena_bytes``, without risking a crash.

    Answered from the memo when this model was measured already (any larger arena works too);
    otherwise by one probe in a worker.
    """
    known = _MIN_ARENA_BYTES.get(hashlib.sha256(model_bytes).hexdigest())
    if known is not None:
        return arena_bytes >= known
    with ArenaProber(model_bytes, input_shape) as probe:
        return probe(int(arena_bytes))


_HEAD_BYTES: dict[str, int] = {}
_HEAD_SCRIPT = (
    "import sys\n"
    "from tflite_micro.python.tflite_micro import runtime as tflm\n"
    "m = sys.stdin.buffer.read()\n"
    "tflm.Interpreter.from_bytes(m, arena_size=int(sys.argv[1])).print_allocations()\n"
)


def measure_arena_head_bytes(model_bytes: bytes, arena_bytes: int = 16 * 1024 * 1024) -> int:
    """TFLM's planned activation memory for ``model_bytes``: the arena *head* that its greedy
    planner lays out for the tensors (model input and output included, overlapped where their
    lifetimes allow) and the kernels' scratch buffers, excluding the pointer-size dependent
    persistent tail. Read from ``print_allocations()`` of the x86-64 wheel, which writes
    ``Arena allocation head N bytes`` to the C-level stderr (hence a child process)."""
    digest = hashlib.sha256(model_bytes).hexdigest()
    if digest not in _HEAD_BYTES:
        res = subprocess.run(
            [sys.executable, "-c", _HEAD_SCRIPT, str(arena_bytes)],
            input=model_bytes, capture_output=True, timeout=120,
        )  # fmt: skip
        found = re.search(rb"Arena allocation head (\d+) bytes", res.stderr + res.stdout)
        if res.returncode != 0 or found is None:
            raise TinylargeError(
                "TFLM did not report its arena head: "
                + (res.stderr.decode(errors="replace")[-300:] or f"exit code {res.returncode}")
            )
        _HEAD_BYTES[digest] = int(found.group(1))
    return _HEAD_BYTES[digest]


def _fits(model_bytes: bytes, arena_bytes: int, input_shape: tuple[int, ...]) -> bool:
    from tflite_micro.python.tflite_micro import runtime as tflm

    try:
        interp = tflm.Interpreter.from_bytes(model_bytes, arena_size=arena_bytes)
        interp.set_input(np.zeros(input_shape, dtype=np.int8), 0)
        interp.invoke()
    except RuntimeError:
        return False
    return True


def _worker_main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    size_text, shape_text = stdin.readline().split()
    model_bytes = stdin.read(int(size_text))
    input_shape = tuple(int(d) for d in shape_text.split(b","))
    for line in stdin:
        ok = _fits(model_bytes, int(line), input_shape)
        stdout.write(b"1\n" if ok else b"0\n")
        stdout.flush()


if __name__ == "__main__":
    _worker_main()
