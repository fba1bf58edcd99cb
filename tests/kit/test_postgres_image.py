"""postgres image: the official image's contract, pgvector, scram-sha-256 over TCP."""

from __future__ import annotations

import psycopg2
import pytest

from tests.kit.kitlib import Containers, container_ip, docker, health, kit_ref, logs, wait_for

INIT_SH = """#!/bin/bash
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE TABLE init_runs (at timestamptz DEFAULT now());
INSERT INTO init_runs DEFAULT VALUES;
SQL
"""
INIT_SQL = "CREATE ROLE app LOGIN PASSWORD 'app-pw';\n"


def connect(host: str, password: str, user: str = "kit", dbname: str = "kitdb"):
    return psycopg2.connect(host=host, user=user, password=password, dbname=dbname, connect_timeout=5)


def test_postgres_contract_pgvector_and_restart(containers: Containers, tmp_path) -> None:
    secret = tmp_path / "pg_password"
    secret.write_text("s3cret-from-file\n")
    initdb = tmp_path / "initdb"
    initdb.mkdir()
    (initdb / "10-table.sh").write_text(INIT_SH)
    (initdb / "10-table.sh").chmod(0o755)
    (initdb / "20-role.sql").write_text(INIT_SQL)
    for p in (secret, initdb, *initdb.iterdir()):
        p.chmod(p.stat().st_mode | 0o055)
    name = containers.run(
        "pg",
        kit_ref("postgres"),
        env={"POSTGRES_PASSWORD_FILE": "/run/secrets/pg_password", "POSTGRES_USER": "kit", "POSTGRES_DB": "kitdb"},
        opts=["-v", f"{secret}:/run/secrets/pg_password:ro", "-v", f"{initdb}:/docker-entrypoint-initdb.d:ro",
              "-v", "/var/lib/postgresql/data"],
    )
    wait_for(f"{name} to be healthy", lambda: health(name) == "healthy", timeout=90, container=name)
    ip = container_ip(name)

    # the password from the file, over TCP (scram-sha-256); a wrong one is refused
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        connect(ip, "wrong")
    conn = connect(ip, "s3cret-from-file")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SHOW password_encryption")
        assert cur.fetchone()[0] == "scram-sha-256"
        cur.execute("CREATE EXTENSION vector")
        cur.execute("CREATE TABLE items (id int, embedding vector(3))")
        cur.execute("INSERT INTO items VALUES (1, '[1,2,3]'), (2, '[4,5,6]'), (3, '[1,2,4]')")
        cur.execute("SELECT id, embedding <-> '[1,2,3]' FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 2")
        assert [(r[0], round(r[1], 3)) for r in cur.fetchall()] == [(1, 0.0), (3, 1.0)]
        cur.execute("SELECT count(*) FROM init_runs")  # the .sh init script ran
        assert cur.fetchone()[0] == 1
    conn.close()
    # the .sql init script ran: its role logs in
    connect(ip, "app-pw", user="app").close()

    # the server runs as uid 999 and psql (the real client) logs in over TCP
    assert docker("exec", name, "stat", "-c", "%u", "/proc/1").stdout.strip() == "999"
    out = docker("exec", "-e", "PGPASSWORD=s3cret-from-file", name, "psql", "-h", "127.0.0.1", "-U", "kit",
                 "-d", "kitdb", "-Atc", "SELECT extversion FROM pg_extension WHERE extname = 'vector'").stdout
    assert out.strip().startswith("0.")

    # init scripts run on first init only: a restart keeps the data and does not run them again
    docker("restart", name)
    wait_for(f"{name} to be healthy again", lambda: health(name) == "healthy", timeout=90)
    ip = container_ip(name)
    conn = connect(ip, "s3cret-from-file")
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM init_runs")
        assert cur.fetchone()[0] == 1
        cur.execute("SELECT count(*) FROM items")
        assert cur.fetchone()[0] == 3
    conn.close()


def test_postgres_refuses_to_init_without_password(containers: Containers) -> None:
    name = containers.run("pg-nopw", kit_ref("postgres"))
    wait_for(f"{name} to exit", lambda: docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "false",
             timeout=30)
    assert "superuser password is not specified" in logs(name)
