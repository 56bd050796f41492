"""The hostile-file corpus (tests/hostile.py) through `RagService.ingest`: the real
embedder, Chroma and SQLite, each case in a fresh collection, checked for a plain
outcome and for nothing partial left in the registry or Chroma.

Subprocesses under RLIMIT_CPU report peak memory (bounded at 1.5 GB): one for
the light cases, one per heavy case. Cases too slow to embed on a small
machine (a 20 MB text, a 200,000-row CSV) run at the loader level and in
bench/rag_ingest.py instead.
"""

from __future__ import annotations

import pytest

from tests.hostile import BY_ID, CASES, check_outcome, run_cases

# The light cases share one subprocess (one model load): minutes on a small machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
LIGHT = [c.id for c in CASES if c.service and not c.heavy]
HEAVY = [c.id for c in CASES if c.service and c.heavy]


@pytest.fixture(scope="module")
def light_results(tmp_path_factory) -> dict:
    return run_cases("service", LIGHT, tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("case_id", LIGHT)
def test_light_case(case_id: str, light_results: dict) -> None:
    check_outcome(BY_ID[case_id], light_results, level="service")


@pytest.mark.parametrize("case_id", HEAVY)
def test_heavy_case(case_id: str, tmp_path) -> None:
    check_outcome(BY_ID[case_id], run_cases("service", [case_id], tmp_path), level="service")
