"""load/ (step: load): read `reconciler.yaml`, the targets and options of a desired-state repo.

May import: yaml, `yamlsource`, `errors`, `source`, `problems`, `suggest`. The file is
read by the fragments' reader (`yamlsource`), so it has the same bounds on nesting,
aliases and numbers, and the same located errors. The file is optional: a
repository with only `policies/` works and targets the embedded local backend.
Credentials are never read from this file; they come from the environment by name
(see `credential_env`), each target's own names where it gives them (`api_key_env`...).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.core.errors import ConfigError, CredentialsError, ReconcilerError
from reconciler.core.suggest import did_you_mean, unknown_key
from reconciler.load.yamlsource import load_yaml

CONFIG_FILE = "reconciler.yaml"
BACKENDS = ("local", "tailscale", "headscale")
DEFAULT_LOCAL_DB = ".reconciler/local.db"
DEFAULT_TAILSCALE_URL = "https://api.tailscale.com"

TOP_KEYS = ("policies", "default_target", "targets", "lint", "sensitive_tags")
# Per target, the name of the environment variable holding each credential (never the
# credential itself): `api_key_env: TS_API_KEY_PROD`. Unset, the defaults below apply.
CREDENTIAL_KEYS = {
    "local": {},
    "tailscale": {"api_key_env": "TS_API_KEY", "oauth_client_id_env": "TS_OAUTH_CLIENT_ID",
                  "oauth_client_secret_env": "TS_OAUTH_CLIENT_SECRET",
                  "id_token_env": "TS_ID_TOKEN"},
    "headscale": {"api_key_env": "HEADSCALE_API_KEY"},
}
TARGET_KEYS = {
    "local": ("backend", "path", "seed"),
    "tailscale": ("backend", "tailnet", "base_url", "timeout", "posture",
                  *CREDENTIAL_KEYS["tailscale"]),
    "headscale": ("backend", "base_url", "timeout", *CREDENTIAL_KEYS["headscale"]),
}
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Target:
    """One control plane the desired state is reconciled against."""

    name: str
    backend: str
    path: str = DEFAULT_LOCAL_DB  # local: the SQLite file, relative to the repo root
    tailnet: str = "-"
    base_url: str = ""
    timeout: float = 30.0
    options: Mapping[str, Any] = field(default_factory=dict)
    # Default credential variable -> the one this target reads instead (names only).
    credential_names: Mapping[str, str] = field(default_factory=dict)

    def db_path(self, root: Path) -> Path:
        return (root / self.path).resolve()

    def credential_vars(self) -> tuple[str, ...]:
        """The environment variables this target's credentials are read from."""
        return tuple(self.credential_names.get(v, v)
                     for v in CREDENTIAL_VARS.get(self.backend, ()))


@dataclass(frozen=True)
class Config:
    root: Path
    policies: str = "policies"
    default_target: str = "local"
    targets: Mapping[str, Target] = field(default_factory=dict)
    lint: Mapping[str, Any] = field(default_factory=dict)
    file: Path | None = None  # None when the repo has no reconciler.yaml
    # Tags whose devices matter most (production, data): `report` lists who reaches
    # them. None: not configured, so tags named like production are taken.
    sensitive_tags: tuple[str, ...] | None = None

    @property
    def policies_dir(self) -> Path:
        return self.root / self.policies

    def target(self, name: str | None) -> Target:
        """The named target, or the default one; a clear error for an unknown name."""
        chosen = name or self.default_target
        if chosen in self.targets:
            return self.targets[chosen]
        names = ", ".join(sorted(self.targets)) or "(none)"
        raise ConfigError(
            f'unknown target "{chosen}"{did_you_mean(chosen, self.targets)}',
            f"Targets defined in {self.file or CONFIG_FILE}: {names}.",
        )


def _where(path: Path, node: yaml.Node | None) -> str:
    if node is None:
        return str(path)
    return f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _mapping_nodes(node: yaml.Node) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    return {k.value: (k, v) for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}


