"""Unit tests for the backup role's filters (bizosaas.ops backup.py): the platforms' backup targets the
glue derives, the repositories as the runner reads them, and every input check's message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.bizosaas.ops.plugins.filter import backup

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = yaml.safe_load((ROOT / "group_vars/all/platforms.yml").read_text())["bizosaas_platforms"]
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\n"
LOCAL = {"name": "local", "type": "local", "path": "/var/backups/bizosaas-ops/restic"}
SFTP = {"name": "offsite", "type": "sftp", "host": "backup.example.net", "port": 22, "user": "bizosaas",
        "path": "/srv/restic/vps1", "known_hosts": "backup.example.net ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA=="}
S3 = {"name": "s3", "type": "s3", "url": "s3:https://s3.eu-central-1.amazonaws.com/my-bucket/vps1"}
CREDS = {"access_key_id": "AKIA", "secret_access_key": "secret"}


def errors(repos, **kw):
    args = {"password": "pw", "sftp_identity": KEY, "s3_credentials": CREDS}
    args.update(kw)
    return backup.backup_input_errors(repos, **args)


def test_the_seed_platforms_give_their_database_prefix_and_stack():
    got = backup.backup_platforms(PLATFORMS)
    assert [p["name"] for p in got] == ["bizoholic", "coreldove", "management"]
    assert got[1] == {"name": "coreldove", "database": "coreldove_platform", "redis_prefix": "coreldove:",
                      "stack": "coreldove", "volumes": ["coreldove_saleor_media"]}


def test_volumes_marked_backup_become_stack_volumes_once():
    data = {"shop": {"database": "shop_db", "redis_prefix": "shop:", "services": {
        "web": {"volumes": [{"name": "shop_media", "target": "/m"},
                            {"name": "shop_cache", "target": "/c", "backup": False}]},
        "worker": {"volumes": [{"name": "shop_media", "target": "/m", "backup": True}]}}},
        "off": {"enabled": False, "database": "off_db", "services": {}}}
    assert backup.backup_platforms(data) == [
        {"name": "shop", "database": "shop_db", "redis_prefix": "shop:", "stack": "shop", "volumes": ["shop_media"]}]


@pytest.mark.parametrize(("vol", "message"), [
    ("media", r"bizosaas_platforms\.shop\.services\.web\.volumes\[0\]: expected \{name"),
    ({"name": "bad name"}, r"volumes\[0\]: expected"),
    ({"name": "media", "backup": "yes"}, r"volumes\[0\]\.backup: 'yes' must be true or false"),
])
def test_a_malformed_volume_is_named(vol, message):
    with pytest.raises(AnsibleFilterError, match=message):
        backup.backup_platforms({"shop": {"services": {"web": {"volumes": [vol]}}}})


def test_platforms_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError, match="bizosaas_platforms: expected a mapping"):
        backup.backup_platforms(["shop"])


def test_repositories_as_the_runner_reads_them():
    assert backup.backup_repositories([LOCAL, SFTP, S3]) == [
        {"name": "local", "type": "local", "url": "/var/backups/bizosaas-ops/restic"},
        {"name": "offsite", "type": "sftp", "url": "sftp:bizosaas@backup.example.net:/srv/restic/vps1",
         "host": "backup.example.net", "port": 22, "user": "bizosaas"},
        {"name": "s3", "type": "s3", "url": S3["url"]},
    ]


def test_known_hosts_use_the_bracket_form_on_another_port():
    assert backup.backup_known_hosts([SFTP]) == SFTP["known_hosts"] + "\n"
    assert backup.backup_known_hosts([{**SFTP, "port": 2222}]).startswith("[backup.example.net]:2222 ssh-ed25519 ")
    assert backup.backup_known_hosts([LOCAL, {**SFTP, "known_hosts": ""}]) == ""


def test_a_valid_configuration_has_no_errors():
    assert errors([LOCAL, SFTP, S3], paths=["/var/lib/bizosaas-ops/stacks"], retention={"daily": 7},
                  platforms=backup.backup_platforms(PLATFORMS),
                  databases=["bizoholic_platform", "coreldove_platform", "shared_analytics"]) == []


@pytest.mark.parametrize(("repos", "kw", "expected"), [
    ([], {}, "backup_repositories: give at least one repository"),
    ([LOCAL], {"password": "", "password_var": "vault_backup_restic_password"},
     "vault_backup_restic_password is missing or empty"),
    ([{**LOCAL, "name": "Local!"}], {}, "backup_repositories[0].name: 'Local!' must match"),
    ([LOCAL, LOCAL], {}, "backup_repositories[1].name: local is used twice"),
    ([{**LOCAL, "type": "ftp"}], {}, "type: 'ftp' must be one of local, sftp, s3"),
    ([{**LOCAL, "host": "x"}], {}, "unknown key(s) host for a local repository"),
    ([{**LOCAL, "path": "relative/path"}], {}, "path: 'relative/path' must be an absolute"),
    ([{**LOCAL, "path": "/"}], {}, "must be an absolute, normalised folder other than /"),
    ([{**LOCAL, "path": "/var/lib/bizosaas-ops/backup/repo"}], {}, "overlaps the backup state folder"),
    ([{**LOCAL, "path": "/var/lib/bizosaas-ops/stacks/repo"}], {"paths": ["/var/lib/bizosaas-ops/stacks"]},
     "would back itself up"),
    ([{**SFTP, "host": "bad host"}], {}, "host: 'bad host' is not a host name"),
    ([{**SFTP, "user": "Root User"}], {}, "user: 'Root User' is not a user name"),
    ([{**SFTP, "port": 70000}], {}, "port: 70000 is not a TCP port"),
    ([{**SFTP, "path": "srv"}], {}, "path: 'srv' must be an absolute path on the SFTP server"),
    ([{**SFTP, "known_hosts": "just a key"}], {}, "is not a known_hosts line"),
    ([SFTP], {"sftp_identity": "", "sftp_identity_var": "vault_backup_sftp_identity"},
     "vault_backup_sftp_identity is missing or empty: the SFTP repository offsite needs"),
    ([SFTP], {"sftp_identity": "not a key"}, "does not look like an OpenSSH private key"),
    ([{**S3, "url": "https://bucket"}], {}, "is not a restic S3 URL"),
    ([S3], {"s3_credentials": {"access_key_id": "x"}, "s3_credentials_var": "vault_backup_s3_credentials"},
     "vault_backup_s3_credentials lacks secret_access_key"),
    ([LOCAL], {"retention": {"daily": 0, "weekly": 0, "monthly": 0, "platforms_within": "14d"}},
     "the retention policy would keep no snapshot"),
    ([LOCAL], {"paths": ["etc/x"]}, "backup_paths: 'etc/x' is not an absolute"),
    ([LOCAL], {"platforms": [{"name": "shop", "database": "shop_db"}], "databases": ["other"]},
     "platform shop names database shop_db, which is not in backup_postgres_databases"),
])
def test_each_problem_is_named(repos, kw, expected):
    found = errors(repos, **kw)
    assert any(expected in e for e in found), found


def test_the_filters_are_registered():
    names = backup.FilterModule().filters()
    assert names["backup_input_errors"] is backup.backup_input_errors
    assert {"backup_platforms", "backup_repositories", "backup_known_hosts"} <= set(names)


def test_the_glue_default_repository_is_valid():
    glue = yaml.safe_load((ROOT / "group_vars/all/backup.yml").read_text())
    assert errors(glue["bizosaas_backup_repositories"], retention={"daily": 7}) == []
