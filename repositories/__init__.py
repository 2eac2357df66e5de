"""MongoDB implementations of the repository ports."""
