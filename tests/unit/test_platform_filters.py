"""Unit tests for the platform_stack filters (collections/.../plugins/filter/platforms.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.bizosaas.ops.plugins.filter.platforms import (
    FilterModule,
    analytics_checks,
    check_domain,
    gate_check,
    history_entries,
    history_line,
    plan_summary,
    platform_domains,
    platform_services,
    platforms_validate,
    required_secrets,
    rollback_target,
    secret_name,
    secret_vars,
    selected_platforms,
    selfcheck_diagnose,
    selfcheck_results,
    separation_checks,
)

ROOT = Path(__file__).resolve().parents[2]


def real_platforms(domain: str = "example.org") -> dict:
    """group_vars/all/platforms.yml with the domain substituted (what Ansible would template)."""
    text = (ROOT / "group_vars/all/platforms.yml").read_text().replace("{{ bizosaas_domain }}", domain)
    return yaml.safe_load(text)["bizosaas_platforms"]


SECRETS = {
    p: {"postgres": "pw-" + p, "redis": "rd-" + p, "analytics": "an", "secret_key": "sk-" + p}
    for p in ("bizoholic", "coreldove", "management")
}

CTX = {
    "registry": "172.28.0.1:5000",
    "edge_network": "bizosaas-coreldove-edge",
    "private_network": "bizosaas-coreldove",
    "postgres_host": "bizosaas-shared_postgres",
    "redis_host": "bizosaas-shared_redis",
    "temporal_address": "bizosaas-shared_temporal:7233",
    "analytics_role": "analytics_reader",
    "analytics_databases": ["bizoholic_platform", "coreldove_platform"],
    "secret_names": {"postgres": "coreldove_postgres_abc", "redis": "coreldove_redis_def",
                     "secret_key": "coreldove_secret_key_ghi"},
    "shim_config": "coreldove_env-shim_0123456789",
    "volume_placement": ["node.role == manager"],
}


def test_filter_module_exports():
    names = FilterModule().filters()
    assert {"platforms_validate", "platform_services", "platform_domains", "platform_secret_name"} <= set(names)


def test_real_platforms_validate_and_select_all():
    assert platforms_validate(real_platforms(), "example.org", secrets=SECRETS) == [
        "bizoholic",
        "coreldove",
        "management",
    ]


@pytest.mark.parametrize(
    "domain",
    ["", None, "localhost", "http://example.org", "example.org.", "Ex ample.org", "*.example.org", "example.org:443"],
)
def test_bad_domain_names_the_variable(domain):
    with pytest.raises(AnsibleFilterError, match="bizosaas_domain"):
        check_domain(domain)


@pytest.mark.parametrize("domain", ["example.org", "bizosaas.test", "a.b-c.example.co.uk"])
def test_good_domains(domain):
    assert check_domain(domain) == domain


def test_unknown_platform_is_an_error():
    with pytest.raises(AnsibleFilterError, match=r"unknown platform 'nope'.*bizoholic, coreldove, management"):
        selected_platforms(real_platforms(), ["nope"])
    with pytest.raises(AnsibleFilterError, match="platform: unknown platform"):
        platforms_validate(real_platforms(), "example.org", selection="nope", selection_name="platform")


def test_selection_string_and_disabled():
    p = real_platforms()
    p["management"]["enabled"] = False
    assert selected_platforms(p) == ["bizoholic", "coreldove"]
    assert selected_platforms(p, "coreldove, bizoholic") == ["coreldove", "bizoholic"]


def test_duplicate_host_names_both_claimants():
    p = real_platforms()
    p["coreldove"]["services"]["frontend"]["hosts"] = ["bizoholic.example.org"]
    with pytest.raises(AnsibleFilterError, match=r"bizoholic\.example\.org is already claimed by bizoholic/frontend"):
        platforms_validate(p, "example.org")


def test_image_without_tag_names_the_service():
    p = real_platforms()
    p["coreldove"]["services"]["frontend"]["image"] = "ghcr.io/bizosaas/coreldove-frontend"
    with pytest.raises(AnsibleFilterError, match=r"bizosaas_platforms\.coreldove\.services\.frontend\.image.*no tag"):
        platforms_validate(p, "example.org")


def test_undefined_database_and_redis_user():
    p = real_platforms()
    p["coreldove"]["database"] = ""
    with pytest.raises(AnsibleFilterError, match="undefined database"):
        platforms_validate(p, "example.org")
    p = real_platforms()
    p["coreldove"]["services"]["saleor-backend"]["database"] = "nowhere_db"
    with pytest.raises(AnsibleFilterError, match="database 'nowhere_db'"):
        platforms_validate(p, "example.org", databases=["bizoholic_platform", "coreldove_platform", "shared_analytics"])
    p = real_platforms()
    p["coreldove"]["services"]["saleor-backend"]["redis_user"] = "ghost"
    with pytest.raises(AnsibleFilterError, match="Redis user 'ghost'"):
        platforms_validate(p, "example.org", redis_users=["bizoholic", "coreldove", "management"])
    p = real_platforms()
    p["bizoholic"]["redis_prefix"] = ""
    with pytest.raises(AnsibleFilterError, match="undefined Redis user"):
        platforms_validate(p, "example.org")


def test_bad_uses_and_port():
    p = real_platforms()
    p["bizoholic"]["services"]["frontend"]["uses"] = ["mysql"]
    with pytest.raises(AnsibleFilterError, match="uses"):
        platforms_validate(p, "example.org")
    p = real_platforms()
    p["bizoholic"]["services"]["frontend"]["port"] = 70000
    with pytest.raises(AnsibleFilterError, match="port"):
        platforms_validate(p, "example.org")


def test_missing_secret_names_the_vault_variable():
    secrets = copy.deepcopy(SECRETS)
    del secrets["coreldove"]["redis"]
    with pytest.raises(AnsibleFilterError, match="vault_redis_coreldove_password is missing from the vault"):
        platforms_validate(
            real_platforms(),
            "example.org",
            selection=["coreldove"],
            secrets=secrets,
            secret_vars={"coreldove": {"redis": "vault_redis_coreldove_password"}},
        )
    # not selected: not needed
    assert platforms_validate(real_platforms(), "example.org", selection=["bizoholic"], secrets=secrets)


def test_required_secrets():
    p = real_platforms()
    assert required_secrets(p["bizoholic"]) == ["postgres", "redis", "secret_key"]
    assert required_secrets(p["management"]) == ["postgres", "redis", "analytics"]


def test_secret_vars_follow_the_data_glue():
    v = secret_vars(real_platforms())
    assert v["coreldove"] == {
        "postgres": "vault_postgres_coreldove_password",
        "redis": "vault_redis_coreldove_password",
        "secret_key": "vault_coreldove_secret_key",
    }
    assert v["management"]["analytics"] == "vault_postgres_analytics_password"


def test_secret_name_is_versioned_and_stable():
    a = secret_name("coreldove", "postgres", "one")
    assert a == secret_name("coreldove", "postgres", "one")
    assert a != secret_name("coreldove", "postgres", "two")
    assert a != secret_name("bizoholic", "postgres", "one")
    assert a.startswith("coreldove_postgres_") and len(a) <= 64
    assert "one" not in a


def test_services_networks_and_secrets_are_least_privilege():
    p = real_platforms()["coreldove"]
    s = platform_services(p, "coreldove", CTX)
    front, saleor, dash, ai, worker = (
        s[k] for k in ("frontend", "saleor-backend", "saleor-dashboard", "ai-agents-ecommerce", "saleor-worker"))
    # routed -> the platform's own edge overlay (never Dokploy's dokploy-network); everyone ->
    # private, where the data services are too; nobody -> the data services' own network
    assert front["networks"] == ["bizosaas-coreldove", "bizosaas-coreldove-edge"]
    assert saleor["networks"] == ["bizosaas-coreldove", "bizosaas-coreldove-edge"]
    assert ai["networks"] == ["bizosaas-coreldove"] and not ai["routed"]
    assert worker["networks"] == ["bizosaas-coreldove"] and not worker["routed"] and worker["port"] is None
    every = [n for x in s.values() for n in x["networks"]]
    assert "bizosaas-network" not in every and all(n.startswith("bizosaas-coreldove") for n in every)
    assert dash["secrets"] == [] and front["secrets"] == []
    assert {x["source"] for x in saleor["secrets"]} == {
        "coreldove_postgres_abc", "coreldove_redis_def", "coreldove_secret_key_ghi"}
    assert saleor["env"]["PGPASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert saleor["env"]["PGUSER"] == "coreldove" and saleor["env"]["PGDATABASE"] == "coreldove_platform"
    assert saleor["env"]["REDIS_PREFIX"] == "coreldove:"
    assert ai["env"]["TEMPORAL_NAMESPACE"] == "coreldove"
    assert "TEMPORAL_ADDRESS" not in saleor["env"]
    assert not any("PASSWORD=" in f"{k}={v}" and not k.endswith("_FILE") for k, v in saleor["env"].items())
    assert saleor["image"] == "172.28.0.1:5000/saleor/saleor:3.20.0"


def test_overrides_pins_and_analytics():
    p = real_platforms()["management"]
    ctx = dict(
        CTX,
        private_network="bizosaas-management",
        secret_names={"postgres": "m_pg", "redis": "m_rd", "analytics": "m_an"},
        overrides={
            "*": {
                "image": "bizosaas-kit/probe:1.0.0",
                "env": {"APP_VERSION": "1"},
                "healthcheck": ["CMD", "python3", "/app/probe.py", "--check"],
            },
            "billing-service": {"env": {"APP_VERSION": "2"}, "replicas": 2},
        },
        pins={"admin-dashboard": "172.28.0.1:5000/bizosaas-kit/probe:1.0.0@sha256:" + "a" * 64},
    )
    s = platform_services(p, "management", ctx)
    assert s["billing-service"]["image"] == "172.28.0.1:5000/bizosaas-kit/probe:1.0.0"
    assert s["billing-service"]["env"]["APP_VERSION"] == "2" and s["billing-service"]["replicas"] == 2
    assert s["user-management"]["env"]["APP_VERSION"] == "1"
    assert s["admin-dashboard"]["image"].endswith("@sha256:" + "a" * 64)
    an = s["analytics-service"]
    assert an["env"]["ANALYTICS_PGUSER"] == "analytics_reader"
    assert {x["target"] for x in an["secrets"]} == {"postgres_password", "analytics_password", "redis_password"}
    assert "analytics_password" not in {x["target"] for x in s["billing-service"]["secrets"]}
    assert s["billing-service"]["healthcheck"] == ["CMD", "python3", "/app/probe.py", "--check"]


def test_missing_secret_for_a_use_is_an_error():
    p = real_platforms()["coreldove"]
    with pytest.raises(AnsibleFilterError, match="redis secret"):
        platform_services(p, "coreldove", dict(CTX, secret_names={"postgres": "x"}))


def test_domains_are_the_seed_hosts_plus_the_saleor_api():
    hosts = [r["host"] for r in platform_domains(real_platforms())]
    assert len(hosts) == 10
    assert "store.coreldove.example.org" in hosts and "admin.example.org" in hosts
    # store.coreldove is the storefront (the seed's "Saleor Storefront"), served by the frontend;
    # Saleor's GraphQL API has its own domain.
    assert [(r["host"], r["service"]) for r in platform_domains(real_platforms(), ["coreldove"])] == [
        ("admin.coreldove.example.org", "saleor-dashboard"),
        ("api.coreldove.example.org", "saleor-backend"),
        ("coreldove.example.org", "frontend"),
        ("store.coreldove.example.org", "frontend"),
    ]


@pytest.mark.parametrize(
    ("result", "cause"),
    [
        ({"host": "a.example.org", "rc": 0, "http": "200"}, ""),
        ({"host": "a.example.org", "rc": 0, "http": "204"}, ""),
        ({"host": "a.example.org", "rc": 60, "http": "000"}, "certificate"),
        ({"host": "a.example.org", "rc": 51, "http": "000"}, "certificate"),
        ({"host": "a.example.org", "rc": 7, "http": "000"}, "firewall"),
        ({"host": "a.example.org", "rc": 28, "http": "000"}, "firewall"),
        ({"host": "a.example.org", "rc": 0, "http": "502"}, "unhealthy service"),
        ({"host": "a.example.org", "rc": 0, "http": "404"}, "routing"),
        ({"host": "a.example.org", "rc": 0, "http": "200", "dns": [], "expected_ips": ["1.2.3.4"]}, "DNS"),
        ({"host": "a.example.org", "rc": 0, "http": "200", "dns": ["5.6.7.8"], "expected_ips": ["1.2.3.4"]}, "DNS"),
        ({"host": "a.example.org", "rc": 0, "http": "404", "replicas": "0/1"}, "unhealthy service"),
        ({"host": "a.example.org", "rc": 0, "http": "200", "external_rc": 28}, "firewall"),
        ({"host": "a.example.org", "rc": 0, "http": "200", "external_rc": 0}, ""),
    ],
)
def test_selfcheck_diagnose(result, cause):
    (verdict,) = selfcheck_diagnose([result])
    assert verdict["cause"] == cause
    assert verdict["ok"] is (cause == "")
    assert verdict["host"] == "a.example.org"


def test_selfcheck_results_zip_registered_loops():
    probes = [{"item": {"host": "a.example.org", "service": "web"}, "rc": 0, "stdout": "502"}]
    dns = [{"stdout": "1.2.3.4 STREAM a.example.org\n1.2.3.4 DGRAM\n"}]
    rows = selfcheck_results(probes, {"services": {"web": {"replicas": "0/1"}}}, dns, [{"rc": 7}], ["1.2.3.4"])
    assert rows == [
        {
            "host": "a.example.org",
            "rc": 0,
            "http": "502",
            "replicas": "0/1",
            "expected_ips": ["1.2.3.4"],
            "dns": ["1.2.3.4"],
            "external_rc": 7,
        }
    ]
    assert selfcheck_diagnose(rows)[0]["cause"] == "unhealthy service"


def test_gate_checks():
    pw = {"bizoholic": "b", "coreldove": "c"}
    assert gate_check({"name": "coreldove_platform", "owner": "coreldove"}, pw)["password"] == "c"
    checks = separation_checks(
        real_platforms(), ["bizoholic", "coreldove", "management"], pw, ["bizoholic", "coreldove"]
    )
    assert [(c["label"], c["expect"]) for c in checks] == [
        ("bizoholic -> bizoholic_platform", "ok"),
        ("bizoholic -> coreldove_platform", "refused"),
        ("coreldove -> bizoholic_platform", "refused"),
        ("coreldove -> coreldove_platform", "ok"),
    ]
    a = analytics_checks(real_platforms(), ["bizoholic", "coreldove"], "analytics_reader", "x")
    assert [c["expect"] for c in a] == ["ok", "refused", "ok", "refused"]


HISTORY = "\n".join(
    [
        '{"platform": "coreldove", "result": "ok", "images": {"web": "probe:1.0.0@sha256:aa"}}',
        '{"platform": "bizoholic", "result": "ok", "images": {"web": "probe:1.0.0@sha256:aa"}}',
        '{"platform": "coreldove", "result": "ok", "images": {"web": "probe:1.0.1@sha256:bb"}}',
        '{"platform": "coreldove", "result": "rolled_back", "images": {"web": "probe:1.0.1@sha256:bb"}}',
        "not json",
    ]
)


def test_history_and_rollback_target():
    assert len(history_entries(HISTORY)) == 4
    assert len(history_entries(HISTORY, "coreldove")) == 3
    assert rollback_target(HISTORY, "coreldove", {"web": "probe:1.0.1@sha256:bb"}) == {"web": "probe:1.0.0@sha256:aa"}
    with pytest.raises(AnsibleFilterError, match="no earlier successful image set"):
        rollback_target(HISTORY, "bizoholic", {"web": "probe:1.0.0@sha256:aa"})


PLAN = """
TASK [docker_engine : Write daemon.json] ***************************************
--- before: /etc/docker/daemon.json
+++ after: /etc/docker/daemon.json
-  "a": 1
+  "a": 2
changed: [vps1]

