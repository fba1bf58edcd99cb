#!/usr/bin/env python3
# The breakout matrix's context (molecule/site/verify_breakout.yml), read on the VPS: what the
# inventory says (argv[1], JSON: bizosaas_platforms, the data services, Dokploy's port, the socket
# proxy's names, how each service answers) completed with what Docker and the kernel say:
# every running platform task's addresses on each of its networks, the host's IPv4 addresses
# (every interface, the Docker gateways included). Prints the
# context as JSON, with each platform's attacker (the service holding all three credentials).
import json
import subprocess
import sys


def docker(*args):
    return subprocess.run(["docker", *args], check=True, text=True, capture_output=True).stdout


def containers(label):
    ids = docker("ps", "-q", "--filter", f"label={label}").split()
    return json.loads(docker("inspect", *ids)) if ids else []


def networks(info):
    return {name: [net["IPAddress"]] for name, net in info["NetworkSettings"]["Networks"].items()
            if net.get("IPAddress") and name != "ingress"}


def main():
    static = json.loads(sys.argv[1])
    ctx = {k: static[k] for k in ("postgres", "redis", "dokploy_port", "socket_proxy")}
    ctx["platforms"], ctx["attackers"] = {}, {}
    for name, data in static["bizosaas_platforms"].items():
        if not data.get("enabled", True):
            continue
        # the attacker: the service that holds Postgres, Redis and Temporal credentials
        need = {"postgres", "redis", "temporal"}
        users = [s for s, spec in data["services"].items() if need <= set(spec.get("uses", []))]
        if not users:
            sys.exit(f"platform {name}: no service uses Postgres, Redis and Temporal")
        ctx["attackers"][name] = f"{name}_{users[0]}"
        services = {}
        for info in containers(f"com.docker.stack.namespace={name}"):
            svc = info["Config"]["Labels"]["com.docker.swarm.service.name"]
            spec = static["service_specs"].get(svc, static["default_service_spec"])
            entry = services.setdefault(svc, {**spec, "networks": {}})
            for net, addresses in networks(info).items():
                entry["networks"].setdefault(net, []).extend(addresses)
        if not services:
            sys.exit(f"platform {name}: no running task container found")
        ctx["platforms"][name] = {
            "private_network": f"{static['network_prefix']}{name}",
            "database": data["database"],
            "redis_prefix": data["redis_prefix"],
            "namespace": data.get("temporal_namespace", ""),
            "temporal_address": static["temporal_addresses"].get(name) or static["temporal_address"],
            "services": services,
        }
    addrs = json.loads(subprocess.run(["ip", "-j", "-4", "addr"], check=True, text=True, capture_output=True).stdout)
    ctx["host_addresses"] = sorted(
        {a["local"] for i in addrs for a in i.get("addr_info", []) if a["local"] != "127.0.0.1"})
    print(json.dumps(ctx))


if __name__ == "__main__":
    main()
