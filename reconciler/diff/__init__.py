"""Diff: normalize both sides, then resource changes and access changes."""