TASK [docker_engine : Start docker] ********************************************
ok: [vps1]

TASK [platform_stack : validate | Check the platform name is known] ************
ok: [vps1]
"""


def test_plan_summary_per_role():
    s = plan_summary(PLAN)
    assert s["roles"]["docker_engine"] == {"tasks": 2, "changed": ["Write daemon.json"]}
    assert s["roles"]["platform_stack"]["changed"] == []
    assert s["lines"][-1].endswith("1 task(s) would change")
    assert '+  "a": 2' in s["diffs"][0]


def test_history_line():
    line = history_line(
        {"time": "T", "platform": "coreldove", "result": "ok", "images": {"web": "r/x/probe:1@sha256:ab"}}
    )
    assert "coreldove" in line and "web=probe:1@sha256:ab" in line


def render_stack(platform: str, edge_network: str, image_configs: dict | None = None) -> dict:
    """roles/platform_stack/templates/stack.yml.j2 rendered with the real filters, as the role does."""
    import jinja2
    from ansible.plugins.filter.core import FilterModule as CoreFilters
    from ansible_collections.bizosaas.ops.plugins.filter.traefik import traefik_labels

    data = real_platforms()[platform]
    ctx = {**CTX, "edge_network": edge_network, "private_network": f"bizosaas-{platform}",
           "secret_names": {k: f"{platform}_{k}_x" for k in ("postgres", "redis", "analytics", "secret_key")},
           "shim_config": f"{platform}_env-shim_x", "image_configs": image_configs}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=False)
    env.filters.update(CoreFilters().filters())
    env.filters["bizosaas.ops.traefik_labels"] = traefik_labels
    template = env.from_string((ROOT / "roles/platform_stack/templates/stack.yml.j2").read_text())
    text = template.render(
        ansible_managed="test", platform_stack_platform=platform, __platform_stack_data=data,
        __platform_stack_services=platform_services(data, platform, ctx), __platform_stack_endpoint_mode="dnsrr",
        platform_stack_edge_network=edge_network, platform_stack_traefik_certificates=[],
        platform_stack_traefik_middlewares=["bizosaas-retry@file"], platform_stack_traefik_lbswarm=True,
        **{k: "1" for k in ("platform_stack_health_interval", "platform_stack_health_timeout",
                            "platform_stack_health_retries", "platform_stack_health_start_period",
                            "platform_stack_stop_grace_period", "platform_stack_restart_max_attempts",
                            "platform_stack_update_parallelism", "platform_stack_update_delay",
                            "platform_stack_update_monitor", "platform_stack_rollback_monitor")},
    )
    return yaml.safe_load(text)


@pytest.mark.parametrize("platform", ["bizoholic", "coreldove", "management"])
def test_stack_routes_over_the_platforms_own_edge_network_only(platform):
    edge = f"bizosaas-{platform}-edge"
    stack = render_stack(platform, edge)
    assert set(stack["networks"]) <= {f"bizosaas-{platform}", edge, "bizosaas-network"}
    assert "dokploy-network" not in stack["networks"]
    routed = {n: s for n, s in stack["services"].items() if s["deploy"]["labels"].get("traefik.enable") == "true"}
    assert routed, "every platform has routed services"
    for name, svc in stack["services"].items():
        assert (edge in svc["networks"]) == (name in routed), name
    for svc in routed.values():
        assert svc["deploy"]["labels"]["traefik.swarm.network"] == edge


def test_dokploy_projects_follow_the_seed_names():
    from ansible_collections.bizosaas.ops.plugins.filter import platforms as pf
    data = {"bizoholic": {"dokploy_project": "bizoholic-platform", "description": "agency"},
            "shop": {"enabled": True}, "off": {"enabled": False}}
    assert pf.dokploy_projects(data) == [
        {"name": "bizoholic-platform",
         "description": "agency (bizoholic), deployed by bizosaas-ops as the Swarm stack bizoholic"},
        {"name": "shop-platform", "description": "shop (shop), deployed by bizosaas-ops as the Swarm stack shop"},
    ]
    with pytest.raises(AnsibleFilterError, match="dokploy_project"):
        pf.dokploy_project_name({"x": {"dokploy_project": "bad/name"}}, "x")
