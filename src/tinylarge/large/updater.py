"""The device agent's model updates: verify, self-test, run on trial, then confirm or revert.

:class:`DeviceUpdater` wraps :class:`tinylarge.secure.slots.UpdateSlots` (the pure MCUboot-style
state machine) around real TFLM runtimes:

1. ``install(bundle)``: the slots verify the bundle (signature, hashes, target, counter); a
   refusal leaves the running model untouched.
2. Self-test before switching: the new ``.tflite`` must load in TFLM, keep the input and output
   shapes of the running model (the application's contract), and score at least
   ``min_accuracy`` on the device's labelled probe samples (a known-answer test).
3. Trial: the device serves with the new model; after ``trial_samples`` requests a health check
   (accuracy on labelled traffic, median latency) confirms it or reverts it. A trial still
   unconfirmed ``trial_window_s`` after it began reverts on the next request, as MCUboot reverts
   an image that was never confirmed.

The previous runtime stays loaded while the trial runs, so reverting is immediate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median

import numpy as np

from tinylarge.errors import TinylargeError
from tinylarge.secure.bundle import BundleError
from tinylarge.secure.slots import UpdateSlots
from tinylarge.tiny.runtime import Int8Runtime, dequantize, quantize

RuntimeFactory = Callable[[bytes], Int8Runtime]


@dataclass(frozen=True)
class InstallOutcome:
    """What became of one bundle: ``status`` is refused, failed_self_test or trial."""

    status: str
    version: int | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "trial"


@dataclass
class TrialStats:
    n: int = 0
    n_labelled: int = 0
    n_correct: int = 0
    n_errors: int = 0
    latencies_s: list[float] = field(default_factory=list)


def probe_accuracy(runtime: Int8Runtime, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ``runtime`` on NCHW float samples ``x`` (converted to its layout)."""
    from tinylarge.large.agent import to_device_layout

    x_dev, _ = to_device_layout(x, runtime.input_shape)
    q = quantize(x_dev, runtime.input_scale, runtime.input_zero_point)
    logits = dequantize(runtime.invoke_int8(q), runtime.output_scale, runtime.output_zero_point)
    return float((logits.reshape(len(x), -1).argmax(1) == np.asarray(y)).mean())


class DeviceUpdater:
    """Installs bundles on one device; :attr:`runtime` is the model to serve with right now."""

    def __init__(
        self,
        slots: UpdateSlots,
        runtime: Int8Runtime,
        make_runtime: RuntimeFactory,
        probe_x: np.ndarray,
        probe_y: np.ndarray,
        *,
        min_accuracy: float = 0.5,
        trial_samples: int = 20,
        max_latency_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slots = slots
        self.runtime = runtime
        self.make_runtime = make_runtime
        self.probe_x, self.probe_y = probe_x, probe_y
        self.min_accuracy = min_accuracy
        self.trial_samples = trial_samples
        self.max_latency_s = max_latency_s
        self.clock = clock
        self._confirmed_runtime = runtime
        self.trial = TrialStats()
        self.outcomes: list[InstallOutcome] = []

    @property
    def version(self) -> int | None:
        image = self.slots.running
        return None if image is None else image.version

    def _done(self, outcome: InstallOutcome) -> InstallOutcome:
        self.outcomes.append(outcome)
        return outcome

    def install(self, data: bytes) -> InstallOutcome:
        """Verify and self-test bundle ``data``; on success the device runs it on trial."""
        now_s = self.clock()
        try:
            image = self.slots.stage(data, now_s)
        except BundleError as exc:
            return self._done(InstallOutcome("refused", None, f"{exc.reason.value}: {exc.detail}"))
        except TinylargeError as exc:
            return self._done(InstallOutcome("refused", None, str(exc)))
        problem, candidate = self._self_test(image.model)
        if problem is not None:
            self.slots.revert(now_s, f"self-test: {problem}")
            return self._done(InstallOutcome("failed_self_test", image.version, problem))
        self.runtime, self.trial = candidate, TrialStats()
        return self._done(InstallOutcome("trial", image.version))

    def _self_test(self, model: bytes) -> tuple[str | None, Int8Runtime | None]:
        try:
            candidate = self.make_runtime(model)
        except Exception as exc:  # any interpreter failure: the image is unusable
            return f"model does not load ({type(exc).__name__}: {exc})", None
        current = self._confirmed_runtime
        if tuple(candidate.input_shape) != tuple(current.input_shape):
            return f"input shape {candidate.input_shape} != {current.input_shape}", None
        if tuple(candidate.output_shape) != tuple(current.output_shape):
            return f"output shape {candidate.output_shape} != {current.output_shape}", None
        accuracy = probe_accuracy(candidate, self.probe_x, self.probe_y)
        if accuracy < self.min_accuracy:
            return f"probe accuracy {accuracy:.3f} < {self.min_accuracy:.3f}", None
        return None, candidate

    def observe(self, correct: bool | None, latency_s: float, error: bool = False) -> str | None:
        """Count one served request; during a trial, confirm or revert when it is due.

        Returns ``"confirmed"`` / ``"reverted"`` when that happened on this request.
        """
        if self.slots.trial is None:
            return None
        now_s = self.clock()
        if self.slots.tick(now_s):
            self.runtime = self._confirmed_runtime
            return "reverted"
        t = self.trial
        t.n += 1
        t.n_errors += int(error)
        t.latencies_s.append(latency_s)
        if correct is not None:
            t.n_labelled += 1
            t.n_correct += int(correct)
        if t.n < self.trial_samples:
            return None
        problem = self._health_problem()
        if problem is None:
            self.slots.confirm(now_s)
            self._confirmed_runtime = self.runtime
            return "confirmed"
        self.slots.revert(now_s, f"health check: {problem}")
        self.runtime = self._confirmed_runtime
        return "reverted"

    def _health_problem(self) -> str | None:
        t = self.trial
        if t.n_labelled and t.n_correct / t.n_labelled < self.min_accuracy:
            return f"accuracy {t.n_correct / t.n_labelled:.3f} < {self.min_accuracy:.3f}"
        if self.max_latency_s is not None and median(t.latencies_s) > self.max_latency_s:
            return f"median latency {median(t.latencies_s):.4f} s > {self.max_latency_s} s"
        return None
