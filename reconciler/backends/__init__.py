"""Control planes behind one interface, and the registry that opens them by name.

Layer 4 (backends). May import: `backends.*`, `errors`. `open_backend(target, root=,
env=)` turns a `reconciler.config.Target` (or any object with `name`, `backend`,
`path`, `tailnet`, `base_url` and optionally `timeout` and `options`) into a Backend.
The tailscale and headscale modules are imported only when used, so the local
backend does not load httpx.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reconciler.backends.base import Backend, LivePolicy, ValidationResult
from reconciler.errors import ConfigError

DEFAULT_LOCAL_DB = ".reconciler/local.db"


def _open_local(target: Any, root: Path, env: Mapping[str, str]) -> Backend:
    from reconciler.backends.local import LocalBackend

    return LocalBackend(local_db_path(target, root))


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
           "open_backend"]
