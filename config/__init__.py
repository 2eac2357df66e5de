"""Settings read from the environment and logging set-up."""
from config.settings import Settings

__all__ = ["Settings"]
