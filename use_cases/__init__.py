"""Application rules, one module per area. Ports (interfaces) live in use_cases.ports."""
