"""temporal image: the real dev server; a namespace and a workflow survive a restart (SQLite on
/data). The probe's Temporal check (a real gRPC DescribeNamespace) is tested against it too."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.kit.kitlib import Containers, container_ip, docker, health, kit_ref, wait_for


def temporal(name: str, *args: str, check: bool = True):
    return docker("exec", name, "temporal", *args, "--address", "127.0.0.1:7233", check=check, timeout=60)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_temporal_namespace_and_workflow_survive_restart(containers: Containers) -> None:
    data = containers.volume("temporal-data")
    name = containers.run("temporal", kit_ref("temporal"), env={"TEMPORAL_NAMESPACES": "default,platform-a"},
                          opts=["-v", f"{data}:/data"])
    wait_for(f"{name} to be healthy", lambda: health(name) == "healthy", timeout=90, container=name)
    temporal(name, "operator", "namespace", "create", "--namespace", "kit-ns")
    temporal(name, "workflow", "start", "--namespace", "kit-ns", "--task-queue", "kit-q",
             "--type", "KitWorkflow", "--workflow-id", "kit-wf-1", "--input", '"hello"')
    # the UI answers on its port
    ip = container_ip(name)
    assert wait_for("the UI on :8233", lambda: get(f"http://{ip}:8233/")[0] == 200, timeout=30)

    docker("restart", name)
    wait_for(f"{name} to be healthy after the restart", lambda: health(name) == "healthy", timeout=90, container=name)
    ns = json.loads(temporal(name, "operator", "namespace", "describe", "--namespace", "kit-ns",
                             "--output", "json").stdout)
    assert ns["namespaceInfo"]["name"] == "kit-ns"
    wf = json.loads(temporal(name, "workflow", "describe", "--namespace", "kit-ns", "--workflow-id", "kit-wf-1",
                             "--output", "json").stdout)
    assert wf["workflowExecutionInfo"]["type"]["name"] == "KitWorkflow"
    assert wf["workflowExecutionInfo"]["status"].endswith("RUNNING")
    # the namespace from TEMPORAL_NAMESPACES exists too, and a missing one does not
    temporal(name, "operator", "namespace", "describe", "--namespace", "platform-a")
    assert temporal(name, "operator", "namespace", "describe", "--namespace", "nope", check=False).returncode != 0

    # the probe stand-in's Temporal check is real: 200 for its namespace, 503 for a missing one
    ok = containers.run("probe-t-ok", kit_ref("probe"),
                        env={"TEMPORAL_ADDRESS": "temporal:7233", "TEMPORAL_NAMESPACE": "kit-ns"})
    bad = containers.run("probe-t-bad", kit_ref("probe"),
                         env={"TEMPORAL_ADDRESS": "temporal:7233", "TEMPORAL_NAMESPACE": "nope"})
    code, body = wait_for("the probe to answer", lambda: get(f"http://{container_ip(ok)}:8080/health"))
    assert code == 200, body
    code, body = wait_for("the probe to answer", lambda: get(f"http://{container_ip(bad)}:8080/health"))
    assert code == 503 and b"NOT_FOUND" in body, body
