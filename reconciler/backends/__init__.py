"""Control planes behind one interface, and the registry that opens them by name.

backends/ (fetch and push). May import: `backends.*`, `errors`. `open_backend(target, root=,
env=)` turns a `reconciler.load.config.Target` (or any object with `name`, `backend`,
`path`, `tailnet`, `base_url` and optionally `timeout` and `options`) into a Backend.
The tailscale and headscale modules are imported only when used, so the local
backend does not load httpx.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reconciler.backends.base import Backend, LivePolicy, ValidationResult
from reconciler.core.errors import ConfigError

DEFAULT_LOCAL_DB = ".reconciler/local.db"


def _open_local(target: Any, root: Path, env: Mapping[str, str]) -> Backend:
    return open_local(target, root)


def open_local(target: Any, root: Path) -> Any:
    """A local target's store (a LocalBackend), seeded as its `seed` option says when new."""
    from reconciler.backends.local.backend import LocalBackend

    choice = (getattr(target, "options", None) or {}).get("seed") or "demo"
    return LocalBackend(local_db_path(target, root),
                        seed_with=lambda: _seed(target, root, choice))


def _seed(target: Any, root: Path, choice: str) -> Any:
    """What a new local store starts with: `demo`, `empty` or an inventory file's tailnet."""
    from reconciler.backends.local import seed

    if choice == "demo":
        return seed.demo_seed()
    if choice == "empty":
        return seed.empty_seed()
    # An inventory file, read with the engine's reader (the one format for users and
    # devices); imported here, when a store is created, not on every open.
    from reconciler.engine.inventory_io import load_inventory

    path = Path(choice) if Path(choice).is_absolute() else Path(root) / choice
    if not path.is_file():
        raise ConfigError(
            f'target "{getattr(target, "name", "?")}": seed file {choice} not found',
            "Point seed at an inventory file (users and devices; see `reconciler test "
            "--help`), or use seed: demo or seed: empty.")
    return seed.seed_from_inventory(load_inventory(path), str(choice))


def _open_tailscale(target: Any, root: Path, env: Mapping[str, str]) -> Backend:
    from reconciler.backends.tailscale import TailscaleBackend

    return TailscaleBackend.from_target(target, env=env)


def _open_headscale(target: Any, root: Path, env: Mapping[str, str]) -> Backend:
    from reconciler.backends.headscale import HeadscaleBackend

    return HeadscaleBackend.from_target(target, env=env)


# name -> factory(target, root, env); a plain dict, as pre-commit's language registry.
REGISTRY: dict[str, Callable[[Any, Path, Mapping[str, str]], Backend]] = {
    "local": _open_local,
    "tailscale": _open_tailscale,
    "headscale": _open_headscale,
}


def local_db_path(target: Any, root: Path) -> Path:
    """The local target's SQLite file, relative paths taken from the repo root."""
    path = Path(getattr(target, "path", None) or DEFAULT_LOCAL_DB)
    return (path if path.is_absolute() else Path(root) / path).resolve()


def open_backend(target: Any, *, root: Path, env: Mapping[str, str]) -> Backend:
    """Open the control plane `target` names; credentials come from `env` by name only."""
    kind = getattr(target, "backend", None)
    factory = REGISTRY.get(str(kind))
    if factory is None:
        raise ConfigError(
            f'target "{getattr(target, "name", "?")}": unknown backend {kind!r}',
            f"Use one of: {', '.join(sorted(REGISTRY))}.",
        )
    return factory(target, Path(root), env)


__all__ = ["REGISTRY", "Backend", "LivePolicy", "ValidationResult", "local_db_path",
           "open_backend", "open_local"]
