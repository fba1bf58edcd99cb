"""Unit tests for the traefik role's filters (collections/.../plugins/filter/traefik.py)."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.bizosaas.ops.plugins.filter.traefik import (
    FilterModule,
    domain_matches,
    htpasswd_entries,
    traefik_certificates_check,
    traefik_hosts_rule,
    traefik_labels,
    traefik_platform_routes,
    traefik_tls_errors,
    traefik_tls_for,
    traefik_unique_hosts,
    valid_domain,
)
from passlib.hash import apr_md5_crypt

from tests.unit.test_inputs_bounds import _yaml

ROOT = Path(__file__).resolve().parents[2]

PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
CERTS = [
    {"name": "public", "mode": "acme", "domains": ["app.example.com", "www.example.com"]},
    {"name": "wild", "mode": "acme", "challenge": "dns", "dns_provider": "cloudflare",
     "dns_credentials": {"CF_DNS_API_TOKEN": "t"}, "domains": ["*.apps.example.com"]},
    {"name": "byo", "mode": "files", "domains": ["byo.example.com"], "cert": PEM_CERT, "key": PEM_KEY},
    {"name": "lab", "mode": "selfsigned", "domains": ["lab.example.com"]},
]


def test_filters_are_registered():
    names = FilterModule().filters()
    assert {"traefik_labels", "traefik_unique_hosts", "htpasswd_entries", "traefik_tls_for"} <= set(names)


def test_labels_swarm_with_resolver_and_middlewares():
    labels = traefik_labels("bizoholic-frontend", ["Bizoholic.example.com", "www.example.com"], 3000,
                            certresolver="letsencrypt", middlewares=["bizosaas-security-headers@file"])
    r = "traefik.http.routers.bizoholic-frontend"
    assert labels == {
        "traefik.enable": "true",
        f"{r}.rule": "Host(`bizoholic.example.com`) || Host(`www.example.com`)",
        f"{r}.entrypoints": "websecure",
        f"{r}.service": "bizoholic-frontend",
        f"{r}.tls": "true",
        f"{r}.tls.certresolver": "letsencrypt",
        f"{r}.middlewares": "bizosaas-security-headers@file",
        "traefik.http.services.bizoholic-frontend.loadbalancer.server.port": "3000",
        "traefik.swarm.network": "dokploy-network",
    }
    assert all(isinstance(v, str) for v in labels.values())


def test_labels_name_the_platforms_edge_network():
    labels = traefik_labels("coreldove-frontend", ["coreldove.example.com"], 8080, network="bizosaas-coreldove-edge")
    assert labels["traefik.swarm.network"] == "bizosaas-coreldove-edge"


def test_labels_docker_provider_and_tls_options_and_priority():
    labels = traefik_labels("x", "a.example.com", "8080", provider="docker", network="edge",
                            tls_options="modern@file", priority=10)
    assert labels["traefik.docker.network"] == "edge"
    assert "traefik.swarm.network" not in labels
    assert labels["traefik.http.routers.x.tls.options"] == "modern@file"
    assert labels["traefik.http.routers.x.priority"] == "10"
    assert "traefik.http.routers.x.tls.certresolver" not in labels


@pytest.mark.parametrize(
    ("hosts", "resolver"),
    [(["app.example.com"], "letsencrypt"), (["x.apps.example.com"], "letsencrypt-dns-cloudflare"),
     (["byo.example.com"], None), (["lab.example.com"], None), (["other.example.org"], None)],
)
def test_labels_take_the_resolver_from_the_certificate_groups(hosts, resolver):
    labels = traefik_labels("r", hosts, 80, certificates=traefik_certificates_check(CERTS, "ops@example.com"))
    assert labels.get("traefik.http.routers.r.tls.certresolver") == resolver
    assert labels["traefik.http.routers.r.tls"] == "true"


@pytest.mark.parametrize(("lbswarm", "expected"), [(True, "true"), (False, None)])
def test_labels_lbswarm_routes_to_the_swarm_vip_only_when_asked(lbswarm, expected):
    labels = traefik_labels("r", ["a.example.com"], 80, lbswarm=lbswarm)
    assert labels.get("traefik.swarm.lbswarm") == expected
    # the v2 spelling is silently ignored by Traefik v3: never emit it
    assert "traefik.docker.lbswarm" not in labels


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"lbswarm": True, "provider": "docker"}, "swarm provider only"), ({"lbswarm": "yes"}, "true or false")],
)
def test_labels_lbswarm_rejects_bad_input(kwargs, match):
    with pytest.raises(AnsibleFilterError, match=match):
        traefik_labels("r", ["a.example.com"], 80, **kwargs)


def test_labels_on_web_entrypoint_have_no_tls():
    labels = traefik_labels("plain", ["a.example.com"], 80, entrypoint="web")
    assert not any(".tls" in k for k in labels)


def test_tls_for_mixed_groups_fails():
    with pytest.raises(AnsibleFilterError, match="different certificate groups"):
        traefik_tls_for(["app.example.com", "byo.example.com"], CERTS)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"name": "Bad.Name"}, "router name"), ({"port": 0}, "port"), ({"port": 70000}, "port"),
     ({"port": "http"}, "port"), ({"hosts": []}, "non-empty"), ({"hosts": ["bad_host!"]}, "not a valid host"),
     ({"provider": "k8s"}, "provider")],
)
def test_labels_reject_bad_input(kwargs, match):
    args = {"name": "ok", "hosts": ["a.example.com"], "port": 80, **kwargs}
    with pytest.raises(AnsibleFilterError, match=match):
        traefik_labels(args.pop("name"), **args)


def test_hosts_rule():
    assert traefik_hosts_rule(["a.example.com"]) == "Host(`a.example.com`)"


@pytest.mark.parametrize(
    ("domain", "ok"),
    [("example.com", True), ("a.b-c.example.co", True), ("*.example.com", True), ("localhost", True),
     ("exa mple.com", False), ("-a.example.com", False), ("a..example.com", False), ("example", False),
     ("*.*.example.com", False), ("example.123", False), ("", False), (None, False)],
)
def test_valid_domain(domain, ok):
    assert valid_domain(domain) is ok


def test_wildcard_matching_is_one_level():
    assert domain_matches("a.example.com", "*.example.com")
    assert not domain_matches("a.b.example.com", "*.example.com")
    assert not domain_matches("example.com", "*.example.com")


def test_certificates_check_fills_defaults():
    out = traefik_certificates_check(CERTS, "ops@example.com")
    assert out[0]["challenge"] == "http" and out[0]["resolver"] == "letsencrypt"
    assert out[1]["resolver"] == "letsencrypt-dns-cloudflare"


@pytest.mark.parametrize(
    ("group", "email", "match"),
    [
        ({"name": "a", "mode": "acme", "domains": ["a.example.com"]}, "", "traefik_acme_email"),
        ({"name": "a", "mode": "acme", "domains": ["a.example.com"]}, "not-an-email", "traefik_acme_email"),
        ({"name": "a", "mode": "acme", "domains": ["bad domain"]}, "o@example.com", "invalid domain"),
        ({"name": "a", "mode": "acme", "domains": ["*.example.com"]}, "o@example.com", "challenge: dns"),
        ({"name": "a", "mode": "acme", "challenge": "dns", "dns_provider": "cloudflare", "domains": ["*.x.com"]},
         "o@example.com", "dns_credentials"),
        ({"name": "a", "mode": "acme", "challenge": "dns", "domains": ["x.com"],
          "dns_credentials": {"X": "y"}}, "o@example.com", "dns_provider"),
        ({"name": "a", "mode": "files", "domains": ["a.example.com"], "cert": "nope", "key": PEM_KEY}, "", r"\.cert"),
        ({"name": "a", "mode": "magic", "domains": ["a.example.com"]}, "", "mode"),
        ({"name": "A B", "mode": "selfsigned", "domains": ["a.example.com"]}, "", "name"),
    ],
)
def test_certificates_check_rejects(group, email, match):
    with pytest.raises(AnsibleFilterError, match=match):
        traefik_certificates_check([group], email)


def test_certificates_check_rejects_a_domain_in_two_groups():
    groups = [{"name": "a", "mode": "selfsigned", "domains": ["x.example.com"]},
              {"name": "b", "mode": "selfsigned", "domains": ["X.example.com"]}]
    with pytest.raises(AnsibleFilterError, match="already in certificate group 'a'"):
        traefik_certificates_check(groups)


PLATFORMS = {
    "bizoholic": {"enabled": True, "services": {"frontend": {"hosts": ["bizoholic.example.com"]},
                                                "worker": {"hosts": []}}},
    "coreldove": {"enabled": True, "services": {"frontend": {"hosts": ["coreldove.example.com"]}}},
    "off": {"enabled": False, "services": {"frontend": {"hosts": ["bizoholic.example.com"]}}},
}


def test_platform_routes_skip_disabled_and_internal():
    assert traefik_platform_routes(PLATFORMS) == [
        {"name": "bizoholic/frontend", "hosts": ["bizoholic.example.com"]},
        {"name": "coreldove/frontend", "hosts": ["coreldove.example.com"]},
    ]


def test_unique_hosts_passes_and_fails_naming_both():
    routes = [*traefik_platform_routes(PLATFORMS), {"name": "dashboard/traefik", "hosts": ["traefik.example.com"]}]
    assert traefik_unique_hosts(routes) == routes
    routes.append({"name": "dashboard/temporal", "hosts": ["Coreldove.example.com"]})
    with pytest.raises(AnsibleFilterError, match="'coreldove/frontend' and 'dashboard/temporal'"):
        traefik_unique_hosts(routes)


USERS = [{"name": "admin", "password": "correct horse battery"}]


def test_htpasswd_reuses_an_entry_that_verifies():
    first = htpasswd_entries(USERS)
    assert first[0].startswith("admin:$apr1$")
    assert htpasswd_entries(USERS, first) == first
    assert apr_md5_crypt.verify("correct horse battery", first[0].split(":", 1)[1])


def test_htpasswd_rehashes_when_the_password_changes():
    first = htpasswd_entries(USERS)
    changed = htpasswd_entries([{"name": "admin", "password": "another password"}], first)
    assert changed != first
    assert apr_md5_crypt.verify("another password", changed[0].split(":", 1)[1])


def test_htpasswd_ignores_garbage_existing_lines():
    out = htpasswd_entries(USERS, ["admin:not-a-hash", "junk"])
    assert apr_md5_crypt.verify("correct horse battery", out[0].split(":", 1)[1])


@pytest.mark.parametrize("users", [[{"name": "a b", "password": "longenough"}], [{"name": "a", "password": "short"}],
                                   "admin"])
def test_htpasswd_rejects_bad_users(users):
    with pytest.raises(AnsibleFilterError):
        htpasswd_entries(users)


# --------------------------------------------------------------------------- TLS and HSTS settings
GOOD_TLS = {
    "traefik_tls_min_version": "VersionTLS12",
    "traefik_tls_cipher_suites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                  "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"],
    "traefik_hsts_seconds": 31536000,
    "traefik_hsts_include_subdomains": False,
    "traefik_hsts_preload": False,
}


def test_tls_errors_accepts_the_role_defaults():
    defaults = _yaml(ROOT / "roles/traefik/defaults/main.yml")
    settings = {k: defaults[k] for k in GOOD_TLS}
    assert traefik_tls_errors(settings) == []
    assert traefik_tls_errors(GOOD_TLS) == []
    assert traefik_tls_errors({}) == []  # nothing given, nothing checked
    tls13_only = {**GOOD_TLS, "traefik_tls_min_version": "VersionTLS13", "traefik_tls_cipher_suites": []}
    assert traefik_tls_errors(tls13_only) == []


@pytest.mark.parametrize("suite", [
    "TLS_RSA_WITH_AES_128_GCM_SHA256",          # no forward secrecy
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",       # CBC
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_AES_128_GCM_SHA256",                   # a TLS 1.3 suite: not configurable in Go
    "tls_ecdhe_rsa_with_aes_128_gcm_sha256",    # Go's names are upper case
])
def test_tls_errors_refuses_suites_without_ecdhe_and_aead(suite):
    suites = [suite, *GOOD_TLS["traefik_tls_cipher_suites"]]
    errors = traefik_tls_errors({**GOOD_TLS, "traefik_tls_cipher_suites": suites})
    assert len(errors) == 1
    assert errors[0].startswith(f"traefik_tls_cipher_suites: {suite} not allowed")
    assert "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" in errors[0]  # the fix lists what is allowed


def test_tls_errors_refuses_an_empty_suite_list_for_tls12_and_a_non_list():
    empty = traefik_tls_errors({**GOOD_TLS, "traefik_tls_cipher_suites": []})
    assert empty[0].startswith("traefik_tls_cipher_suites is empty")
    one = traefik_tls_errors({**GOOD_TLS, "traefik_tls_cipher_suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"})
    assert "must be a list" in one[0]


@pytest.mark.parametrize("version", ["VersionTLS10", "VersionTLS11", "1.2", ""])
def test_tls_errors_refuses_versions_below_12(version):
    errors = traefik_tls_errors({**GOOD_TLS, "traefik_tls_min_version": version})
    assert errors[0].startswith("traefik_tls_min_version is")


def test_tls_errors_hsts_preload_needs_subdomains_and_a_year():
    preload = {**GOOD_TLS, "traefik_hsts_preload": True}
    errors = traefik_tls_errors(preload)
    assert len(errors) == 1 and "traefik_hsts_include_subdomains is false" in errors[0]
    ok = {**preload, "traefik_hsts_include_subdomains": "true"}  # strings from -e count as booleans
    assert traefik_tls_errors(ok) == []
    short = traefik_tls_errors({**ok, "traefik_hsts_seconds": "86400"})
    assert len(short) == 1 and "traefik_hsts_seconds is 86400" in short[0] and "31536000" in short[0]
    zero = traefik_tls_errors({**GOOD_TLS, "traefik_hsts_include_subdomains": True, "traefik_hsts_seconds": 0})
    assert len(zero) == 1 and zero[0].startswith("traefik_hsts_seconds is 0")
    # includeSubDomains alone is fine with any positive max-age; a non-number is bounds_errors' business.
    assert traefik_tls_errors({**GOOD_TLS, "traefik_hsts_include_subdomains": True, "traefik_hsts_seconds": 300}) == []
    assert traefik_tls_errors({**ok, "traefik_hsts_seconds": "a year"}) == []


def test_tls_errors_needs_a_dict():
    with pytest.raises(AnsibleFilterError):
        traefik_tls_errors(["VersionTLS12"])


# --------------------------------------------------------------------------- the socket proxy's allow-list
def _proxy_regex() -> re.Pattern[str]:
    """__traefik_socket_proxy_regex as the role renders it (HAProxy's PCRE2 reads it the same way)."""
    v = _yaml(ROOT / "roles/traefik/vars/main.yml")
    text = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(v["__traefik_socket_proxy_regex"]).render(
        __traefik_socket_proxy_paths=v["__traefik_socket_proxy_paths"])
    return re.compile(text.strip())


ID = "0123456789abcdef" * 4


@pytest.mark.parametrize("path", [
    "/_ping", "/v1.41/_ping", "/version", "/v1.24/version", "/v1.51/events", "/v1.41/containers/json",
    f"/v1.41/containers/{ID}/json", "/containers/dokploy-traefik/json", "/v1.41/services", "/v1.41/tasks",
    "/v1.41/networks", "/v1.41/nodes/x1y2z3w4v5u6t7s8r9q0p1o2n",
])
def test_socket_proxy_allows_the_provider_calls(path):
    assert _proxy_regex().match(path), path


@pytest.mark.parametrize("path", [
    "/containers/create", "/v1.41/containers/create", f"/containers/{ID}/exec", f"/v1.41/exec/{ID}/start",
    f"/containers/{ID}/export", f"/containers/{ID}/archive", f"/containers/{ID}/logs", f"/containers/{ID}/attach",
    f"/containers/{ID}/top", f"/containers/{ID}/changes", "/containers/../info", "/containers/%2e%2e/json",
    "/containers/.x/json", "/v1.41/containers//json", "/secrets", "/v1.41/secrets/abc", "/configs", "/configs/abc",
    "/swarm", "/swarm/unlockkey", "/images/json", "/images/x/get", "/info", "/volumes", "/system/df", "/plugins",
    "/nodes", "/services/x", "/services/x/logs", "/networks/x", "/tasks/x", "/session", "/distribution/x/json",
    "/build", "/v1/version", "/v1.41/version/", "//version", "/auth",
])
def test_socket_proxy_refuses_everything_else(path):
    assert not _proxy_regex().match(path), path
