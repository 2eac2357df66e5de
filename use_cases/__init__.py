"""Application rules, one package per area; each area's ports.py holds the interfaces it needs."""
