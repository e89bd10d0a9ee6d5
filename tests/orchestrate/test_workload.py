"""The fleet workload's cascade threshold comes from the cascade's own calibration rule."""

import numpy as np

from tinylarge.integrate.calibration import GateCalibration, choose_threshold
from tinylarge.orchestrate.workload import calibrate_cascade_threshold


def test_the_simulator_threshold_is_the_cascade_rule():
    rng = np.random.default_rng(0)
    score = rng.random(3000)
    student_ok = rng.random(3000) < 0.5 + 0.5 * score
    teacher_ok = np.ones(3000, bool)
    t = calibrate_cascade_threshold(score, student_ok, teacher_ok, max_accuracy_drop=0.02)
    config = GateCalibration(max_accuracy_drop=0.02)
    assert t == choose_threshold(score, student_ok, teacher_ok, config).threshold
    assert 0.0 < t < 1.0
    # 500 calibration rows cannot certify 0.2 points at delta 0.1: every request goes up
    half = slice(0, 500)
    assert calibrate_cascade_threshold(score[half], student_ok[half], teacher_ok[half]) == np.inf
