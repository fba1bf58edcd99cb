#!/usr/bin/env python3
"""Report (and optionally wait for) the state of a Swarm stack's services, as JSON.

    stack_status.py STACK [--wait SECONDS] [--resolve]

For each service: the image it runs (with digest), its update state, running/desired tasks and
its container IDs, and "spec", a hash of its Swarm spec (what a deploy changes; a forced restart's
counter excluded). With --wait, polls until every service has finished updating (completed,
rolled back or paused) and runs its desired number of healthy tasks, or until the timeout.
"result" is ok, rolled_back, paused, timeout or empty (no services). Read-only: it never changes
anything. Runs on the manager with the docker CLI and the Python standard library only.
With --resolve, "moved" lists the services whose image tag now points at another digest in its
registry (asked through the engine, as `docker stack deploy` resolves it): a redeploy would roll them.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import subprocess
import sys
import time
import urllib.parse

DONE = {"completed", "rollback_completed", "paused", "rollback_paused"}


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, text=True, capture_output=True).stdout


class _Engine(http.client.HTTPConnection):
    def __init__(self) -> None:
        super().__init__("localhost", timeout=10)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect("/var/run/docker.sock")


def registry_digest(ref: str) -> str:
    conn = _Engine()
    try:
        conn.request("GET", f"/distribution/{urllib.parse.quote(ref, safe='/:@')}/json")
        resp = conn.getresponse()
        body = resp.read()
        return json.loads(body).get("Descriptor", {}).get("digest", "") if resp.status == 200 else ""
    except (OSError, ValueError, http.client.HTTPException):
        return ""
    finally:
        conn.close()


def moved(st: dict) -> list[str]:
    """Services whose tag points at another digest now (an unreachable registry moves nothing)."""
    out = []
    for short, svc in st["services"].items():
        ref, _, pinned = svc["image"].partition("@")
        now = registry_digest(ref) if pinned else ""
        if now and now != pinned:
            out.append(short)
    return sorted(out)


def spec_hash(spec: dict) -> str:
    """A short hash of a service's spec: equal before and after a deploy that changed nothing of it.
    ForceUpdate (bumped by `docker service update --force`, a restart) is not part of what is deployed."""
    template = {k: v for k, v in spec.get("TaskTemplate", {}).items() if k != "ForceUpdate"}
    data = json.dumps({**spec, "TaskTemplate": template}, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def status(stack: str) -> dict:
    ids = docker("service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}").split()
    services: dict[str, dict] = {}
    if not ids:
        return {"stack": stack, "services": services, "result": "empty"}
    for svc in json.loads(docker("service", "inspect", *ids)):
        spec = svc["Spec"]
        name = spec["Name"]
        short = name[len(stack) + 1 :] if name.startswith(f"{stack}_") else name
        desired = spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 1)
        update = (svc.get("UpdateStatus") or {}).get("State", "")
        tasks = docker(
            "service",
            "ps",
            "--no-trunc",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.CurrentState}}|{{.ID}}",
            name,
        ).splitlines()
        running = [t for t in tasks if t.startswith("Running")]
        containers: list[str] = []
        for line in docker("ps", "-q", "--no-trunc", "--filter", f"label=com.docker.swarm.service.name={name}").split():
            containers.append(line)
        services[short] = {
            "name": name,
            "image": spec["TaskTemplate"]["ContainerSpec"]["Image"],
            "update_state": update,
            "update_message": (svc.get("UpdateStatus") or {}).get("Message", ""),
            "running": len(running),
            "desired": desired,
            "replicas": f"{len(running)}/{desired}",
            "containers": sorted(containers),
            "spec": spec_hash(spec),
        }
    states = {s["update_state"] for s in services.values()}
    if states & {"rollback_completed", "rollback_paused", "rollback_started"}:
        result = "rolled_back"
    elif "paused" in states:
        result = "paused"
    else:
        result = "ok"
    return {"stack": stack, "services": services, "result": result}


def settled(st: dict) -> bool:
    return all(
        (s["update_state"] in DONE or s["update_state"] == "") and s["running"] == s["desired"]
        for s in st["services"].values()
    )


def main(argv: list[str]) -> int:
    stack = argv[0]
    wait = float(argv[argv.index("--wait") + 1]) if "--wait" in argv else 0.0
    deadline = time.monotonic() + wait
    st = status(stack)
    # A fresh `docker stack deploy` may not have registered the update yet: give it a moment.
    if wait:
        time.sleep(2)
        st = status(stack)
        while not settled(st) and time.monotonic() < deadline:
            time.sleep(2)
            st = status(stack)
        if not settled(st):
            st["result"] = "timeout"
    if "--resolve" in argv:
        st["moved"] = moved(st)
    print(json.dumps(st, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
