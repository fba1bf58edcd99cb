"""Traefik routing helpers: the ONE place router labels are written, plus the checks around them.

Filters (all pure, raising AnsibleFilterError naming the offending value):

- ``traefik_labels(name, hosts, port, ...)``: the Swarm/Docker label dict for one routed service.
- ``traefik_hosts_rule(hosts)``: ``Host(`a`) || Host(`b`)``.
- ``traefik_tls_for(hosts, certificates)``: the router ``tls`` section (certResolver and
  domains) for hosts covered by the edge's certificate groups.
- ``traefik_resolver_name(group)``: the certificate resolver a group of ``mode: acme`` uses.
- ``traefik_certificates_check(certificates, ...)``: validate the certificate groups.
- ``traefik_platform_routes(platforms)``: the routes ``bizosaas_platforms`` claims.
- ``traefik_unique_hosts(routes)``: refuse two routes claiming the same host, naming both.
- ``htpasswd_entries(users, existing)``: ``user:hash`` lines that keep their hash across runs
  while the password is unchanged.
- ``traefik_tls_errors(settings)``: what is wrong with the TLS and HSTS settings, one message each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: traefik_labels
short_description: Traefik router labels for a Swarm service or a Docker container
description:
  - Returns the label dict (all values strings) that routes C(hosts) to the service's C(port)
    over TLS on C(entrypoint). Every role that routes a service uses this filter.
  - The certificate resolver comes from C(certresolver), or, when C(certificates) (the edge's
    certificate groups) is given, from the C(acme) group that covers the hosts. Hosts covered by
    a C(files) or C(selfsigned) group get C(tls=true) only: Traefik picks the file certificate by SNI.
options:
  _input: {description: "Router name: lowercase letters, digits and dashes", type: str, required: true}
  hosts: {description: Host names the router matches, type: list, elements: str, required: true}
  port: {description: Port the service listens on inside the container, type: int, required: true}
  entrypoint: {description: Traefik entry point, type: str, default: websecure}
  certresolver: {description: "Certificate resolver name (overrides C(certificates))", type: str}
  tls_options: {description: "TLS options name, for example C(modern@file)", type: str}
  middlewares: {description: "Middlewares, for example C(bizosaas-security-headers@file)", type: list, elements: str}
  network: {description: Docker network Traefik reaches the service on, type: str, default: dokploy-network}
  provider: {description: "C(swarm) (labels under deploy.labels) or C(docker)", type: str, default: swarm}
  certificates: {description: The edge's certificate groups (traefik_certificates), type: list, elements: dict}
  priority: {description: Router priority, type: int}
  lbswarm:
    description:
      - "C(swarm) only: route to the service's virtual IP (C(traefik.swarm.lbswarm=true)) instead of
        the task IPs Traefik learns by polling. Swarm takes a task out of the VIP before it stops it
        and adds it only once healthy, so a rolling update never reaches a stopped task. Needs
        C(endpoint_mode: vip) (IPVS); Traefik ignores it for C(dnsrr) services."
    type: bool
    default: false
"""

# A host name (RFC 1123 labels, a letter-only TLD or 'localhost'), optionally a leading wildcard.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^(\*\.)?(?:{_LABEL}\.)+[a-z][a-z0-9-]{{0,62}}(?<!-)$|^localhost$")
_ROUTER = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ENV = re.compile(r"^[A-Z][A-Z0-9_]*$")
MODES = ("acme", "files", "selfsigned")
CHALLENGES = ("http", "dns")
HTTP_RESOLVER = "letsencrypt"  # Dokploy's resolver name: apps created in Dokploy's UI keep working


def valid_domain(domain: Any) -> bool:
    return isinstance(domain, str) and len(domain) <= 253 and bool(_DOMAIN.match(domain))


def _hosts(hosts: Any, what: str) -> list[str]:
    if isinstance(hosts, str):
        hosts = [hosts]
    if not isinstance(hosts, (list, tuple)) or not hosts:
        raise AnsibleFilterError(f"{what}: hosts must be a non-empty list of host names, got {hosts!r}")
    out = []
    for h in hosts:
        host = h.strip().lower() if isinstance(h, str) else h
        if not valid_domain(host):
            raise AnsibleFilterError(f"{what}: {h!r} is not a valid host name")
        out.append(host)
    return out


