"""traefik image: the real binary, the official CLI/config path, routing by Host header."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.kit.kitlib import Containers, container_ip, docker, kit_ref, wait_for

STATIC = """\
entryPoints:
  web:
    address: ":80"
ping: {}
providers:
  file:
    filename: /etc/traefik/dynamic.yml
log:
  level: INFO
"""
DYNAMIC = """\
http:
  routers:
    app:
      rule: "Host(`app.kit.test`)"
      entryPoints: [web]
      service: app
  services:
    app:
      loadBalancer:
        servers:
          - url: "http://traefik-backend:8080"
"""


def request(ip: str, host: str) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://{ip}/", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_traefik_routes_by_host_header(containers: Containers, tmp_path) -> None:
    image = kit_ref("traefik")
    assert "3.7.15" in docker("run", "--rm", image, "version").stdout  # `traefik version` via the entrypoint
    (tmp_path / "traefik.yml").write_text(STATIC)
    (tmp_path / "dynamic.yml").write_text(DYNAMIC)
    for p in tmp_path.iterdir():
        p.chmod(0o644)
    tmp_path.chmod(0o755)
    containers.run("traefik-backend", kit_ref("probe"), env={"APP_VERSION": "routed-1"})
    # No arguments: the image's default command reads /etc/traefik/traefik.yml, as upstream.
    name = containers.run("traefik", image, opts=["-v", f"{tmp_path}:/etc/traefik:ro"])
    ip = container_ip(name)
    _, body = wait_for(f"{name} to route app.kit.test",
                       lambda: (lambda r: r if r[0] == 200 else None)(request(ip, "app.kit.test")),
                       timeout=30, container=name)
    assert json.loads(body)["version"] == "routed-1"
    assert request(ip, "other.kit.test")[0] == 404