def load_config(root: Path) -> Config:
    """Read `root/reconciler.yaml` if present; every problem is one ConfigError."""
    root = root.resolve()
    path = root / CONFIG_FILE
    default = Config(root=root, targets={"local": Target(name="local", backend="local")})
    if not path.exists():
        return default
    shown = path.relative_to(root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {shown}: {e}",
                          f"Make {shown} a readable UTF-8 file.") from e
    data, _, found = load_yaml(text.removeprefix("\ufeff"), file=str(shown))
    if found:
        raise ConfigError(str(found[0]), "\n".join(
            [str(p) for p in found[1:]] + [f"Fix {shown} at the place shown."]))
    # Safe now: the text is one document, nested at most yamlsource.MAX_DEPTH deep.
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if data is None:
        return default
    if not isinstance(data, dict):
        raise ConfigError(f"{_where(shown, node)}: {CONFIG_FILE} must be a mapping")

    problems: list[str] = []
    top = _mapping_nodes(node)
    for key, (knode, _) in top.items():
        if key not in TOP_KEYS:
            problems.append(f"{_where(shown, knode)}: {unknown_key(key, TOP_KEYS)}")

    policies = data.get("policies", "policies")
    if not isinstance(policies, str) or not policies or _unusable_path(policies):
        problems.append(f"{_where(shown, top.get('policies', (None, None))[1])}: "
                        "policies must be a directory path")
        policies = "policies"

    targets: dict[str, Target] = {}
    raw_targets = data.get("targets") or {}
    targets_node = top.get("targets", (None, None))[1]
    if not isinstance(raw_targets, dict):
        problems.append(f"{_where(shown, targets_node)}: targets must be a mapping of names")
        raw_targets = {}
    target_nodes = _mapping_nodes(targets_node) if targets_node is not None else {}
    for name, spec in raw_targets.items():
        tnode = target_nodes.get(str(name), (None, None))[1]
        target, wrong = _parse_target(str(name), spec, shown, tnode)
        problems.extend(wrong)
        if target is not None:
            targets[str(name)] = target
    if not targets:
        targets = dict(default.targets)

    default_target = data.get("default_target")
    if default_target is None:
        default_target = "local" if "local" in targets else sorted(targets)[0]
    elif default_target not in targets:
        where = _where(shown, top["default_target"][1])
        problems.append(
            f'{where}: default_target "{default_target}" is not a defined target'
            f"{did_you_mean(str(default_target), targets)}"
        )

    lint = data.get("lint") or {}
    if not isinstance(lint, dict):
        problems.append(f"{_where(shown, top['lint'][1])}: lint must be a mapping")
        lint = {}

    sensitive = data.get("sensitive_tags")
    if sensitive is not None and not (
            isinstance(sensitive, list)
            and all(isinstance(t, str) and t.startswith("tag:") for t in sensitive)):
        problems.append(f"{_where(shown, top['sensitive_tags'][1])}: sensitive_tags must be "
                        "a list of tags, e.g. [tag:prod, tag:db]")
        sensitive = None

    if problems:
        raise ConfigError(
            f"{len(problems)} error{'s' if len(problems) != 1 else ''} in {shown}",
            "\n".join(problems),
        )
    return Config(root=root, policies=policies, default_target=str(default_target),
                  targets=targets, lint=lint, file=path,
                  sensitive_tags=tuple(sensitive) if sensitive is not None else None)


