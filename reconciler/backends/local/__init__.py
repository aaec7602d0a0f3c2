"""The embedded local control plane: SQLite store, seed, HTTP server."""
