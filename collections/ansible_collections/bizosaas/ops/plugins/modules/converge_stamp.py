#!/usr/bin/python
"""Record what a role left on the host, and tell the next run whether anything differs (the fast path)."""

from __future__ import annotations

import glob
import hashlib
import hmac
import http.client
import json
import os
import secrets
import shutil
import socket
import stat
import tempfile
import time
import urllib.parse

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: converge_stamp
short_description: Compare the host with what a role recorded at its last converge (the fast path)
description:
  - >-
    At the end of a successful converge a role records a stamp in C(dir)/C(name).json (0600, root).
    It holds one digest per input, computed on the controller by the action plugin (the role's own
    files, the collection's plugins, and the value of every variable in the role's
    C(meta/argument_specs.yml)), and one digest per probe of the host state the role manages (files,
    systemd units, packages, containers, Swarm services and stacks, networks, volumes, secrets,
    configs, sysctl keys and read-only commands).
  - >-
    At the start of the next run, C(state=check) computes the same digests and returns C(fresh=true)
    only when every input and every probe matches, and the role then skips its converge tasks.
    Anything that differs (an input, a file edited by hand, a stopped unit, a removed network, a
    service Swarm rolled back, a service with fewer running tasks than desired) makes C(fresh=false)
    and is named in C(reasons); the role then runs in full, which corrects the drift.
  - >-
    A check that is not fresh removes the stamp at once (outside check mode): the role is about to
    run in full, and if that run fails or is interrupted, the next run must not trust a stamp from
    before it. A stamp older than C(max_age) is not fresh either, so every role re-asserts, at least
    that often, what no probe reads.
  - >-
    C(state=record) writes the stamp only when it differs from the one on disk, and reports that as
    C(recorded), never as C(changed): the stamp is bookkeeping, so a run that changed nothing the
    role manages says changed=0. In check mode it writes nothing. Every probe is read-only.
    C(state=invalidate) removes the stamp (a run with the fast path off).
  - >-
    Input digests are stored as HMAC-SHA256 keyed by a random per-host key (C(dir)/.key, 0600), so a
    stamp never holds a plain digest of a secret (a password's SHA-256 can be brute-forced), and the
    C(inputs) argument is never logged on the host.
options:
  name: {description: Stamp name (the role, or role-platform), type: str, required: true}
  state:
    description: "C(check) compares, C(record) writes, C(invalidate) removes"
    type: str
    choices: [check, record, invalidate]
    default: check
  inputs: {description: Input name to digest (from the action plugin), type: dict, required: true}
  probes: {description: What to read on the host (see the collection README), type: dict, default: {}}
  max_age: {description: Seconds after which a stamp is stale (0 = never), type: int, default: 86400}
  fast:
    description: >-
      The fast-path switch (action plugin only; default bizosaas_fast_path, and the BIZOSAAS_FAST_PATH
      environment wins).
    type: bool
  always:
    description: >-
      Compare even when the fast path is off (action plugin only): for a role whose comparison is what
      decides whether its work is needed at all, not a speed-up.
    type: bool
    default: false
  dir: {description: Stamp directory, type: path, default: /var/lib/bizosaas-ops/stamps}
attributes:
  check_mode: {support: full}
  diff_mode: {support: none}
  idempotent: {support: full}
"""

RETURN = r"""
fresh: {description: Every input and probe matches the stamp (check only), type: bool, returned: always}
reasons: {description: What differs, at most 12 entries, type: list, elements: str, returned: always}
stamp: {description: The stamp file, type: str, returned: always}
recorded: {description: The stamp was written (never in check mode), type: bool, returned: when state is record}
invalidated: {description: The stamp was removed (a full converge starts), type: bool, returned: when state is check}
"""


MAX_REASONS = 12
LARGE_FILE = 16 << 20  # bytes; a larger file is compared by size and mtime, not read
KEY_FILE = ".key"
FORMAT = 2  # 2: HMAC-keyed inputs, recorded_epoch
DOCKER_SOCKET = "/var/run/docker.sock"


def _sha(data: object) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()


def _file_digest(path: str) -> str:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "absent"
    meta = [stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, stat.S_IFMT(st.st_mode)]
    if stat.S_ISLNK(st.st_mode):
        return _sha([meta, os.readlink(path)])
    if stat.S_ISREG(st.st_mode) and st.st_size > LARGE_FILE:  # a swap file, an image: size and mtime
        return _sha([meta, st.st_size, st.st_mtime_ns])
    if stat.S_ISREG(st.st_mode):
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return _sha([meta, h.hexdigest()])
    return _sha(meta)


def probe_files(paths: list[str]) -> dict[str, str]:
    out = {}
    for pattern in paths:
        if any(c in pattern for c in "*?["):
            matches = sorted(glob.glob(pattern))
            out[f"glob:{pattern}"] = _sha(matches)
            for path in matches:
                out[f"file:{path}"] = _file_digest(path)
        else:
            out[f"file:{pattern}"] = _file_digest(pattern)
    return out


def probe_modes(paths: list[str]) -> dict[str, str]:
    """Type, mode and owner only, for a file another program writes (acme.json)."""
    out = {}
    for path in paths:
        try:
            st = os.lstat(path)
            out[f"mode:{path}"] = _sha([stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, stat.S_IFMT(st.st_mode)])
        except FileNotFoundError:
            out[f"mode:{path}"] = "absent"
    return out


def probe_sysctl(keys: list[str]) -> dict[str, str]:
    out = {}
    for key in keys:
        try:
            with open("/proc/sys/" + key.replace(".", "/"), encoding="utf-8") as fh:
                value = " ".join(fh.read().split())
        except OSError:
            value = None
        out[f"sysctl:{key}"] = _sha(value)
    return out


class Host:
    """The read-only commands the probes run, batched: one process per kind of object."""

    def __init__(self, module: AnsibleModule):
        self.module = module

    def run(self, argv: list[str] | str) -> tuple[int, str]:
        # A host without the program (no Docker yet on a fresh VPS) answers "missing", which simply
        # differs from a recorded stamp, instead of failing the run before the role's own checks.
        if not isinstance(argv, str) and shutil.which(argv[0]) is None:
            return 127, f"{argv[0]}: not installed"
        rc, out, _err = self.module.run_command(argv, use_unsafe_shell=isinstance(argv, str))
        return rc, out

    def units(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        props = "Id,LoadState,ActiveState,UnitFileState,FragmentPath,DropInPaths"
        rc, out = self.run(["systemctl", "show", f"--property={props}", "--", *names])
        blocks = out.strip().split("\n\n") if rc == 0 else []
        result = {}
        for name, block in zip(names, blocks + [""] * (len(names) - len(blocks)), strict=False):
            result[f"unit:{name}"] = _sha(sorted(block.strip().splitlines()))
        return result

    def packages(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        _rc, out = self.run(["dpkg-query", "-W", "-f=${Package}\\t${db:Status-Abbrev}\\n", "--", *names])
        status = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
        return {f"pkg:{n}": _sha(status.get(n, "absent").strip()) for n in names}

    def inspect(self, kind: str, names: list[str]) -> dict[str, dict]:
        """`docker <kind> inspect a b c` in one call; a missing object is simply not returned."""
        if not names:
            return {}
        _rc, out = self.run(["docker", kind, "inspect", "--", *names])
        try:
            found = json.loads(out or "[]")
        except ValueError:
            found = []
        by_name: dict[str, dict] = {}
        for obj in found:
            name = (obj.get("Spec") or {}).get("Name") or obj.get("Name") or ""
            by_name[name.lstrip("/")] = obj
        return by_name

    def replicas(self) -> dict[str, str]:
        rc, out = self.run(["docker", "service", "ls", "--format", "{{.Name}}\t{{.Replicas}}"])
        rows = (line.split("\t", 1) for line in out.splitlines() if "\t" in line) if rc == 0 else []
        return {name: reps.split(" ", 1)[0] for name, reps in rows}

    def registry_digest(self, ref: str) -> str:
        if not os.path.exists(DOCKER_SOCKET):
            return "unresolved: no docker"
        return registry_digest(ref)

    def stack_services(self, stack: str) -> list[str]:
        rc, out = self.run(
            [
                "docker",
                "service",
                "ls",
                "--filter",
                f"label=com.docker.stack.namespace={stack}",
                "--format",
                "{{.Name}}",
            ]
        )
        return sorted(out.split()) if rc == 0 else []


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def registry_digest(ref: str, sock: str = DOCKER_SOCKET, timeout: float = 10.0) -> str:
    """The digest a tag points to in its registry now, asked through the Docker engine (which knows
    the insecure registries and mirrors): the same lookup `docker stack deploy --resolve-image` does."""
    conn = _UnixHTTPConnection(sock, timeout)
    try:
        conn.request("GET", f"/distribution/{urllib.parse.quote(ref, safe='/:@')}/json")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            return f"unresolved: HTTP {resp.status}"
        return (json.loads(body).get("Descriptor") or {}).get("digest") or "unresolved: no digest"
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return f"unresolved: {type(exc).__name__}"
    finally:
        conn.close()


def _container_view(obj: dict) -> object:
    cfg = obj.get("Config") or {}
    return {
        "image": obj.get("Image"),
        "config": {k: cfg.get(k) for k in ("Image", "Env", "Cmd", "Entrypoint", "Labels", "User", "Healthcheck")},
        "host": obj.get("HostConfig"),
        "mounts": sorted((m.get("Source"), m.get("Destination"), m.get("RW")) for m in obj.get("Mounts") or []),
        "running": (obj.get("State") or {}).get("Running"),
        "networks": sorted(((obj.get("NetworkSettings") or {}).get("Networks") or {}).keys()),
    }


def _network_view(obj: dict) -> object:
    keys = ("Id", "Driver", "Scope", "Attachable", "Internal", "Options", "Labels")
    return [{k: obj.get(k) for k in keys}, (obj.get("IPAM") or {}).get("Config")]


def _volume_view(obj: dict) -> object:
    return {k: obj.get(k) for k in ("Name", "Driver", "Options", "Labels", "Mountpoint")}


def _object_view(obj: dict) -> object:
    return [obj.get("ID"), (obj.get("Spec") or {}).get("Labels")]


def probe_docker(host: Host, probes: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    simple = {
        "containers": ("container", _container_view),
        "networks": ("network", _network_view),
        "volumes": ("volume", _volume_view),
        "secrets": ("secret", _object_view),
        "configs": ("config", _object_view),
    }
    for key, (kind, view) in simple.items():
        names = [str(n) for n in probes.get(key) or []]
        found = host.inspect(kind, names)
        for name in names:
            out[f"{kind}:{name}"] = _sha(view(found[name])) if name in found else "absent"
    services = [str(n) for n in probes.get("services") or []]
    stacks = [str(s) for s in probes.get("stacks") or []]
    if services or stacks:
        for stack in stacks:
            members = host.stack_services(stack)
            out[f"stack:{stack}"] = _sha(members)
            services.extend(members)
        found = host.inspect("service", services)
        replicas = host.replicas()
        for name in dict.fromkeys(services):
            if name not in found:
                out[f"service:{name}"] = "absent"
                continue
            done, _, want = replicas.get(name, "?/?").partition("/")
            # The Spec changes when anyone updates the service, and when Swarm rolls it back.
            out[f"service:{name}"] = _sha([found[name].get("Spec"), done == want])
    # A tag that moved in its registry (CI pushed a new build under the same tag): the full run
    # deploys it (resolve_image), so the fast path must not call the service fresh. The running
    # image is `repo:tag@sha256:<digest>`; the registry is asked where repo:tag points now.
    for stack in [str(s) for s in probes.get("stack_images") or []]:
        members = host.stack_services(stack)
        specs = host.inspect("service", members)
        for name in members:
            image = ((((specs.get(name) or {}).get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec")
                     or {}).get("Image", "")
            ref, _, pinned = image.partition("@")
            now = host.registry_digest(ref) if ref else "absent"
            out[f"image:{name}"] = "current" if pinned and now == pinned else _sha([ref, pinned, now])
    return out


def compute(host: Host, probes: dict) -> dict[str, str]:
    digests = {}
    digests.update(probe_files([str(p) for p in probes.get("files") or []]))
    digests.update(probe_modes([str(p) for p in probes.get("modes") or []]))
    digests.update(host.units([str(u) for u in probes.get("units") or []]))
    digests.update(host.packages([str(p) for p in probes.get("packages") or []]))
    digests.update(probe_sysctl([str(k) for k in probes.get("sysctl") or []]))
    digests.update(probe_docker(host, probes))
    for label, command in sorted((probes.get("commands") or {}).items()):
        rc, out = host.run(command)
        digests[f"command:{label}"] = _sha([rc, out])
    return digests


def differences(old: dict, new: dict, kind: str) -> list[str]:
    reasons = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            reasons.append(f"{kind} {key}: not in the stamp")
        elif key not in new:
            reasons.append(f"{kind} {key}: no longer probed")
        elif old[key] != new[key]:
            reasons.append(f"{kind} {key}: differs" + (" (absent now)" if new[key] == "absent" else ""))
    return reasons


def read_stamp(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_stamp(path: str, data: dict) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".stamp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def host_key(directory: str, create: bool) -> bytes | None:
    """The per-host HMAC key (32 random bytes, 0600), created on the first record."""
    path = os.path.join(directory, KEY_FILE)
    try:
        with open(path, "rb") as fh:
            key = fh.read()
        if len(key) >= 32:
            return key
    except OSError:
        pass
    if not create:
        return None
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    key = secrets.token_bytes(32)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".key-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return key


def keyed(inputs: dict, key: bytes) -> dict[str, str]:
    return {k: hmac.new(key, f"{k}\0{v}".encode(), hashlib.sha256).hexdigest() for k, v in inputs.items()}


def invalidate(path: str, check_mode: bool) -> bool:
    if check_mode or not os.path.exists(path):
        return False
    os.unlink(path)
    return True


def run(module: AnsibleModule, host: Host) -> dict:
    p = module.params
    name = p["name"]
    if not name or "/" in name or name.startswith("."):
        module.fail_json(msg=f"converge_stamp: name {name!r} must be a plain file name (the role, or role-platform)")
    path = os.path.join(p["dir"], f"{name}.json")
    if p["state"] == "invalidate":
        return {"changed": False, "fresh": False, "reasons": [], "stamp": path,
                "invalidated": invalidate(path, module.check_mode)}
    plain = {str(k): str(v) for k, v in (p["inputs"] or {}).items()}
    old = read_stamp(path)
    key = host_key(p["dir"], create=p["state"] == "record" and not module.check_mode)
    inputs = keyed(plain, key) if key else {}
    probes = compute(host, p["probes"] or {})
    if p["state"] == "check":
        reasons = []
        if old is None or old.get("format") != FORMAT or key is None:
            reasons = ["no stamp yet (first converge, an older format, or it was removed)"]
        else:
            age = time.time() - float(old.get("recorded_epoch") or 0)
            if p["max_age"] and age > p["max_age"]:
                reasons.append(f"the stamp is {int(age // 3600)} h old, older than max_age ({p['max_age']} s): "
                               "re-assert everything once")
            reasons += differences(old.get("inputs") or {}, inputs, "input")
            reasons += differences(old.get("probes") or {}, probes, "host")
        more = len(reasons) - MAX_REASONS
        reasons = reasons[:MAX_REASONS] + ([f"... and {more} more"] if more > 0 else [])
        # The role runs in full from here: a failure or an interruption must not leave the old
        # stamp for the next run to trust.
        invalidated = invalidate(path, module.check_mode) if reasons else False
        return {"fresh": not reasons, "reasons": reasons, "stamp": path, "invalidated": invalidated}
    same = (old is not None and old.get("format") == FORMAT
            and old.get("inputs") == inputs and old.get("probes") == probes)
    if not same and not module.check_mode:
        write_stamp(
            path,
            {
                "name": name,
                "inputs": inputs,
                "probes": probes,
                "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "recorded_epoch": time.time(),
                "format": FORMAT,
            },
        )
    # The stamp is the toolkit's own bookkeeping, not state the role manages: writing it is reported
    # as `recorded`, never as a change, so a run that changed nothing on the host says changed=0
    # (also when only an input changed, e.g. a database removed from the inventory and kept).
    return {
        "changed": False,
        "recorded": not same and not module.check_mode,
        "fresh": same,
        "reasons": [],
        "stamp": path,
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["check", "record", "invalidate"], "default": "check"},
            # Digests of every input, secrets included: never logged on the host.
            "inputs": {"type": "dict", "required": True, "no_log": True},
            "probes": {"type": "dict", "default": {}},
            "max_age": {"type": "int", "default": 86400},
            "dir": {"type": "path", "default": "/var/lib/bizosaas-ops/stamps"},
        },
        supports_check_mode=True,
    )
    module.exit_json(**run(module, Host(module)))


if __name__ == "__main__":
    main()