def traefik_hosts_rule(hosts: Iterable[str], what: str = "hosts") -> str:
    """``Host(`a`) || Host(`b`)`` for the given hosts (validated, lowercased)."""
    return " || ".join(f"Host(`{h}`)" for h in _hosts(list(hosts) if not isinstance(hosts, str) else hosts, what))


def domain_matches(host: str, domain: str) -> bool:
    """True when certificate name `domain` (maybe ``*.x``) covers `host`."""
    host, domain = host.lower(), domain.lower()
    if domain.startswith("*."):
        suffix = domain[1:]
        return host.endswith(suffix) and "." not in host[: -len(suffix)] and len(host) > len(suffix)
    return host == domain


def traefik_resolver_name(group: Mapping[str, Any]) -> str:
    """Resolver of an acme group: ``letsencrypt`` (HTTP-01) or ``letsencrypt-dns-<provider>``."""
    if group.get("challenge", "http") == "dns":
        return f"letsencrypt-dns-{group.get('dns_provider', '')}"
    return HTTP_RESOLVER


def _group_for(host: str, certificates: Iterable[Mapping[str, Any]] | None) -> Mapping[str, Any] | None:
    """The certificate group covering `host`: an exact name first, then a wildcard."""
    groups = list(certificates or [])
    for g in groups:
        if any(host == d.lower() for d in g.get("domains", [])):
            return g
    for g in groups:
        if any(domain_matches(host, d) for d in g.get("domains", [])):
            return g
    return None


def traefik_tls_for(hosts: Iterable[str], certificates: Iterable[Mapping[str, Any]] | None = None,
                    what: str = "hosts") -> dict[str, Any]:
    """The ``tls`` section of a router serving `hosts`: {} or {certResolver: ...}.

    Every host must resolve to the same resolver (or none), otherwise the router cannot be served.
    """
    hl = _hosts(list(hosts) if not isinstance(hosts, str) else hosts, what)
    resolvers = set()
    for h in hl:
        g = _group_for(h, certificates)
        resolvers.add(traefik_resolver_name(g) if g and g.get("mode") == "acme" else None)
    if len(resolvers) > 1:
        raise AnsibleFilterError(
            f"{what}: hosts {hl} are covered by different certificate groups (resolvers "
            f"{sorted(r or 'file certificate' for r in resolvers)}); split them into separate routers"
        )
    resolver = resolvers.pop()
    return {"certResolver": resolver} if resolver else {}


def traefik_labels(
    name: str,
    hosts: Iterable[str] | str,
    port: int | str,
    entrypoint: str = "websecure",
    certresolver: str | None = None,
    tls_options: str | None = None,
    middlewares: Iterable[str] | None = None,
    network: str = "dokploy-network",
    provider: str = "swarm",
    certificates: Iterable[Mapping[str, Any]] | None = None,
    priority: int | None = None,
    lbswarm: bool = False,
) -> dict[str, str]:
    """Router + service labels for one routed service (see DOCUMENTATION)."""
    if not isinstance(name, str) or not _ROUTER.match(name):
        raise AnsibleFilterError(
            f"traefik_labels: router name {name!r} must be lowercase letters, digits and dashes "
            "(a dot would split the label path)"
        )
    what = f"traefik_labels({name})"
    try:
        port_i = int(port)
    except (TypeError, ValueError):
        port_i = 0
    if not 1 <= port_i <= 65535 or isinstance(port, bool):
        raise AnsibleFilterError(f"{what}: port must be 1-65535, got {port!r}")
    if provider not in ("swarm", "docker"):
        raise AnsibleFilterError(f"{what}: provider must be 'swarm' or 'docker', got {provider!r}")
    if not entrypoint or not isinstance(entrypoint, str):
        raise AnsibleFilterError(f"{what}: entrypoint must be a name, got {entrypoint!r}")
    if not isinstance(lbswarm, bool):
        raise AnsibleFilterError(f"{what}: lbswarm must be true or false, got {lbswarm!r}")
    if lbswarm and provider != "swarm":
        raise AnsibleFilterError(f"{what}: lbswarm applies to the swarm provider only, got provider {provider!r}")
    rule = traefik_hosts_rule(hosts, what)
    r = f"traefik.http.routers.{name}"
    labels = {
        "traefik.enable": "true",
        f"{r}.rule": rule,
        f"{r}.entrypoints": entrypoint,
        f"{r}.service": name,
        f"traefik.http.services.{name}.loadbalancer.server.port": str(port_i),
        f"traefik.{provider}.network": network,
    }
    if entrypoint != "web":
        labels[f"{r}.tls"] = "true"
        resolver = certresolver or traefik_tls_for(hosts, certificates, what).get("certResolver")
        if resolver:
            labels[f"{r}.tls.certresolver"] = resolver
        if tls_options:
            labels[f"{r}.tls.options"] = tls_options
    mws = [m for m in (middlewares or []) if m]
    if mws:
        labels[f"{r}.middlewares"] = ",".join(mws)
    if priority is not None:
        labels[f"{r}.priority"] = str(int(priority))
    if lbswarm:
        labels["traefik.swarm.lbswarm"] = "true"
    return labels


