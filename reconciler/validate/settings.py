"""Settings: derpMap and the scalar top-level settings (OneCGNATRoute, disableIPv4).

Policy model layer (imports `policy.context`, `problems`, `source`). Types were checked by
`shapes`; this checks values (policy-semantics.md 1.2).
"""

from __future__ import annotations

from reconciler.core.problems import Severity
from reconciler.core.source import PathKey
from reconciler.validate.context import Context, as_map


def check_derp_map(ctx: Context) -> None:
    derp = as_map(ctx.policy.get("derpMap"))
    regions_key = next((k for k in derp if isinstance(k, str) and k.lower() == "regions"), None)
    if regions_key is None:
        return
    for key, region in as_map(derp[regions_key]).items():
        path: PathKey = ("derpMap", regions_key, key)
        if not isinstance(key, str) or not key.isdigit():
            ctx.report(
                path, f'derpMap region "{key}": region keys must be numbers', "derp", key=True
            )
            continue
        region_id = next((v for k, v in as_map(region).items() if k.lower() == "regionid"), None)
        if isinstance(region_id, int) and str(region_id) != key:
            ctx.report(
                path,
                f'derpMap region "{key}": RegionID {region_id} does not match its key',
                "derp",
            )


_CGNAT_ROUTE_VALUES = ("", "mac-always", "mac-never")


def check_settings(ctx: Context) -> None:
    spellings = [k for k in ("OneCGNATRoute", "oneCGNATRoute") if k in ctx.policy]
    if len(spellings) == 2:
        ctx.report(
            ("oneCGNATRoute",),
            'both "OneCGNATRoute" and "oneCGNATRoute" are set; they are the same setting',
            "setting",
            key=True,
        )
    for key in spellings:
        value = ctx.policy[key]
        if isinstance(value, str) and value not in _CGNAT_ROUTE_VALUES:
            ctx.report(
                (key,),
                f'{key}: "{value}" is not one of "", "mac-always", "mac-never"',
                "setting",
            )
    if ctx.policy.get("disableIPv4") is True:
        ctx.report(
            ("disableIPv4",),
            'disableIPv4 is deprecated; use the "disable-ipv4" nodeAttr',
            "deprecated",
            severity=Severity.WARNING,
        )
