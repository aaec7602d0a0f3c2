"""The vocabulary of a Tailscale policy document, as data.

Policy model layer (stdlib only). Which keys each section and each entry type allows,
and the JSON type each expects. `shapes` checks documents against it; a JSON Schema for
desired-state fragments can be generated from it later (`Field.type` uses JSON Schema
type names; `entry` names the entry type of an array's items or a map's values).

Type tokens: "string", "boolean", "integer", "number", "object" (free-form),
"array" (of `items`), "map" (object with arbitrary keys, values of `items`),
"any"; as `items` also "strings" (a list of strings) and "objects" (a list of objects).
`entry` (for "object", "array" of objects or "map" of objects) names a key of
ENTRY_TYPES whose fields apply.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    type: str
    items: str | None = None  # element type for "array" and value type for "map"
    entry: str | None = None  # ENTRY_TYPES key for object-shaped items / values
    description: str = ""
    # Legacy or alternate spelling accepted by Tailscale for the same field.
    alias_of: str | None = None


def _strings(description: str = "", alias_of: str | None = None) -> Field:
    return Field("array", items="string", description=description, alias_of=alias_of)


TOP_LEVEL: dict[str, Field] = {
    "acls": Field("array", items="object", entry="acl", description="network rules (legacy)"),
    "grants": Field("array", items="object", entry="grant", description="network and app rules"),
    "ssh": Field("array", items="object", entry="ssh", description="Tailscale SSH rules"),
    "groups": Field("map", items="strings", description='"group:<name>" -> user logins'),
    "tagOwners": Field("map", items="strings", description='"tag:<name>" -> owners'),
    "hosts": Field("map", items="string", description="name -> IP or CIDR"),
    "ipsets": Field("map", items="strings", description='"ipset:<name>" -> operations'),
    "postures": Field("map", items="strings", description='"posture:<name>" -> conditions'),
    "defaultSrcPosture": _strings("posture names applied to rules without srcPosture"),
    "autoApprovers": Field("object", entry="autoApprovers"),
    "nodeAttrs": Field("array", items="object", entry="nodeAttr"),
    "tests": Field("array", items="object", entry="test"),
    "sshTests": Field("array", items="object", entry="sshTest"),
    "derpMap": Field("object", entry="derpMap"),
    "disableIPv4": Field("boolean", description="deprecated: use the disable-ipv4 nodeAttr"),
    "OneCGNATRoute": Field("string", description='"", "mac-always" or "mac-never"'),
    "oneCGNATRoute": Field("string", alias_of="OneCGNATRoute"),
    "randomizeClientPort": Field("boolean"),
    "attrConfig": Field("map", items="object", entry="attrConfig"),
}

ENTRY_TYPES: dict[str, dict[str, Field]] = {
    "acl": {
        "action": Field("string", description='only "accept"'),
        "src": _strings("selectors"),
        "dst": _strings('"<selector>:<ports>"'),
        "proto": Field("string", description="protocol name or number 1-255"),
        "srcPosture": _strings("posture names"),
        "users": _strings(alias_of="src"),
        "ports": _strings(alias_of="dst"),
    },
    "grant": {
        "src": _strings("selectors"),
        "dst": _strings("selectors, no ports"),
        "ip": _strings('"*", "<ports>", "<proto>:<ports>"'),
        "app": Field("map", items="objects", description='"<domain>/<capability>" -> [objects]'),
        "srcPosture": _strings("posture names"),
        "via": _strings("tags of routers"),
    },
    "ssh": {
        "action": Field("string", description='"accept" or "check"'),
        "src": _strings("users, groups, tags, autogroups"),
        "dst": _strings("tags, autogroup:self, a user"),
        "users": _strings("local user names"),
        "checkPeriod": Field("string", description='Go duration or "always"'),
        "acceptEnv": _strings("environment variable globs"),
        "srcPosture": _strings("posture names"),
        "recorder": _strings("tags of the session recorder nodes"),
        "enforceRecorder": Field("boolean", description="refuse sessions no recorder takes"),
    },
    "nodeAttr": {
        "target": _strings("selectors"),
        "attr": _strings("node capabilities"),
        "app": Field("map", items="objects"),
        "ipPool": _strings("CIDRs inside 100.64.0.0/10"),
    },
    "test": {
        "src": Field("string", description="user, group, tag, host or IP"),
        "user": Field("string", alias_of="src"),
        "proto": Field("string"),
        "srcPostureAttrs": Field("map", items="any"),
        "accept": _strings('"<host>:<port>"'),
        "allow": _strings(alias_of="accept"),
        "deny": _strings('"<host>:<port>"'),
    },
    "sshTest": {
        "src": Field("string"),
        "dst": _strings("tags, users, groups, hosts"),
        "accept": _strings("local user names"),
        "check": _strings("local user names"),
        "deny": _strings("local user names"),
        "srcPostureAttrs": Field("map", items="any"),
    },
    "autoApprovers": {
        "routes": Field("map", items="strings", description="CIDR -> approvers"),
        "exitNode": _strings("approvers"),
        "services": Field("map", items="strings",
                          description='"svc:<name>" or "tag:<name>" -> approvers'),
    },
    # derpMap follows tailcfg.DERPMap, whose JSON names are Go field names; Go matches
    # them case-insensitively, and the docs write them capitalised.
    "derpMap": {
        "Regions": Field("map", items="object", entry="derpRegion"),
        "OmitDefaultRegions": Field("boolean"),
    },
    "derpRegion": {
        "RegionID": Field("integer"),
        "RegionCode": Field("string"),
        "RegionName": Field("string"),
        "Latitude": Field("number"),
        "Longitude": Field("number"),
        "Avoid": Field("boolean"),
        "NoMeasureNoHome": Field("boolean"),
        "Nodes": Field("array", items="object", entry="derpNode"),
    },
    "derpNode": {
        "Name": Field("string"),
        "RegionID": Field("integer"),
        "HostName": Field("string"),
        "CertName": Field("string"),
        "IPv4": Field("string"),
        "IPv6": Field("string"),
        "STUNPort": Field("integer"),
        "STUNOnly": Field("boolean"),
        "DERPPort": Field("integer"),
        "InsecureForTests": Field("boolean"),
        "STUNTestIP": Field("string"),
        "CanPort80": Field("boolean"),
    },
    "attrConfig": {
        "type": Field("string"),
        "allowSetByNode": Field("boolean"),
        "broadcastToPeers": Field("boolean"),
    },
}

# Entry types whose keys Go matches case-insensitively without the docs preferring one
# spelling; for the others a case-only mismatch is accepted with a warning.
CASE_INSENSITIVE_ENTRIES = frozenset({"derpMap", "derpRegion", "derpNode"})

# The names Tailscale requires at the start of map keys per section.
KEY_PREFIXES: dict[str, str] = {
    "groups": "group:",
    "tagOwners": "tag:",
    "ipsets": "ipset:",
    "postures": "posture:",
}