def traefik_certificates_check(certificates: Any, acme_email: str = "", var: str = "traefik_certificates"
                               ) -> list[dict[str, Any]]:
    """Validate the certificate groups; return them with defaults filled in (challenge, resolver).

    The cryptographic checks of `files` groups (key matches, not expired) run in the role with
    community.crypto; this covers structure, domains, emails and DNS-01 credentials.
    """
    if not isinstance(certificates, list):
        raise AnsibleFilterError(f"{var} must be a list of certificate groups, got {type(certificates).__name__}")
    out: list[dict[str, Any]] = []
    seen_names: set[str] = set()
    seen_domains: dict[str, str] = {}
    for i, g in enumerate(certificates):
        where = f"{var}[{i}]"
        if not isinstance(g, Mapping):
            raise AnsibleFilterError(f"{where} must be a dict, got {g!r}")
        gname = g.get("name")
        if not isinstance(gname, str) or not _ROUTER.match(gname):
            raise AnsibleFilterError(f"{where}.name must be lowercase letters, digits and dashes, got {gname!r}")
        where = f"{var}[{gname}]"
        if gname in seen_names:
            raise AnsibleFilterError(f"{where}: two certificate groups are named {gname!r}")
        seen_names.add(gname)
        mode = g.get("mode")
        if mode not in MODES:
            raise AnsibleFilterError(f"{where}.mode must be one of {list(MODES)}, got {mode!r}")
        domains = g.get("domains")
        if not isinstance(domains, list) or not domains:
            raise AnsibleFilterError(f"{where}.domains must be a non-empty list of domain names")
        for d in domains:
            if not valid_domain(d.lower() if isinstance(d, str) else d):
                raise AnsibleFilterError(
                    f"{where}.domains: {d!r} is an invalid domain (use host names such as app.example.com "
                    "or a leading wildcard *.example.com)"
                )
            if d.lower() in seen_domains:
                raise AnsibleFilterError(
                    f"{where}.domains: {d!r} is already in certificate group {seen_domains[d.lower()]!r}"
                )
            seen_domains[d.lower()] = gname
        ng = dict(g)
        ng["domains"] = [d.lower() for d in domains]
        if mode == "acme":
            ch = g.get("challenge", "http")
            if ch not in CHALLENGES:
                raise AnsibleFilterError(f"{where}.challenge must be 'http' or 'dns', got {ch!r}")
            if not acme_email or not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", str(acme_email)):
                raise AnsibleFilterError(
                    f"traefik_acme_email is required for certificate group {gname!r} (mode acme): set a "
                    f"real address for expiry notices (got {acme_email!r})"
                )
            if ch == "http" and any(d.startswith("*.") for d in ng["domains"]):
                raise AnsibleFilterError(
                    f"{where}: wildcard domains need challenge: dns (HTTP-01 cannot issue wildcards)"
                )
            if ch == "dns":
                prov = g.get("dns_provider")
                if not isinstance(prov, str) or not re.match(r"^[a-z0-9]+$", prov or ""):
                    raise AnsibleFilterError(
                        f"{where}.dns_provider is required for challenge: dns (a lego provider code such as "
                        f"cloudflare), got {prov!r}"
                    )
                creds = g.get("dns_credentials")
                if not isinstance(creds, Mapping) or not creds or not all(
                    isinstance(k, str) and _ENV.match(k) and isinstance(v, str) and v for k, v in creds.items()
                ):
                    raise AnsibleFilterError(
                        f"{where}.dns_credentials is required for challenge: dns with provider {prov!r}: a dict of "
                        "the provider's environment variables from the vault, for example "
                        "{CF_DNS_API_TOKEN: '{{ vault_traefik_cloudflare_token }}'}"
                    )
            ng["challenge"] = ch
            ng["resolver"] = traefik_resolver_name(ng)
        elif mode == "files":
            for k in ("cert", "key"):
                v = g.get(k)
                if not isinstance(v, str) or "-----BEGIN" not in v:
                    raise AnsibleFilterError(
                        f"{where}.{k} must be a PEM {'certificate' if k == 'cert' else 'private key'} "
                        "(from the vault)"
                    )
        out.append(ng)
    return out


