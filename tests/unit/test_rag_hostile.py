"""The hostile-file corpus (tests/hostile.py) through the loaders and the chunker.

Each case runs in a subprocess under RLIMIT_CPU (a parser gone quadratic is
killed by the kernel) and reports its peak memory, bounded here at 1.5 GB.
The light cases share one subprocess in the default run; each heavy case
(20 MB files, 200,000 unclosed <p>, zip bombs) gets its own, in the slow tier.
The same corpus through the whole ingestion service is
tests/integration/test_rag_hostile_service.py.
"""

from __future__ import annotations

import pytest

from tests.hostile import BY_ID, CASES, check_outcome, run_cases

LIGHT = [c.id for c in CASES if c.loader and not c.heavy]
HEAVY = [c.id for c in CASES if c.loader and c.heavy]


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 60


@pytest.fixture(scope="module")
def light_results(tmp_path_factory) -> dict:
    return run_cases("loader", LIGHT, tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("case_id", LIGHT)
def test_light_case(case_id: str, light_results: dict) -> None:
    check_outcome(BY_ID[case_id], light_results, level="loader")


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("case_id", HEAVY)
def test_heavy_case(case_id: str, tmp_path) -> None:
    check_outcome(BY_ID[case_id], run_cases("loader", [case_id], tmp_path), level="loader")
