"""`reconciler serve`: the embedded control plane over HTTP (Tailscale API v2 subset).

Layer: server, beside `backends`; imported by the CLI and by tests. See `server.app`.
"""

from reconciler.backends.local.server.app import (
    ControlServer,
    ResponseRecord,
    ServeConfig,
    make_server,
)
from reconciler.backends.local.server.faults import Fault, FaultQueue

__all__ = ["ControlServer", "Fault", "FaultQueue", "ResponseRecord", "ServeConfig",
           "make_server"]