def traefik_platform_routes(platforms: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Routes claimed by bizosaas_platforms: one per enabled service with hosts."""
    routes = []
    for pname, p in (platforms or {}).items():
        if not p.get("enabled", True):
            continue
        for sname, s in (p.get("services") or {}).items():
            if s.get("hosts"):
                routes.append({"name": f"{pname}/{sname}", "hosts": list(s["hosts"])})
    return routes


def traefik_unique_hosts(routes: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Return `routes` unchanged, or fail naming the two routes that claim the same host."""
    owner: dict[str, str] = {}
    routes = list(routes)
    for route in routes:
        for h in route.get("hosts") or []:
            key = str(h).strip().lower()
            if key in owner and owner[key] != route["name"]:
                raise AnsibleFilterError(
                    f"host {key!r} is claimed by two routes: {owner[key]!r} and {route['name']!r}. "
                    "Give one of them another host."
                )
            owner[key] = route["name"]
    return routes


def htpasswd_entries(users: Any, existing: Iterable[str] | None = None, scheme: str = "apr_md5_crypt",
                     var: str = "users") -> list[str]:
    """``user:hash`` lines for Traefik basicAuth.

    A line from `existing` is reused as is when passlib verifies the user's current password
    against it, so a rerun writes the same bytes (no salt churn, no reload). A new or changed
    password gets a fresh random salt.
    """
    from passlib import apache  # noqa: F401  (the registry below needs passlib's handlers loaded)
    from passlib.context import CryptContext

    ctx = CryptContext(schemes=["bcrypt", "apr_md5_crypt", "sha512_crypt", "sha256_crypt", "md5_crypt"])
    if not isinstance(users, list):
        raise AnsibleFilterError(f"{var} must be a list of {{name, password}}")
    old: dict[str, str] = {}
    for line in existing or []:
        if isinstance(line, str) and ":" in line:
            u, h = line.split(":", 1)
            old[u] = h
    out = []
    for u in users:
        name, password = (u or {}).get("name"), (u or {}).get("password")
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9._-]+$", name or ""):
            raise AnsibleFilterError(f"{var}: user name {name!r} must be letters, digits, '.', '_' or '-'")
        if not isinstance(password, str) or len(password) < 8:
            raise AnsibleFilterError(f"{var}: the password of {name!r} must be a string of at least 8 characters")
        h = old.get(name)
        try:
            keep = bool(h) and ctx.identify(h) is not None and ctx.verify(password, h)
        except (ValueError, TypeError, RuntimeError):  # unknown format or missing backend (bcrypt)
            keep = False
        if not keep:
            h = ctx.handler(scheme).hash(password)
        out.append(f"{name}:{h}")
    return out