def _parse_target(
    name: str, spec: Any, shown: Path, node: yaml.Node | None
) -> tuple[Target | None, list[str]]:
    where = _where(shown, node)
    if not isinstance(spec, dict):
        return None, [f'{where}: target "{name}" must be a mapping with a "backend" key']
    backend = spec.get("backend")
    if backend not in BACKENDS:
        hint = did_you_mean(str(backend), BACKENDS) if backend else ""
        return None, [f'{where}: target "{name}": backend must be one of '
                      f"{', '.join(BACKENDS)}, not {backend!r}{hint}"]
    problems: list[str] = []
    fields = _mapping_nodes(node) if node is not None else {}
    for key in spec:
        if key not in TARGET_KEYS[backend]:
            knode = fields.get(str(key), (None, None))[0]
            problems.append(f"{_where(shown, knode)}: target \"{name}\": "
                            f"{unknown_key(str(key), TARGET_KEYS[backend])}")
    for key in ("path", "tailnet", "base_url"):
        if key in spec and not (isinstance(spec[key], str) and spec[key]):
            problems.append(f'{where}: target "{name}": {key} must be a non-empty string')
    if isinstance(spec.get("path"), str) and _unusable_path(spec["path"]):
        problems.append(f'{where}: target "{name}": path must be a file path '
                        "(no control characters)")
    tailnet = spec.get("tailnet")
    if isinstance(tailnet, str) and tailnet and not _TAILNET.fullmatch(tailnet):
        problems.append(f'{where}: target "{name}": tailnet must be "-" or a tailnet name '
                        "(letters, digits and . _ @ + -)")
    timeout = spec.get("timeout", 30.0)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) \
            or not 0 < timeout <= MAX_TIMEOUT:
        problems.append(f'{where}: target "{name}": timeout must be a positive number of seconds'
                        f" (at most {MAX_TIMEOUT})")
        timeout = 30.0
    base_url = str(spec.get("base_url") or "")
    if backend == "tailscale" and not base_url:
        base_url = DEFAULT_TAILSCALE_URL
    if backend == "headscale" and not base_url:
        problems.append(f'{where}: target "{name}": headscale targets need a base_url')
    if base_url and not base_url.startswith(("http://", "https://")):
        problems.append(f'{where}: target "{name}": base_url must start with http:// or https://')
    elif base_url and (reason := _bad_url(base_url)):
        problems.append(f'{where}: target "{name}": base_url {reason}')
    options: dict[str, Any] = {}
    if "seed" in spec:
        # What a new local store starts with; checked when the store is created.
        if not (isinstance(spec["seed"], str) and spec["seed"]):
            problems.append(f'{where}: target "{name}": seed must be demo, empty or the path '
                            "of an inventory file")
        else:
            options["seed"] = spec["seed"]
    if "posture" in spec:
        if not isinstance(spec["posture"], bool):
            problems.append(f'{where}: target "{name}": posture must be true or false')
        else:
            # Device posture attributes cost one request per device; off by default.
            options["posture"] = spec["posture"]
    names: dict[str, str] = {}
    for key, default in CREDENTIAL_KEYS[backend].items():
        if key not in spec:
            continue
        value = spec[key]
        if isinstance(value, str) and ENV_NAME.fullmatch(value):
            names[default] = value
        else:
            # Never echo the value: it may be the secret itself, pasted by mistake.
            vnode = fields.get(key, (None, None))[1]
            problems.append(
                f'{_where(shown, vnode)}: target "{name}": {key} must be the name of an '
                f"environment variable (letters, digits and _), like {default}; the "
                "credential itself goes in that variable, never in this file")
    target = Target(
        name=name,
        backend=backend,
        path=str(spec.get("path") or DEFAULT_LOCAL_DB),
        tailnet=str(spec.get("tailnet") or "-"),
        base_url=base_url.rstrip("/"),
        timeout=float(timeout),
        options=options,
        credential_names=names,
    )
    return target, problems


MAX_TIMEOUT = 86_400  # a day; also keeps NaN and infinity away from the sockets
# Goes into API paths unquoted (/api/v2/tailnet/<tailnet>/acl).
_TAILNET = re.compile(r"[A-Za-z0-9._@+-]+")


def _unusable_path(path: str) -> bool:
    """A NUL, another control character or half a surrogate pair: no file has it."""
    return any(ord(c) < 0x20 or 0xD800 <= ord(c) <= 0xDFFF for c in path)


# What an HTTP client accepts without question: scheme://host[:port][/path]. A stricter
# grammar than RFC 3986 on purpose (no user info, query or fragment; ASCII host names
# whose labels are not IDNA-reserved), so a URL that passes here is one httpx takes.
_URL = re.compile(r"(?P<scheme>https?)://(?P<host>\[[^\]/]*\]|[^:/\[\]]*)"
                  r"(?::(?P<port>[0-9]{1,5}))?(?P<path>/.*)?", re.DOTALL)
_LABEL = re.compile(r"(?!..--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_PATH = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")


def _bad_url(url: str) -> str | None:
    """Why `url` is no base URL the HTTP client can request, or None."""
    if any(ord(c) <= 0x20 or 0x7F <= ord(c) <= 0x9F for c in url):
        return "must not contain spaces or control characters"
    match = _URL.fullmatch(url)
    if match is None:
        return "must look like http(s)://host[:port][/path]"
    host, port, path = match["host"], match["port"], match["path"] or ""
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"has an invalid IPv6 address {host}"
    elif _IPV4_STYLE.fullmatch(host):  # never a name, to HTTP clients
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"has an invalid IPv4 address {host}"
    elif not host or not all(_LABEL.fullmatch(label)
                             for label in host.removesuffix(".").split(".")):
        return (f"has an invalid host name {host!r} (letters, digits, hyphens and dots; "
                "an IP address; or [IPv6])")
    if port is not None and not 0 < int(port) <= 65535:
        return f"has an invalid port {port}"
    if not _PATH.fullmatch(path):
        return "has a path with characters that must be percent-encoded, or a ? or #"
    return None


