"""Core: the lowest layer (errors, source locations, problems, runtime)."""