# TLS 1.2 suites with forward secrecy (ECDHE) and an AEAD cipher (AES-GCM, ChaCha20-Poly1305), in
# Go's crypto/tls names (Traefik's cipherSuites). TLS 1.3's suites are all AEAD and Go does not let
# them be configured.
TLS12_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
)
TLS_VERSIONS = ("VersionTLS12", "VersionTLS13")
# hstspreload.org's requirements for a preload header.
HSTS_PRELOAD_MIN_SECONDS = 31536000


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def traefik_tls_errors(settings: Mapping[str, Any]) -> list[str]:
    """One message per problem in the TLS options and HSTS settings, each naming the variable and
    the fix; an empty list when they are consistent. `settings` holds traefik_tls_min_version,
    traefik_tls_cipher_suites, traefik_hsts_seconds, traefik_hsts_include_subdomains and
    traefik_hsts_preload (missing keys are not checked)."""
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError("traefik_tls_errors expects a dict of the traefik_tls_*/traefik_hsts_* settings")
    errors: list[str] = []
    version = settings.get("traefik_tls_min_version", "VersionTLS12")
    if version not in TLS_VERSIONS:
        errors.append(f"traefik_tls_min_version is {version!r}: use VersionTLS12 or VersionTLS13 "
                      "(TLS 1.0 and 1.1 are broken and refused by current browsers).")
    suites = settings.get("traefik_tls_cipher_suites", list(TLS12_SUITES))
    if not isinstance(suites, list) or not all(isinstance(x, str) for x in suites):
        errors.append("traefik_tls_cipher_suites must be a list of cipher suite names, for example "
                      f"[{TLS12_SUITES[0]}].")
    else:
        bad = [x for x in suites if x not in TLS12_SUITES]
        if bad:
            errors.append(
                f"traefik_tls_cipher_suites: {', '.join(bad)} not allowed: only ECDHE key exchange with AES-GCM "
                "or ChaCha20-Poly1305 (forward secrecy and AEAD), in Go's names. "
                f"Use some of: {', '.join(TLS12_SUITES)}."
            )
        if not suites and version == "VersionTLS12":
            errors.append("traefik_tls_cipher_suites is empty: Go would then offer its defaults, CBC suites included. "
                          "List at least one, or remove the variable to use the role's six.")
    seconds = settings.get("traefik_hsts_seconds")
    subdomains = _bool(settings.get("traefik_hsts_include_subdomains", False))
    preload = _bool(settings.get("traefik_hsts_preload", False))
    if preload and not subdomains:
        errors.append("traefik_hsts_preload is true but traefik_hsts_include_subdomains is false: the preload "
                      "lists accept only headers with includeSubDomains. Set both to true (after checking that "
                      "every subdomain serves HTTPS), or leave preload off.")
    try:
        secs = int(seconds) if seconds is not None else None
    except (TypeError, ValueError):
        secs = None  # bounds_errors reports a value that is not a number
    if preload and secs is not None and secs < HSTS_PRELOAD_MIN_SECONDS:
        errors.append(f"traefik_hsts_preload is true but traefik_hsts_seconds is {secs}: the preload lists "
                      f"require a max-age of at least {HSTS_PRELOAD_MIN_SECONDS} (a year). Raise "
                      "traefik_hsts_seconds, or leave preload off.")
    if (preload or subdomains) and secs == 0:
        errors.append("traefik_hsts_seconds is 0 (browsers forget HSTS) while traefik_hsts_include_subdomains or "
                      "traefik_hsts_preload is on: set a max-age, or turn them off.")
    return errors


class FilterModule:
    def filters(self):
        return {
            "traefik_labels": traefik_labels,
            "traefik_hosts_rule": traefik_hosts_rule,
            "traefik_tls_for": traefik_tls_for,
            "traefik_resolver_name": traefik_resolver_name,
            "traefik_certificates_check": traefik_certificates_check,
            "traefik_platform_routes": traefik_platform_routes,
            "traefik_unique_hosts": traefik_unique_hosts,
            "htpasswd_entries": htpasswd_entries,
            "traefik_tls_errors": traefik_tls_errors,
        }
