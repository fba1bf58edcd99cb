"""socketproxy image: Debian's HAProxy with the official haproxy image's contract, and the traefik
role's Docker socket proxy configuration (roles/traefik/templates/docker-proxy.cfg.j2) run in it the
way the role runs it, against this host's real Docker engine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jinja2
import yaml

from tests.kit.kitlib import ROOT, Containers, docker, kit_ref, wait_for

CLIENT = ROOT / "molecule" / "traefik" / "files" / "docker_api.py"


class _Loader(yaml.SafeLoader):
    """vars/main.yml uses Ansible's !unsafe tag."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _yaml(path: Path) -> dict:
    return yaml.load(path.read_text(), _Loader)


def _role_config() -> str:
    """The proxy's haproxy.cfg as the role renders it (its defaults and vars)."""
    role = ROOT / "roles" / "traefik"
    defaults = _yaml(role / "defaults" / "main.yml")
    rvars = _yaml(role / "vars" / "main.yml")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True)
    env.filters["bool"] = lambda v: str(v).lower() in ("1", "true", "yes", "on")
    regex = env.from_string(rvars["__traefik_socket_proxy_regex"]).render(
        __traefik_socket_proxy_paths=rvars["__traefik_socket_proxy_paths"]).strip()
    return env.from_string((role / "templates" / "docker-proxy.cfg.j2").read_text()).render(
        ansible_managed="tests/kit", __traefik_socket_proxy_listen=rvars["__traefik_socket_proxy_listen"],
        __traefik_socket_proxy_regex=regex, traefik_container_uid=defaults["traefik_container_uid"],
        traefik_socket_proxy_log_allowed=True)


def test_socketproxy_image_has_the_official_contract() -> None:
    image = kit_ref("socketproxy")
    # An argument that starts with "-" goes to haproxy (master-worker, foreground), as upstream.
    assert "HAProxy version 3.0." in docker("run", "--rm", image, "-v").stdout
    assert docker("run", "--rm", "--entrypoint", "id", image).stdout.startswith("uid=99(haproxy) gid=99(haproxy)")
    cfg = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    assert cfg["Cmd"] == ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
    assert cfg["StopSignal"] == "SIGUSR1"


def test_the_roles_proxy_forwards_reads_and_refuses_the_rest(containers: Containers, tmp_path: Path) -> None:
    image, client = kit_ref("socketproxy"), kit_ref("probe")
    defaults = _yaml(ROOT / "roles/traefik/defaults/main.yml")
    traefik_uid, proxy_uid = defaults["traefik_container_uid"], defaults["traefik_socket_proxy_uid"]
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(_role_config())
    cfg.chmod(0o644)
    sock_dir = tmp_path / "sock"
    sock_dir.mkdir()
    os.chown(sock_dir, proxy_uid, traefik_uid)  # as the role does: the proxy's folder, Traefik's group
    sock_dir.chmod(0o750)
    tmp_path.chmod(0o755)
    docker_gid = os.stat("/var/run/docker.sock").st_gid
    name = containers.name("socketproxy")
    docker("run", "-d", "--name", name, "--label", "org.bizosaas.test=kit", "--network", "none",
           "--user", f"{proxy_uid}:{proxy_uid}", "--group-add", str(docker_gid), "--group-add", str(traefik_uid),
           "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--read-only",
           "-v", "/var/run/docker.sock:/var/run/docker.sock:ro",
           "-v", f"{cfg}:/usr/local/etc/haproxy/haproxy.cfg:ro", "-v", f"{sock_dir}:/run/docker-proxy", image)
    containers.names.append(name)
    wait_for("the proxy's socket", lambda: (sock_dir / "docker.sock").exists(), timeout=30, container=name)

    def calls(user: str, *requests: str) -> dict[str, str]:
        out = docker("run", "--rm", "--network", "none", "--user", user, "-v", f"{sock_dir}:/s:ro",
                     "-v", f"{CLIENT}:/a.py:ro", client, "python3", "/a.py", "/s/docker.sock", *requests).stdout
        return dict(line.split("=", 1) for line in out.splitlines())

    got = calls(f"{traefik_uid}:{traefik_uid}", "GET /version", "HEAD /_ping", "GET /v1.41/containers/json",
                f"GET /v1.41/containers/{name}/json", "GET /v1.41/networks",
                "POST /v1.41/containers/create", f"POST /v1.41/containers/{name}/exec",
                f"DELETE /v1.41/containers/{name}",
                "GET /v1.41/secrets", "GET /v1.41/configs", "GET /v1.41/swarm", "GET /v1.41/images/json",
                f"GET /v1.41/containers/{name}/export", f"GET /v1.41/containers/{name}/logs", "GET /v1.41/info",
                "POST /v1.41/build", "GET /v1.41/containers/%2e%2e/json")
    reads = ["GET /version", "HEAD /_ping", "GET /v1.41/containers/json", f"GET /v1.41/containers/{name}/json",
             "GET /v1.41/networks"]
    assert {k: got[k] for k in reads} == dict.fromkeys(reads, "200"), got
    refused = {k: v for k, v in got.items() if k not in reads}
    assert refused == dict.fromkeys(refused, "403"), got
    # Only Traefik's gid gets in: another uid, or root without capabilities, cannot open the socket.
    assert calls("1000:1000", "GET /version") == {"GET /version": "error:PermissionError"}
    logs = docker("logs", name).stdout + docker("logs", name).stderr
    assert '"POST /v1.41/containers/create HTTP/1.1"' in logs and " 403 " in logs
