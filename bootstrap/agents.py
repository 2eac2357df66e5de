"""Agents: their CRUD, tool kinds and the tool loop (built in a later commit)."""
from __future__ import annotations
