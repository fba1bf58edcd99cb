"""dokploy-standin (STAND-IN, labelled): /api/health is 200 only while it can log in to Postgres."""

from __future__ import annotations

from tests.kit.kitlib import Containers, container_ip, docker, get_json, health, kit_ref, wait_for


def test_dokploy_standin_health_needs_its_database(containers: Containers, tmp_path) -> None:
    secret = tmp_path / "postgres_password"
    secret.write_text("dokploy-pw\n")
    secret.chmod(0o644)
    image = kit_ref("dokploy-standin")
    label = docker("inspect", "-f", '{{index .Config.Labels "org.bizosaas.kit.standin"}}', image).stdout
    assert label.strip() == "true"
    # Dokploy's own layout: dokploy-postgres, user and database dokploy, password as a docker secret
    name = containers.run("dokploy", image, env={"DOKPLOY_VERSION": "v0.25.11"},
                          opts=["-v", f"{secret}:/run/secrets/postgres_password:ro"])
    url = f"http://{container_ip(name)}:3000"
    code, body = wait_for("the stand-in to answer", lambda: get_json(url + "/api/health"), container=name)
    assert code == 503 and "database" in body["reason"], body
    assert "STAND-IN" in get_json(url + "/")[1]["standin"]

    pg = containers.run("dokploy-postgres", kit_ref("postgres"),
                        env={"POSTGRES_USER": "dokploy", "POSTGRES_DB": "dokploy",
                             "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password"},
                        opts=["-v", f"{secret}:/run/secrets/postgres_password:ro"])
    wait_for(f"{pg} to be healthy", lambda: health(pg) == "healthy", timeout=120, container=pg)
    code, body = wait_for("/api/health to be 200", lambda: (lambda r: r if r[0] == 200 else None)(
        get_json(url + "/api/health")), timeout=30, container=name)
    assert body == {"status": "ok", "version": "v0.25.11", "database": "dokploy", "standin": True}
