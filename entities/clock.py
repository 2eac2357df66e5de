from datetime import UTC, datetime


def utcnow() -> datetime:
    """Aware UTC time truncated to milliseconds, the precision MongoDB stores."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso_utc(value: datetime) -> str:
    """`value` as API.md writes times: ISO-8601 UTC ending in `Z`; a naive value is UTC."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")
