"""probe image (STAND-IN for the platform apps): its health really depends on its database."""

from __future__ import annotations

import urllib.request

import pytest

from tests.kit.kitlib import Containers, container_ip, docker, get_json, health, kit_ref, logs, wait_for


def test_probe_health_follows_its_database(containers: Containers, tmp_path) -> None:
    pg_image = kit_ref("postgres")
    secret = tmp_path / "pw"
    secret.write_text("plat-pw\n")
    secret.chmod(0o644)
    pg = containers.run("probe-pg", pg_image,
                        env={"POSTGRES_PASSWORD": "plat-pw", "POSTGRES_USER": "bizoholic", "POSTGRES_DB": "bizoholic"})
    probe = containers.run(
        "probe",
        kit_ref("probe"),
        env={"PGHOST": "probe-pg", "PGUSER": "bizoholic", "PGDATABASE": "bizoholic",
             "PGPASSWORD_FILE": "/run/secrets/pw", "APP_VERSION": "2.3.4", "PLATFORM": "bizoholic",
             "CHECK_TIMEOUT": "2"},
        opts=["-v", f"{secret}:/run/secrets/pw:ro"],
    )
    label = docker("inspect", "-f", '{{index .Config.Labels "org.bizosaas.kit.standin"}}', probe).stdout
    assert label.strip() == "true"
    url = f"http://{container_ip(probe)}:8080"
    info = wait_for(f"{probe} to serve /", lambda: get_json(url + "/")[1], timeout=30, container=probe)
    assert info["version"] == "2.3.4" and info["platform"] == "bizoholic" and "STAND-IN" in info["standin"]
    wait_for(f"{pg} to be healthy", lambda: health(pg) == "healthy", timeout=90)
    code, body = get_json(url + "/health")
    assert code == 200, body
    assert body["checks"]["postgres"].startswith("ok: connected to database bizoholic as bizoholic")

    # database down -> 503 with the reason; back up -> 200
    docker("stop", pg)
    code, body = get_json(url + "/health")
    assert code == 503 and "postgres" in body["reason"], body
    wait_for(f"{probe} container health to turn unhealthy",
             lambda: health(probe) == "unhealthy", timeout=120, interval=1)
    docker("start", pg)
    wait_for("/health to be 200 again", lambda: get_json(url + "/health")[0] == 200, timeout=90, interval=1)


def test_probe_refused_credentials_delay_and_fail_switch(containers: Containers) -> None:
    pg = containers.run("probe-pg2", kit_ref("postgres"), env={"POSTGRES_PASSWORD": "right"})
    wait_for(f"{pg} to be healthy", lambda: health(pg) == "healthy", timeout=90)
    delayed = containers.run("probe-delay", kit_ref("probe"), env={"START_DELAY": "8"})
    wait_for("the START_DELAY message", lambda: "START_DELAY: waiting 8s" in logs(delayed), timeout=10)
    with pytest.raises(OSError):  # not listening yet
        urllib.request.urlopen(f"http://{container_ip(delayed)}:8080/health", timeout=2)
    wrong = containers.run("probe-wrong", kit_ref("probe"),
                           env={"DATABASE_URL": "postgresql://postgres:wrong@probe-pg2/postgres"})
    failing = containers.run("probe-fail", kit_ref("probe"), env={"FAIL_HEALTH": "1"})
    code, body = wait_for("the wrong-password probe to answer", lambda: get_json(f"http://{container_ip(wrong)}:8080/health"))
    assert code == 503 and "password authentication failed" in body["reason"], body
    code, body = wait_for("the FAIL_HEALTH probe to answer", lambda: get_json(f"http://{container_ip(failing)}:8080/health"))
    assert code == 503 and body["reason"] == "FAIL_HEALTH is set"
    code, body = wait_for("the delayed probe to listen", lambda: get_json(f"http://{container_ip(delayed)}:8080/health"))
    assert code == 200 and body["checks"] == {"postgres": "not configured", "redis": "not configured",
                                              "temporal": "not configured"}
