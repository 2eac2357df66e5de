"""The outside world behind the use-case ports."""
