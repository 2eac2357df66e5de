from datetime import UTC, datetime


def utcnow() -> datetime:
    """Aware UTC time truncated to milliseconds, the precision MongoDB stores."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
