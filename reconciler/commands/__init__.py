"""Commands: the use cases, one per verb; the CLI calls these."""
