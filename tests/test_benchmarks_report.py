"""BENCHMARKS.md sections: replaced in place, other sections untouched, kept in roadmap order."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "report", Path(__file__).resolve().parent.parent / "benchmarks" / "report.py"
)
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def test_sections_are_replaced_and_ordered(tmp_path):
    path = tmp_path / "B.md"
    report.write_section("service", "service v1", path)
    report.write_section("demo", "demo v1", path)
    report.write_section("service", "service v2", path)
    text = path.read_text()
    assert text.startswith("# Benchmarks")
    assert "service v1" not in text and "service v2" in text and "demo v1" in text
    assert text.index("<!-- demo:start -->") < text.index("<!-- service:start -->")
    assert text.count("<!-- service:start -->") == 1
