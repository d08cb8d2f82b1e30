"""Quick reachability probes for PostgreSQL and Redis, used to choose test backends."""

from __future__ import annotations


def postgres_reachable(url: str, timeout: int = 2) -> tuple[bool, str]:
    """Return (True, "") if a PostgreSQL server answers at ``url``, else (False, why)."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a pinned requirement
        return False, f"psycopg is not installed: {exc}"
    try:
        with psycopg.connect(url, connect_timeout=timeout) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return False, f"PostgreSQL at {url} did not answer: {str(exc).splitlines()[0]}"
    return True, ""


def redis_reachable(url: str, timeout: float = 1.0) -> tuple[bool, str]:
    """Return (True, "") if a Redis server answers PING at ``url``, else (False, why)."""
    try:
        import redis
    except ImportError as exc:  # pragma: no cover
        return False, f"redis is not installed: {exc}"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        client.ping()
        client.close()
    except Exception as exc:
        return False, f"Redis at {url} did not answer: {str(exc).splitlines()[0]}"
    return True, ""
