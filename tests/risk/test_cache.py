from datetime import UTC, datetime, timedelta

import pytest

from apps.risk.domain.cache import TTLCache

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_ttl_cache_with_fresh_entry_returns_value():
    cache: TTLCache[str, int] = TTLCache(timedelta(minutes=5))
    cache.put("vix", 42, T0)
    assert cache.get("vix", T0 + timedelta(minutes=4, seconds=59)) == 42
    assert cache.age("vix", T0 + timedelta(minutes=1)) == timedelta(minutes=1)


def test_ttl_cache_at_ttl_expires_entry():
    cache: TTLCache[str, int] = TTLCache(timedelta(minutes=5))
    cache.put("vix", 42, T0)
    assert cache.get("vix", T0 + timedelta(minutes=5)) is None
    assert len(cache) == 0


def test_ttl_cache_get_or_compute_with_fresh_entry_does_not_recompute():
    cache: TTLCache[str, int] = TTLCache(timedelta(hours=1))
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_compute("corr", T0, compute) == 1
    assert cache.get_or_compute("corr", T0 + timedelta(minutes=59), compute) == 1
    assert cache.get_or_compute("corr", T0 + timedelta(hours=1), compute) == 2
    assert len(calls) == 2


def test_ttl_cache_with_full_cache_evicts_oldest():
    cache: TTLCache[str, int] = TTLCache(timedelta(hours=1), max_entries=2)
    cache.put("a", 1, T0)
    cache.put("b", 2, T0 + timedelta(minutes=1))
    cache.put("c", 3, T0 + timedelta(minutes=2))
    now = T0 + timedelta(minutes=3)
    assert cache.get("a", now) is None
    assert (cache.get("b", now), cache.get("c", now)) == (2, 3)


def test_ttl_cache_purge_and_invalidate_drop_entries():
    cache: TTLCache[str, int] = TTLCache(timedelta(minutes=5))
    cache.put("old", 1, T0)
    cache.put("new", 2, T0 + timedelta(minutes=4))
    assert cache.purge(T0 + timedelta(minutes=6)) == 1
    cache.invalidate("new")
    assert len(cache) == 0


def test_ttl_cache_with_naive_time_raises():
    cache: TTLCache[str, int] = TTLCache(timedelta(minutes=5))
    with pytest.raises(ValueError, match="timezone-aware"):
        cache.put("x", 1, datetime(2024, 1, 1))


def test_ttl_cache_with_non_positive_ttl_raises():
    with pytest.raises(ValueError, match="ttl must be positive"):
        TTLCache(timedelta(0))