# --- credentials: names only ------------------------------------------------------------

CREDENTIAL_VARS = {
    "tailscale": ("TS_API_KEY", "TS_OAUTH_CLIENT_ID", "TS_OAUTH_CLIENT_SECRET", "TS_ID_TOKEN"),
    "headscale": ("HEADSCALE_API_KEY",),
    "local": (),
}


@dataclass(frozen=True)
class Credentials:
    """Which credential to use, resolved from the environment. `repr` never shows values."""

    kind: str  # "api-key" | "oauth" | "workload-identity" | "none"
    values: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"Credentials(kind={self.kind!r}, from={sorted(self.values)})"


def credential_env(backend: str, env: Mapping[str, str] | None = None,
                   names: Mapping[str, str] | None = None) -> Credentials:
    """Pick the credential for `backend` from the environment, with explicit precedence.

    Tailscale: TS_API_KEY alone; or TS_OAUTH_CLIENT_ID with TS_OAUTH_CLIENT_SECRET (OAuth
    client credentials); or TS_OAUTH_CLIENT_ID with TS_ID_TOKEN (workload identity).
    Setting more than one of these is a conflict, not a silent choice. `names` maps a
    default variable to the one a target reads instead (`Target.credential_names`); the
    values come back under the default names, and messages say the names read.
    """
    env = os.environ if env is None else env
    names = names or {}

    def n(default: str) -> str:
        return names.get(default, default)

    present = {k: env[n(k)] for k in CREDENTIAL_VARS.get(backend, ()) if env.get(n(k))}
    if backend == "local":
        return Credentials("none")
    if backend == "headscale":
        if "HEADSCALE_API_KEY" not in present:
            raise CredentialsError(
                f"no Headscale credentials: {n('HEADSCALE_API_KEY')} is not set",
                "Create one with `headscale apikeys create` and export it as "
                f"{n('HEADSCALE_API_KEY')}.",
            )
        return Credentials("api-key", present)
    key, cid, secret, token = (n("TS_API_KEY"), n("TS_OAUTH_CLIENT_ID"),
                               n("TS_OAUTH_CLIENT_SECRET"), n("TS_ID_TOKEN"))
    api_key = "TS_API_KEY" in present
    oauth = "TS_OAUTH_CLIENT_SECRET" in present
    wif = "TS_ID_TOKEN" in present
    chosen = [name for name, on in ((key, api_key), (secret, oauth), (token, wif)) if on]
    if len(chosen) > 1:
        raise CredentialsError(
            "conflicting Tailscale credentials: " + " and ".join(chosen) + " are both set",
            f"Set exactly one of {key}, {cid} + {secret}, or {cid} + {token}.",
        )
    if api_key:
        return Credentials("api-key", present)
    if (oauth or wif) and "TS_OAUTH_CLIENT_ID" not in present:
        missing_for = secret if oauth else token
        raise CredentialsError(
            f"{missing_for} is set but {cid} is not",
            f"Export the OAuth client's ID as {cid}.",
        )
    if oauth:
        return Credentials("oauth", present)
    if wif:
        return Credentials("workload-identity", present)
    if "TS_OAUTH_CLIENT_ID" in present:
        raise CredentialsError(
            f"{cid} is set without {secret} or {token}",
            f"Export the OAuth client secret as {secret}, or a workload identity "
            f"token as {token}.",
        )
    raise CredentialsError(
        "no Tailscale credentials in the environment",
        f"Set {key}, or {cid} + {secret} (scopes: policy_file, "
        f"devices:core, users:read), or {cid} + {token}.",
    )


def sensitive_tags_at(root: Path, ref: str) -> tuple[str, ...] | None:
    """`sensitive_tags` of reconciler.yaml as it was at git revision `ref`; None when the
    file, the key or a readable list of tags is not there (best effort: it is only
    compared with today's list)."""
    from reconciler.load import gitsource

    try:
        data = gitsource.read_file(root, ref, root.resolve() / CONFIG_FILE)
        if data is None:
            return None
        # The same guarded reader as today's file (size, depth, aliases).
        loaded, _, found = load_yaml(data.decode("utf-8").removeprefix("\ufeff"),
                                     file=CONFIG_FILE)
    except (ReconcilerError, UnicodeDecodeError):
        return None
    tags = loaded.get("sensitive_tags") if isinstance(loaded, dict) and not found else None
    if isinstance(tags, list) and all(isinstance(t, str) and t.startswith("tag:")
                                      for t in tags):
        return tuple(tags)
    return None
