"""Unit tests for the hardening role's filters (stable sha512 hash, public key checks)."""

from __future__ import annotations

import base64
import struct
import subprocess

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.bizosaas.ops.plugins.filter import hardening as f
from passlib.hash import sha512_crypt


def _blob(*parts: bytes) -> str:
    return base64.b64encode(b"".join(struct.pack(">I", len(p)) + p for p in parts)).decode()


ED25519 = "ssh-ed25519 " + _blob(b"ssh-ed25519", b"\x01" * 32) + " admin@laptop"
RSA_4096 = "ssh-rsa " + _blob(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xff" * 512) + " ops"
RSA_1024 = "ssh-rsa " + _blob(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xff" * 128)


class TestSha512Crypt:
    def test_same_password_same_host_is_identical(self):
        a = f.hardening_sha512_crypt("s3cret-pass", "vps1")
        b = f.hardening_sha512_crypt("s3cret-pass", "vps1")
        assert a == b
        assert a.startswith("$6$") and "rounds=" not in a
        assert sha512_crypt.verify("s3cret-pass", a)

    def test_salt_differs_per_host_and_password(self):
        assert f.hardening_sha512_crypt("pw-one", "vps1") != f.hardening_sha512_crypt("pw-one", "vps2")
        assert (
            f.hardening_sha512_crypt("pw-one", "vps1").split("$")[2]
            != f.hardening_sha512_crypt("pw-two", "vps1").split("$")[2]
        )

    def test_rounds_are_written_and_stable(self):
        a = f.hardening_sha512_crypt("s3cret-pass", "vps1", "", 65536)
        assert a == f.hardening_sha512_crypt("s3cret-pass", "vps1", "", "65536")
        assert sha512_crypt.verify("s3cret-pass", a) and sha512_crypt.from_string(a).rounds == 65536
        # A rerun with the stored hash as `existing` keeps it byte for byte.
        assert f.hardening_sha512_crypt("s3cret-pass", "vps1", a, 65536) == a

    @pytest.mark.parametrize("rounds", [999, "many", None, 10**10])
    def test_bad_rounds_raise(self, rounds):
        with pytest.raises(AnsibleFilterError):
            f.hardening_sha512_crypt("pw", "h", "", rounds)

    def test_existing_matching_hash_is_kept(self):
        existing = sha512_crypt.using(rounds=656000).hash("s3cret-pass")
        assert f.hardening_sha512_crypt("s3cret-pass", "vps1", existing, 656000) == existing

    def test_existing_hash_with_other_rounds_is_rehashed_once(self):
        existing = sha512_crypt.using(rounds=5000).hash("s3cret-pass")
        new = f.hardening_sha512_crypt("s3cret-pass", "vps1", existing, 65536)
        assert new != existing and sha512_crypt.from_string(new).rounds == 65536
        assert f.hardening_sha512_crypt("s3cret-pass", "vps1", new, 65536) == new

    def test_existing_hash_of_another_password_is_replaced(self):
        existing = sha512_crypt.hash("old-password")
        new = f.hardening_sha512_crypt("new-password", "vps1", existing)
        assert new != existing and sha512_crypt.verify("new-password", new)

    @pytest.mark.parametrize("existing", ["", "!", "*", "!$6$abc$def", "$y$j9T$garbage", "$6$broken"])
    def test_locked_or_foreign_existing_values_are_ignored(self, existing):
        assert f.hardening_sha512_crypt("pw", "h", existing) == f.hardening_sha512_crypt("pw", "h")

    def test_hash_is_accepted_by_system_crypt(self):
        h = f.hardening_sha512_crypt("s3cret-pass", "vps1")
        salt = h.split("$")[2]
        out = subprocess.run(
            ["openssl", "passwd", "-6", "-salt", salt, "s3cret-pass"], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            pytest.skip("openssl passwd -6 not available")
        assert out.stdout.strip() == h

    @pytest.mark.parametrize(("password", "secret"), [("", "h"), (None, "h"), ("pw", ""), ("pw", None)])
    def test_bad_input_raises(self, password, secret):
        with pytest.raises(AnsibleFilterError):
            f.hardening_sha512_crypt(password, secret)


class TestPubkeys:
    @pytest.mark.parametrize(
        "key",
        [
            ED25519,
            RSA_4096,
            'from="10.0.0.0/8",no-agent-forwarding ' + ED25519,
            'command="echo \\"hi\\"" ' + ED25519,
        ],
    )
    def test_good_keys(self, key):
        assert f.ssh_pubkey_problem(key) == ""

    @pytest.mark.parametrize(
        ("key", "reason"),
        [
            ("", "empty"),
            ("ssh-ed25519", "missing"),
            ("ssh-ed25519 not-base64!!", "base64"),
            ("ssh-rsa " + ED25519.split()[1], "line says"),
            ("ssh-foo AAAA", "unknown key type"),
            ("hello world", "unknown key type"),
            ("ssh-dss " + _blob(b"ssh-dss", b"x"), "DSA"),
            (RSA_1024, "1024 bits"),
            ("ssh-ed25519 " + _blob(b"ssh-ed25519", b"\x01" * 8), "32 bytes"),
            ("ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\x40ssh").decode(), "truncated"),
            (ED25519 + "\n" + ED25519, "line break"),
            (42, "not a string"),
        ],
    )
    def test_bad_keys(self, key, reason):
        assert reason in f.ssh_pubkey_problem(key)

    def test_problems_list_names_the_index(self):
        problems = f.hardening_ssh_pubkey_problems([ED25519, "ssh-ed25519 garbage"])
        assert len(problems) == 1 and problems[0].startswith("key 2")

    def test_problems_on_non_list(self):
        assert f.hardening_ssh_pubkey_problems("ssh-ed25519 AAAA") != []

    def test_blobs_ignore_options_and_comments(self):
        opt = 'from="1.2.3.4" ' + ED25519.replace("admin@laptop", "other")
        assert f.hardening_ssh_pubkey_blobs([ED25519, opt, "junk"]) == [ED25519.split()[1]] * 2

    def test_filters_are_registered(self):
        assert set(f.FilterModule().filters()) == {
            "hardening_sha512_crypt",
            "hardening_ssh_pubkey_problems",
            "hardening_ssh_pubkey_blobs",
        }
