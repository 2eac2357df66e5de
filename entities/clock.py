from datetime import datetime, timezone


def utcnow() -> datetime:
    """Aware UTC time truncated to milliseconds, the precision MongoDB stores."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
