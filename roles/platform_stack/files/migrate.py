#!/usr/bin/env python3
"""Run each service's migration once per new image, as a Swarm replicated job, before the rollout.

    BIZOSAAS_MIGRATE_SPEC='{"jobs": [...], "timeout": 900, "keep": 3, "log_dir": "..."}' migrate.py [--check]

A job (bizosaas.ops.platform_migration_jobs) names the platform, its stack, the service, the NEW
image, the command (through the env shim when the service has env_from_secrets), the service's
environment, docker secrets and configs (by name: no value here), its private overlay and its limits.

For each job, in order:
1. The target digest: the image's own when it is pinned (image@sha256:...), else where its tag
   points in the registry now (asked through the engine, as `docker stack deploy --resolve-image`
   does; `docker pull` when the registry needs the CLI's credentials).
2. The digest the service runs now and its org.bizosaas.migrate label (the migrate command's
   identity, set by the stack file): both the same means this image's migration already ran and the
   rollout finished, so nothing to do (a rerun of the same version; the fast path, which skips the
   deploy altogether, agrees). A new image, or a new or changed `migrate`, runs it:
3. `docker service create --mode replicated-job --restart-condition none` with image@digest, the
   service's environment, secrets, configs and private overlay, labelled org.bizosaas.job=migrate,
   org.bizosaas.platform, org.bizosaas.service, org.bizosaas.image; wait until its task completes
   or fails (or the timeout); keep its log in log_dir/<job>.log (0600) and its last lines in the
   output. A job that is still running at the timeout is left running (stopping a migration half way
   is worse) and reported as "timeout".
4. Keep the newest `keep` finished job services of that service, remove the older ones.
The first job that does not succeed stops the run. --check reports what would run, runs nothing.

Prints {"results": [...], "ran": N, "failed": "<service>" or "", "history": [...]} (history: the
jobs that ran, as the deploy history records them). Uses the docker CLI and the Python standard
library only; no secret value passes through it.
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.parse

TERMINAL = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, text=True, capture_output=True)


class _Engine(http.client.HTTPConnection):
    def __init__(self) -> None:
        super().__init__("localhost", timeout=20)

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


def split_ref(image: str) -> tuple[str, str]:
    """'repo:tag@sha256:x' -> ('repo:tag', 'sha256:x')."""
    ref, _, digest = image.partition("@")
    return ref, digest


def target_digest(image: str, check: bool = False) -> str:
    ref, digest = split_ref(image)
    if digest:
        return digest
    found = registry_digest(ref)
    if found or check:  # check mode pulls nothing: an unknown digest reads as "would run"
        return found
    # The engine's lookup has no credentials for a private registry: the CLI's pull has them.
    pulled = docker("pull", "-q", ref, check=False)
    if pulled.returncode != 0:
        raise SystemExit(f"cannot resolve {ref}: {(pulled.stderr or pulled.stdout).strip()}")
    repo = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
    digests = json.loads(docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout) or []
    for d in digests:
        if d.startswith(repo + "@"):
            return d.split("@", 1)[1]
    raise SystemExit(f"cannot resolve {ref}: no digest for it after the pull")


def current(service: str) -> tuple[str, str]:
    """(image digest, org.bizosaas.migrate label) of the running service ('' when it does not exist)."""
    proc = docker("service", "inspect", service, check=False)
    if proc.returncode != 0:
        return "", ""
    spec = (json.loads(proc.stdout or "[{}]")[0] or {}).get("Spec") or {}
    image = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")
    return split_ref(image)[1], (spec.get("Labels") or {}).get("org.bizosaas.migrate", "")


def task_state(job: str) -> dict:
    ids = docker("service", "ps", "-q", "--no-trunc", job, check=False).stdout.split()
    if not ids:
        return {"state": "pending", "error": "", "exit_code": None}
    tasks = json.loads(docker("inspect", *ids).stdout)
    tasks.sort(key=lambda t: t.get("CreatedAt", ""))
    st = tasks[-1].get("Status") or {}
    return {"state": st.get("State", ""), "error": st.get("Err", ""),
            "exit_code": (st.get("ContainerStatus") or {}).get("ExitCode")}


def job_logs(job: str) -> str:
    text = ""
    for _ in range(10):  # the logs of a finished task can take a moment to be readable
        proc = subprocess.run(["docker", "service", "logs", "--raw", job], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        text = proc.stdout
        if text.strip():
            break
        time.sleep(1)
    return text


def prune(platform: str, service: str, keep: int) -> list[str]:
    out = docker("service", "ls", "-q", "--filter", "label=org.bizosaas.job=migrate",
                 "--filter", f"label=org.bizosaas.platform={platform}",
                 "--filter", f"label=org.bizosaas.service={service}").stdout.split()
    if not out:
        return []
    jobs = json.loads(docker("service", "inspect", *out).stdout)
    jobs.sort(key=lambda j: j.get("CreatedAt", ""), reverse=True)
    removed = []
    for j in jobs[keep:]:
        name = j["Spec"]["Name"]
        if task_state(name)["state"] in TERMINAL:
            docker("service", "rm", name, check=False)
            removed.append(name)
    return removed


def create_args(job: dict, name: str, image: str) -> list[str]:
    args = ["service", "create", "--detach", "--quiet", "--name", name, "--mode", "replicated-job",
            "--restart-condition", "none", "--with-registry-auth",
            "--label", "org.bizosaas.job=migrate",
            "--label", f"org.bizosaas.platform={job['platform']}",
            "--label", f"org.bizosaas.service={job['service']}",
            "--label", f"org.bizosaas.image={image}",
            "--container-label", "org.bizosaas.job=migrate",
            "--limit-cpu", str(job["cpus"]), "--limit-memory", str(job["memory"]),
            "--cap-drop", "ALL"]
    for cap in job.get("cap_add") or []:
        args += ["--cap-add", cap]
    for net in job["networks"]:
        args += ["--network", net]
    for s in job["secrets"]:
        args += ["--secret", f"source={s['source']},target={s['target']},mode=0444"]
    for c in job["configs"]:
        args += ["--config", f"source={c['source']},target={c['target']},mode=0444"]
    for k, v in sorted(job["env"].items()):
        args += ["--env", f"{k}={v}"]
    if job.get("entrypoint"):
        args += ["--entrypoint", shlex.join(job["entrypoint"])]
    return [*args, image, *job["args"]]


def run_job(job: dict, spec: dict, image: str) -> dict:
    name = f"{job['platform']}-migrate-{job['service']}"[:48] + f"-{int(time.time())}"
    start = time.monotonic()
    created = docker(*create_args(job, name, image), check=False)
    if created.returncode != 0:
        return {"job": name, "result": "failed", "exit_code": None, "seconds": 0,
                "error": f"docker service create failed: {created.stderr.strip()}", "log_tail": [], "log_file": ""}
    deadline = start + float(spec.get("timeout", 900))
    state = task_state(name)
    while state["state"] not in TERMINAL and time.monotonic() < deadline:
        time.sleep(2)
        state = task_state(name)
    seconds = round(time.monotonic() - start, 1)
    log = job_logs(name)
    log_file = ""
    if spec.get("log_dir"):
        os.makedirs(spec["log_dir"], mode=0o700, exist_ok=True)
        log_file = os.path.join(spec["log_dir"], f"{name}.log")
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(log)
    if state["state"] == "complete" and state["exit_code"] in (0, None):
        result = "ok"
    elif state["state"] in TERMINAL:
        result = "failed"
    else:
        result = "timeout"
    tail = [line[:300] for line in log.splitlines()[-int(spec.get("tail", 30)):]]
    return {"job": name, "result": result, "exit_code": state["exit_code"], "seconds": seconds,
            "error": state["error"], "state": state["state"], "log_tail": tail, "log_file": log_file}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    spec = json.loads(os.environ.get("BIZOSAAS_MIGRATE_SPEC") or "{}")
    results, ran, failed = [], 0, ""
    for job in spec.get("jobs") or []:
        service = f"{job['stack']}_{job['service']}"
        ref, _ = split_ref(job["image"])
        digest = target_digest(job["image"], check)
        image = f"{ref}@{digest}"
        now, migrated = current(service)
        res = {"service": job["service"], "image": image, "previous": now}
        if digest and now == digest and migrated == job["id"]:
            results.append({**res, "result": "current", "ran": False})
            continue
        if check:
            results.append({**res, "result": "would run", "ran": True})
            ran += 1
            continue
        outcome = run_job(job, spec, image)
        outcome["pruned"] = prune(job["platform"], job["service"], int(spec.get("keep", 3)))
        results.append({**res, **outcome, "ran": True})
        ran += 1
        if outcome["result"] != "ok":
            failed = job["service"]
            break
    # What the deploy history keeps of each job that ran (the log stays in its file).
    keep = ("service", "image", "previous", "result", "seconds", "job", "exit_code", "log_file")
    history = [{k: r[k] for k in keep if k in r} for r in results if r.get("ran") and not check]
    print(json.dumps({"results": results, "ran": ran, "failed": failed, "history": history}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
