"""Unit tests for the backup runner (roles/backup/files/bizosaas_backup.py): its pure parts (the
fingerprint SQL and comparison, Redis prefixes and protocol, restic's errors and summaries, snapshot
choice, the confirm words, the status file) and that it reads the settings the role writes."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bizosaas_backup", ROOT / "roles/backup/files/bizosaas_backup.py")
bb = importlib.util.module_from_spec(_spec)
sys.modules["bizosaas_backup"] = bb  # dataclasses look their module up
_spec.loader.exec_module(bb)


def config(tmp_path: Path, **over) -> bb.Config:
    raw = {
        "host_id": "vps1", "state_dir": str(tmp_path), "password_var": "vault_backup_restic_password",
        "repositories": [{"name": "local", "type": "local", "url": "/srv/repo"},
                         {"name": "offsite", "type": "sftp", "url": "sftp:u@h:/r", "host": "h", "port": 2222,
                          "user": "u"}],
        "retention": {"daily": 7, "weekly": 4, "monthly": 6, "platforms_within": "14d"},
        "postgres": {"service": "bizosaas-shared_postgres", "superuser": "postgres", "databases": ["shop_db"]},
        "redis": {"service": "bizosaas-shared_redis", "password_file": "/run/secrets/redis_default_password"},
        "dokploy": None,
        "platforms": [{"name": "shop", "database": "shop_db", "redis_prefix": "shop:", "stack": "shop",
                       "volumes": ["shop_media"]}],
        "volumes": [], "paths": ["/etc/x"], "edge_container": "", "start_timeout": 300,
        "drill_redis_tolerance_percent": 0.0,
    }
    raw.update(over)
    return bb.Config.from_dict(raw)


# --------------------------------------------------------------------------- settings
def test_the_role_writes_every_setting_the_runner_reads():
    written = yaml.safe_load((ROOT / "roles/backup/vars/main.yml").read_text())["__backup_config"]
    read = {"host_id", "state_dir", "repositories", "password_var", "retention", "compression",
            "check_read_data_subset", "postgres", "redis", "dokploy", "platforms", "volumes", "paths",
            "edge_container", "start_timeout", "drill_redis_tolerance_percent"}
    assert set(written) == read
    assert set(written["postgres"]) == {"service", "superuser", "databases"}
    assert set(written["redis"]) == {"service", "password_file"}


def test_config_reads_secrets_beside_it(tmp_path):
    cfg = config(tmp_path)
    assert cfg.password_file == tmp_path / "secrets" / "restic-password"
    assert cfg.repo("offsite").port == 2222 and cfg.platform("shop").volumes == ["shop_media"]
    with pytest.raises(bb.Refusal, match="unknown platform 'nope'; known: shop"):
        cfg.platform("nope")
    with pytest.raises(bb.Refusal, match="unknown repository 'x'; this host has: local, offsite"):
        cfg.repo("x")


def test_a_missing_config_says_how_to_make_it(tmp_path):
    with pytest.raises(bb.Failure, match=r"Run playbooks/backup\.yml"):
        bb.Config.load(str(tmp_path / "nope.json"))


# --------------------------------------------------------------------------- postgres
def test_fingerprint_sql_covers_every_table_and_quotes_names():
    sql = bb.fingerprint_sql(['public."odd""name"', "public.t"])
    assert sql.count("UNION ALL") == 1
    assert "'public.\"odd\"\"name\"'" in sql and "FROM public.t r" in sql
    assert "md5(ROW(r.*)::text)" in sql
    assert bb.fingerprint_sql([]) == "SELECT NULL WHERE false;"


def test_fingerprint_parse_and_diff():
    fp = bb.parse_fingerprint(["public.a|3|123", "public.b|0|0", "garbage"])
    assert fp == {"public.a": ["3", "123"], "public.b": ["0", "0"]}
    assert bb.fingerprint_diff(fp, fp) == []
    got = {"public.a": ["3", "999"], "public.c": ["1", "5"]}
    assert bb.fingerprint_diff(fp, got) == [
        "public.a: 3 rows, checksum differs", "public.b: missing (expected 0 rows)",
        "public.c: not in the backup (1 rows)"]
    assert bb.fingerprint_diff({"t": ["3", "1"]}, {"t": ["2", "1"]}) == ["t: 3 rows, now 2"]


def test_sql_quoting():
    assert bb.sql_literal("it's") == "'it''s'"
    assert bb.sql_ident('a"b') == '"a""b"'


def test_acl_copy_revokes_only_what_public_lacks_then_grants_in_order():
    sql = bb.acl_copy_sql("shop_db", "shop_db_bkp_new")
    assert "aclexplode(src.acl) WITH ORDINALITY" in sql and "ORDER BY k, n" in sql
    assert "REVOKE %s ON DATABASE %I FROM PUBLIC" in sql and "'shop_db_bkp_new'" in sql


# --------------------------------------------------------------------------- redis
def test_count_prefixes_uses_the_longest_prefix_and_counts_the_rest():
    keys = [b"shop:a", b"shop:b", b"shop:eu:c", b"blog:x", b"misc"]
    assert bb.count_prefixes(keys, ["shop:", "shop:eu:", "blog:"]) == {"shop:": 2, "shop:eu:": 1, "blog:": 1, "": 1}


def test_parse_counts_reads_the_scripts_flat_reply():
    lines = ["shop:", "3", "1", "blog:", "0", "2", "", "5", "0", ""]
    assert bb.parse_counts(lines, ["shop:", "blog:"]) == ({"shop:": 3, "blog:": 0, "": 5},
                                                          {"shop:": 1, "blog:": 2, "": 0})
    with pytest.raises(bb.Failure, match="unexpected reply"):
        bb.parse_counts(["ERR"], ["shop:"])
    assert "redis.call('PTTL', k) >= 0" in bb.COUNT_SCRIPT


def test_redis_counts_are_judged_between_the_counts_around_the_bgsave():
    assert bb.redis_count_mismatches({"a:": 10}, {"a:": 12}, {"a:": 11}, 0) == []
    assert bb.redis_count_mismatches({"a:": 10}, {"a:": 10}, {"a:": 9}, 0) == [
        "Redis a:: 9 keys restored, 10 at the backup"]
    assert bb.redis_count_mismatches({"a:": 10}, {"a:": 12}, {"a:": 13}, 0) == [
        "Redis a:: 13 keys restored, 10-12 at the backup"]
    assert bb.redis_count_mismatches({"a:": 100}, {"a:": 100}, {"a:": 99}, 1) == []
    assert bb.redis_count_mismatches({}, {}, {"": 1}, 0) == ["Redis (other): 1 keys restored, 0 at the backup"]


def test_glob_escape():
    assert bb.glob_escape("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\"


def test_resp_is_binary_safe():
    assert bb.resp("SET", "k", b"\x00\r\n") == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n\x00\r\n\r\n"


def test_redis_socket_reads_every_reply_kind(tmp_path):
    server, client = socket.socketpair()
    replies = b"+PONG\r\n:5\r\n$4\r\na\r\nb\r\n$-1\r\n*2\r\n$1\r\n0\r\n*1\r\n$2\r\nk1\r\n-ERR boom\r\n"

    def serve():
        server.recv(65536)
        server.sendall(replies)

    t = threading.Thread(target=serve)
    t.start()
    r = bb.RedisSocket.__new__(bb.RedisSocket)
    r.sock, r.buf = client, b""
    r.sock.sendall(b"x")
    assert r.reply() == "PONG" and r.reply() == 5 and r.reply() == b"a\r\nb" and r.reply() is None
    assert r.reply() == [b"0", [b"k1"]]
    with pytest.raises(bb.Failure, match="ERR boom"):
        r.reply()
    t.join()
    client.close()
    server.close()


# --------------------------------------------------------------------------- restic
@pytest.mark.parametrize(("stderr", "rc", "kind"), [
    ("Fatal: wrong password or no key found", 1, "wrong password"),
    ("", 12, "wrong password"),
    ("Fatal: unable to open config file: Stat: stat /x/config: no such file or directory\n"
     "Is there a repository at the following location?", 1, "no repository"),
    ("", 10, "no repository"),
    ("Save(<data/1234>) returned error: write /r/data/12/1234: no space left on device", 1, "disk full"),
    ("subprocess ssh: ssh: connect to host h port 22: Connection refused\nFatal: unable to open repository", 1,
     "unreachable"),
    ("ssh: Could not resolve hostname nowhere: Name or service not known", 1, "unreachable"),
    ("Host key verification failed.", 1, "host key mismatch"),
    ("u@h: Permission denied (publickey).", 1, "key refused"),
    ("unable to create lock in backend: repository is already locked by PID 4", 1, "locked"),
    ("something else", 1, "error"),
])
def test_restic_errors_are_classified(stderr, rc, kind):
    assert bb.restic_error_kind(stderr, rc) == kind


def test_a_restic_failure_names_the_repository_the_kind_and_the_fix(tmp_path):
    r = bb.Restic(config(tmp_path), config(tmp_path).repo("local"))
    msg = str(r.fail("backup", "Fatal: wrong password or no key found", 1))
    assert msg.startswith("repository local (/srv/repo): backup failed: wrong password:")
    assert "vault_backup_restic_password does not open it" in msg


def test_sftp_goes_through_an_explicit_ssh_command(tmp_path):
    cfg = config(tmp_path)
    (tmp_path / "secrets").mkdir()
    r = bb.Restic(cfg, cfg.repo("offsite"))
    cmd = r.ssh_command()
    assert "-p 2222 u@h -s sftp" in cmd and "StrictHostKeyChecking=accept-new" in cmd
    (tmp_path / "secrets" / "known_hosts").write_text("[h]:2222 ssh-ed25519 AAAA\n")
    cmd = r.ssh_command()
    assert "StrictHostKeyChecking=yes" in cmd and f"UserKnownHostsFile={tmp_path}/secrets/known_hosts" in cmd
    argv = r.argv("snapshots")
    assert argv[:3] == ["restic", "--repo", "sftp:u@h:/r"] and argv[-1] == "snapshots"
    assert any(a.startswith("sftp.command=ssh ") for a in argv)
    assert r.env()["RESTIC_PASSWORD_FILE"] == str(tmp_path / "secrets" / "restic-password")


def test_forget_keeps_whole_backups_by_day_and_platform_only_ones_by_age(tmp_path, monkeypatch):
    calls = []
    r = bb.Restic(config(tmp_path), config(tmp_path).repo("local"))
    monkeypatch.setattr(r, "call", lambda *a, **kw: calls.append(a))
    bb.forget(r, config(tmp_path), prune=True)
    assert calls == [
        ("forget", "--host", "vps1", "--tag", "bizosaas,whole", "--group-by", "host", "--prune",
         "--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6"),
        ("forget", "--host", "vps1", "--tag", "bizosaas,platforms", "--group-by", "host", "--prune",
         "--keep-within", "14d"),
    ]


def test_retention_and_summaries():
    assert bb.retention_args({"daily": 7, "weekly": 0, "monthly": 6}) == ["--keep-daily", "7", "--keep-monthly", "6"]
    with pytest.raises(bb.Failure, match="keeps nothing"):
        bb.retention_args({"daily": 0})
    assert bb.summary_added({"data_added": 10, "data_added_packed": 4}) == 4
    assert bb.summary_added({"data_added": 10}) == 10 and bb.summary_added({}) is None
    assert "50.0% 1.0 KiB of 2.0 KiB" in bb.progress_line({"percent_done": 0.5, "bytes_done": 1024,
                                                          "total_bytes": 2048, "seconds_elapsed": 3})


def test_backup_tags_name_complete_platforms_and_partial_runs():
    m = {"platforms": {"shop": {"complete": True}, "blog": {"complete": False}}, "whole": True, "failed": ["x"],
         "run": "20261201T031500Z"}
    assert bb.backup_tags("scheduled", m) == ["bizosaas", "kind:scheduled", "run:20261201T031500Z", "platform:shop",
                                              "platforms", "partial"]
    m.update(failed=[])
    assert bb.backup_tags("scheduled", m)[-1] == "whole"
    m.update(whole=False)
    assert bb.backup_tags("predeploy", m) == ["bizosaas", "kind:predeploy", "run:20261201T031500Z", "platform:shop",
                                              "platforms"]


# --------------------------------------------------------------------------- snapshots and restore
SNAPS = {
    "local": [
        {"id": "aaaa1111" * 8, "short_id": "aaaa1111", "time": "2026-12-01T03:15:00Z", "hostname": "vps1",
         "tags": ["bizosaas", "kind:scheduled", "platform:shop", "whole"]},
        {"id": "bbbb2222" * 8, "short_id": "bbbb2222", "time": "2026-12-02T03:15:00Z", "hostname": "vps1",
         "tags": ["bizosaas", "kind:manual", "platform:blog"]},
        {"id": "eeee5555" * 8, "short_id": "eeee5555", "time": "2026-12-03T03:15:02Z", "hostname": "vps1",
         "tags": ["bizosaas", "kind:scheduled", "run:20261203T031500Z", "platform:shop", "whole"]},
    ],
    "offsite": [
        {"id": "cccc3333" * 8, "short_id": "cccc3333", "time": "2026-12-02T03:16:00Z", "hostname": "vps1",
         "tags": ["bizosaas", "kind:scheduled", "platform:shop", "whole"]},
        {"id": "dddd4444" * 8, "short_id": "dddd4444", "time": "2026-12-03T03:15:09Z", "hostname": "vps1",
         "tags": ["bizosaas", "kind:scheduled", "run:20261203T031500Z", "platform:shop", "whole"]},
    ],
}


@pytest.fixture
def snaps(monkeypatch):
    monkeypatch.setattr(bb, "list_snapshots", lambda cfg, repos, host: (
        {r.name: SNAPS[r.name] for r in repos}, {}))


def test_latest_is_the_newest_that_holds_the_platform(tmp_path, snaps):
    cfg = config(tmp_path, platforms=[{"name": "shop", "database": "shop_db"}, {"name": "blog", "database": "b"}])
    # the newest run, from the first repository listed (local), although its offsite copy is newer
    repo, snap = bb.choose_snapshot(cfg, "latest", None, None, "shop", False)
    assert (repo.name, snap["short_id"]) == ("local", "eeee5555")
    repo, snap = bb.choose_snapshot(cfg, "latest", "offsite", None, "shop", False)
    assert (repo.name, snap["short_id"]) == ("offsite", "dddd4444")
    repo, snap = bb.choose_snapshot(cfg, "bbbb", None, None, "blog", False)
    assert snap["short_id"] == "bbbb2222"


def test_a_snapshot_that_lacks_the_platform_is_refused_naming_a_better_one(tmp_path, snaps):
    with pytest.raises(bb.Refusal) as e:
        bb.choose_snapshot(config(tmp_path), "bbbb2222", None, None, "shop", False)
    msg = str(e.value)
    assert "snapshot bbbb2222 (2026-12-02 03:15:00, repository local) does not hold platform shop" in msg
    assert "it holds blog" in msg and "The newest snapshot that holds it is eeee5555" in msg
    assert msg.endswith("Nothing was changed.")
    with pytest.raises(bb.Refusal, match="no snapshot ffff of host vps1"):
        bb.choose_snapshot(config(tmp_path), "ffff", None, None, "shop", False)
    with pytest.raises(bb.Refusal, match="does not hold everything"):
        bb.choose_snapshot(config(tmp_path), "bbbb2222", None, None, None, True)


def test_no_readable_repository_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(bb, "list_snapshots", lambda cfg, repos, host: ({}, {"local": "wrong password"}))
    with pytest.raises(bb.Failure, match="no repository could be read: wrong password"):
        bb.choose_snapshot(config(tmp_path), "latest", None, None, "shop", False)


def test_the_confirm_word_must_be_exact(tmp_path):
    plan = bb.Plan(repository="local", snapshot=SNAPS["local"][0], whole=False, platforms=[], databases=["shop_db"],
                   needs=["overwrite-shop_db"], reasons=["database shop_db has 3 table(s)"])
    for given in ("", "overwrite-shop", "overwrite-shop_db2", "yes"):
        with pytest.raises(bb.Refusal) as e:
            bb.confirm_or_refuse(plan, given)
        assert "pass exactly -e confirm=overwrite-shop_db" in str(e.value)
        assert "Nothing was changed." in str(e.value)
    bb.confirm_or_refuse(plan, "overwrite-shop_db")
    bb.confirm_or_refuse(plan, "overwrite-other, overwrite-shop_db")


def test_short_snapshot_view():
    s = bb.short(SNAPS["local"][0])
    assert s == {"id": "aaaa1111", "full_id": "aaaa1111" * 8, "time": "2026-12-01 03:15:00", "host": "vps1",
                 "kind": "scheduled", "platforms": ["shop"], "whole": True, "partial": False}
    table = bb.snapshot_table({"host": "vps1", "repositories": {"local": [s]}, "errors": {"offsite": "unreachable"}})
    assert "aaaa1111  2026-12-01 03:15:00  scheduled  shop  (whole)" in table
    assert "repository offsite: UNAVAILABLE: unreachable" in table


# --------------------------------------------------------------------------- status
def test_the_status_file_keeps_each_repositorys_last_success(tmp_path):
    cfg = config(tmp_path)
    bb.write_status(cfg, "backup", {"result": "ok", "finished": "t1", "repositories": {
        "local": {"result": "ok", "snapshot": "s1"}, "offsite": {"result": "ok", "snapshot": "s2"}}})
    bb.write_status(cfg, "backup", {"result": "partial", "finished": "t2", "repositories": {
        "local": {"result": "ok", "snapshot": "s3"}, "offsite": {"result": "failed", "error": "unreachable"}}})
    bb.write_status(cfg, "drill", {"result": "pass"})
    data = json.loads(cfg.status_file.read_text())
    assert data["backup"]["result"] == "partial" and data["drill"]["result"] == "pass"
    assert data["backup"]["last_success"] == {"local": {"time": "t2", "snapshot": "s3"},
                                              "offsite": {"time": "t1", "snapshot": "s2"}}
    assert oct(cfg.status_file.stat().st_mode & 0o777) == "0o644" and data["host"] == "vps1"


def test_summary_lines_and_exit_codes(tmp_path, monkeypatch, capsys):
    res = {"result": "partial", "steps": [{"name": "dump", "ok": True, "seconds": 1.0, "bytes": 2048, "detail": ""}],
           "repositories": {"offsite": {"result": "failed", "error": "unreachable"}}}
    assert bb.summary_lines(res) == ["ok   dump (1.0 s, 2.0 KiB)", "repository offsite: unreachable"]
    (tmp_path / "config.json").write_text("{}")
    assert bb.main(["--config", str(tmp_path / "missing.json"), "status"]) == bb.EXIT_FAILED
    monkeypatch.setitem(bb.COMMANDS, "plan", lambda cfg, args: (_ for _ in ()).throw(bb.Refusal("no")))
    monkeypatch.setattr(bb.Config, "load", classmethod(lambda cls, path: SimpleNamespace()))
    assert bb.main(["plan", "--platform", "x", "--json"]) == bb.EXIT_REFUSED
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out == {"result": "refused", "error": "no", "lines": ["ERROR: no"]}
