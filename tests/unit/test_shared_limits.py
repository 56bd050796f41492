"""Per-minute limits counted in the database: two limiters on one database (two
processes' worth) share the counts; tokens settle to the real count."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine

from core.db import migrate
from core.reliability.limits import RateLimitExceeded
from core.reliability.shared_limits import SharedRateLimiter


@pytest.fixture
def db(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'limits.db'}")
    migrate(engine)
    if time.time() % 60 > 50:  # counts are per clock minute: start well inside one
        time.sleep(61 - time.time() % 60)
    return engine


def test_two_limiters_share_one_count(db):
    a, b = SharedRateLimiter(db), SharedRateLimiter(db)
    a.admit("key:k", 10, rpm=3, tpm=None, who="this API key")
    b.admit("key:k", 10, rpm=3, tpm=None, who="this API key")
    a.admit("key:k", 10, rpm=3, tpm=None, who="this API key")
    with pytest.raises(RateLimitExceeded, match="3 requests per minute") as info:
        b.admit("key:k", 10, rpm=3, tpm=None, who="this API key")
    assert 0 < info.value.retry_after <= 60
    b.admit("key:other", 10, rpm=3, tpm=None, who="this API key")  # another key's own count
    assert a.usage("key:k") == {"requests": 3, "tokens": 30}


def test_tokens_are_reserved_then_settled_to_the_real_count(db):
    lim = SharedRateLimiter(db)
    held = lim.admit("key:t", 600, rpm=None, tpm=1000, who="this API key")
    with pytest.raises(RateLimitExceeded, match="1,000 tokens per minute"):
        lim.admit("key:t", 600, rpm=None, tpm=1000, who="this API key")
    lim.settle(held, 150)  # the call used far less than its estimate
    lim.admit("key:t", 600, rpm=None, tpm=1000, who="this API key")
    assert lim.usage("key:t") == {"requests": 2, "tokens": 750}


def test_concurrent_admissions_never_pass_the_limit(db):
    limiters = [SharedRateLimiter(db) for _ in range(4)]
    admitted, refused = [], []

    def go(lim):
        for _ in range(10):
            try:
                lim.admit("key:c", 1, rpm=17, tpm=None, who="this API key")
                admitted.append(1)
            except RateLimitExceeded:
                refused.append(1)

    threads = [threading.Thread(target=go, args=(lim,)) for lim in limiters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 17 and len(refused) == 23
