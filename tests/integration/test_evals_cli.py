"""`python -m core.cli eval run`: exit codes 0 / 100 / 1, JUnit XML and JSON, retry-errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each case runs the CLI in a fresh interpreter (about 5 s of imports each).
pytestmark = pytest.mark.slow


@pytest.fixture
def suite_dir(tmp_path, wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.reply = "The capital of France is Paris."
    cases = [{"key": f"c{i}", "input": f"Question {i}: capital of France?",
              "expected": "Paris"} for i in range(10)]
    (tmp_path / "cases.jsonl").write_text("\n".join(json.dumps(c) for c in cases) + "\n")
    return tmp_path


def _suite(directory: Path, value: str = "Paris", extra: str = "") -> Path:
    path = directory / "suite.yaml"
    path.write_text(
        "name: capitals\ndataset: cases.jsonl\nmodels: [openai/gpt-4o-mini]\nconcurrency: 4\n"
        f"assert:\n  - {{type: icontains, value: {value}}}\n  - {{type: word-count, max: 40}}\n"
        + extra)
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "core.cli", "eval", "run", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_passing_suite_exits_0_with_junit_and_json(suite_dir):
    junit, out = suite_dir / "out.xml", suite_dir / "out.json"
    proc = _cli(str(_suite(suite_dir)), "--junit", str(junit), "--json", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert "PASSED" in proc.stderr and "100%" in proc.stderr
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "10" and root.get("failures") == "0"
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "capitals · openai/gpt-4o-mini"
    assert [tc.get("name") for tc in suite.findall("testcase")] == [f"c{i}" for i in range(10)]
    data = json.loads(out.read_text())
    assert data["gate"]["exit_code"] == 0 and len(data["results"]) == 10
    assert data["results"][0]["output"] == "The capital of France is Paris."


def test_failing_assertions_exit_100_and_junit_lists_each_failure(suite_dir, wire):
    junit = suite_dir / "out.xml"
    proc = _cli(str(_suite(suite_dir, value="Lyon")), "--junit", str(junit), "-q")
    assert proc.returncode == 100, proc.stderr
    assert "FAILED" in proc.stderr and "10 cell(s) failed" in proc.stderr
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "10" and root.get("errors") == "0"
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and "icontains" in failure.get("message")
    assert "does not contain 'Lyon'" in failure.get("message")


def test_a_pass_rate_threshold_lets_some_failures_through(suite_dir, wire):
    wire.reply = lambda body: "Paris" if "Question 1" not in str(body) else "Lyon"
    suite = _suite(suite_dir, extra="thresholds: {pass_rate: 0.8}\n")
    assert _cli(str(suite), "-q").returncode == 0
    suite = _suite(suite_dir, extra="thresholds: {pass_rate: 0.95}\n")
    proc = _cli(str(suite), "-q")
    assert proc.returncode == 100 and "below the threshold 95%" in proc.stderr


def test_errors_exit_1_and_retry_errors_reruns_only_those(suite_dir, wire):
    wire.enqueue("ok", "400", "ok", "400")
    junit = suite_dir / "out.xml"
    suite = _suite(suite_dir, extra="concurrency: 1\n")
    proc = _cli(str(suite), "--junit", str(junit), "-q")
    assert proc.returncode == 1 and "2 cell(s) errored" in proc.stderr
    root = ET.parse(junit).getroot()
    assert root.get("errors") == "2"
    assert root.find("testsuite/testcase/error").get("type") == "bad_request"
    before = len(wire.completion_requests())
    proc = _cli(str(suite), "--retry-errors", "-q")
    assert proc.returncode == 0, proc.stderr
    assert len(wire.completion_requests()) == before + 2
    assert "run #1 PASSED" in proc.stderr


def test_a_significant_regression_against_the_production_baseline_exits_100(suite_dir, wire):
    extra = "thresholds: {pass_rate: 0.0, max_regressions: 0, baseline: {label: production}}\n"
    suite = _suite(suite_dir, extra=extra)
    assert _cli(str(suite), "--label", "production", "-q").returncode == 0
    # Two regressed cases out of ten: noise, so the gate holds.
    wire.reply = lambda body: "Lyon" if any(f"Question {i}:" in str(body) for i in (1, 2)) \
        else "Paris"
    proc = _cli(str(suite), "-q")
    assert proc.returncode == 0 and "No significant difference" in proc.stderr
    # Every case regressed: significant, and the gate fails.
    wire.reply = "Lyon"
    proc = _cli(str(suite), "-q")
    assert proc.returncode == 100 and "Significantly worse" in proc.stderr


def test_an_unreadable_suite_exits_1_with_one_sentence(tmp_path):
    (tmp_path / "bad.yaml").write_text("dataset: nope.jsonl\nmodels: [a/b]\n")
    proc = _cli(str(tmp_path / "bad.yaml"))
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: The dataset file nope.jsonl could not be read."
