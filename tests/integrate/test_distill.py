"""Distillation: the teacher's soft targets make the student better; int8 in TFLM; cached."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from tinylarge.integrate import DistillConfig, run_distill
from tinylarge.models import ModelSpec

from .conftest import STRONG_TEACHER, STUDENT, TEACHER


@pytest.mark.slow
def test_distillation_beats_the_same_student_without_a_teacher(digits_400, cache):
    """A small fixed configuration where the effect is known to hold (a convolutional teacher
    distilled into an MLP on 400 digits, Abnar et al. 2020): the gain over the same student
    trained without the teacher, paired over ten seeds, has a 95 % interval above zero."""
    config = DistillConfig(
        dataset="digits", teacher=STRONG_TEACHER, teacher_label_smoothing=0.0,
        student=ModelSpec(name="mlp", width=32, depth=1), alpha=0.5, temperature=2.0,
        seeds=list(range(10)), int8=False,
    )  # fmt: skip
    result = run_distill(config, dataset=digits_400, cache=cache)
    gain = result.summary["gain"]
    assert gain["mean"] > 0.005 and gain["excludes_zero"] and gain["p_value"] < 0.05
    assert result.summary["student_accuracy"]["n"] == 10


def test_distill_reports_both_students_per_seed_and_is_cached(digits, cache):
    config = DistillConfig(
        dataset="digits", teacher=TEACHER, student=STUDENT, epochs=2, seeds=[0, 1], int8=False
    )
    first = run_distill(config, dataset=digits, cache=cache)
    s = first.summary
    assert len(first.students) == len(first.baselines) == 2
    assert s["param_ratio"] == pytest.approx(first.students[0].params / first.teacher.params)
    assert s["student_accuracy"]["n"] == 2 and s["int8"] is False
    assert s["gain"]["test"] == "paired t" and s["gain"]["ci_low"] <= s["gain"]["ci_high"]
    assert all(r.val_accuracy is not None for r in first.students)  # what selection may use
    again = run_distill(config, dataset=digits, cache=cache)
    assert all(r.from_cache for r in again.students + again.baselines)
    assert again.summary == s
    d = first.to_dict()
    assert d["config"]["seeds"] == [0, 1] and json.dumps(d)
    with pytest.raises(ValidationError, match="alpha"):
        DistillConfig(alpha=1.5)


def test_distill_ends_as_an_int8_model_measured_in_tflm(digits, cache, tmp_path):
    from tinylarge.tiny.quantize import evaluate_int8

    config = DistillConfig(
        dataset="digits", teacher=TEACHER, student=STUDENT, epochs=2, compare_baseline=False
    )
    result = run_distill(config, dataset=digits, cache=cache, out_dir=tmp_path)
    student = result.students[0]
    path = Path(student.tflite_path)
    assert path.parent == tmp_path and path.is_file()
    assert (tmp_path / "student_seed0.pt").is_file()
    accuracy, _, arena = evaluate_int8(path, digits.x_test, digits.y_test)
    assert student.int8_accuracy == pytest.approx(accuracy)
    assert student.tflm_arena_bytes == arena > 0
    assert result.to_dict()["summary"]["int8"] is True
