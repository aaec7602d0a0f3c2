"""Plan: build the plan, the plan file, apply it, drift."""
