"""A small, seeded workload with the real shape (device classes from the catalog, seven cuts), for
unit tests of the simulator's mechanics; the real one (models run in TFLM/torch) is exercised by the
slow end-to-end tests and the benchmark."""

import numpy as np
import pytest

from tinylarge.orchestrate.workload import Workload


def make_workload(n: int = 400, seed: int = 0) -> Workload:
    rng = np.random.default_rng(seed)
    devices = ("nrf52840", "esp32s3", "stm32h7a3", "rp2040")
    score = rng.beta(8, 1, size=2 * n)
    student_ok = rng.random(2 * n) < np.clip(score, 0, 0.995)
    teacher_ok = rng.random(2 * n) < 0.99
    cuts = np.arange(7)
    cut_ok = np.vstack([teacher_ok] * 5 + [student_ok | teacher_ok] * 2)
    dev_lat = np.array([0.037, 0.005, 0.0055, 0.055])
    frac = np.array([0.0, 0.03, 0.23, 0.4, 0.67, 1.0, 1.0])
    return Workload(
        dataset="synthetic",
        input_bytes=784,
        devices=devices,
        student_ok=student_ok[:n],
        gate_score=score[:n],
        teacher_ok=teacher_ok[:n],
        cut_ok=cut_ok[:, :n],
        cal_student_ok=student_ok[n:],
        cal_gate_score=score[n:],
        cal_teacher_ok=teacher_ok[n:],
        cal_cut_ok=cut_ok[:, n:],
        cascade_threshold=0.8,
        infer_latency_s=dev_lat,
        infer_energy_j=np.array([0.37e-3, 0.68e-3, 0.63e-3, 4.6e-3]),
        infer_fits=np.ones(4, dtype=bool),
        sleep_power_w=np.array([9.5e-6, 2.3e-5, 1e-4, 2.6e-3]),
        cuts=cuts,
        cut_device_latency_s=np.outer(dev_lat * 11, frac),
        cut_device_energy_j=np.outer([4e-3, 7e-3, 7e-3, 50e-3], frac),
        cut_fits=np.ones((4, 7), dtype=bool),
        cut_sent_bytes=np.array([784, 18816, 4704, 2597, 1856, 1024, 0]),
        cut_tail_macs=np.array([10_647_457, 10_000_000, 8_000_000, 6_000_000, 3_000_000, 10, 0]),
        cut_tail_layers=np.array([6, 5, 4, 3, 2, 1, 0]),
    )


@pytest.fixture(scope="session")
def workload() -> Workload:
    return make_workload()
