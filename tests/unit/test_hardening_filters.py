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
    def test_a_new_hash_has_a_random_salt(self):
        a = f.hardening_sha512_crypt("s3cret-pass")
        b = f.hardening_sha512_crypt("s3cret-pass")
        assert a.startswith("$6$") and "rounds=" not in a
        assert sha512_crypt.verify("s3cret-pass", a) and sha512_crypt.verify("s3cret-pass", b)
        # the same password never gets the same salt twice: the salt does not identify the password
        salts = {f.hardening_sha512_crypt("s3cret-pass").split("$")[2] for _ in range(50)}
        assert len(salts) == 50 and all(len(x) == 16 for x in salts)
        assert a != b

    def test_the_salt_is_not_derived_from_the_password(self):
        # the old derivation (HMAC keyed by the host name) gave one hash per (password, host)
        assert f.hardening_sha512_crypt("pw-one") != f.hardening_sha512_crypt("pw-one")
        assert not hasattr(f, "derive_salt")

    def test_the_salt_is_stable_through_the_stored_hash(self):
        first = f.hardening_sha512_crypt("s3cret-pass")
        # every rerun reads /etc/shadow and passes it as `existing`: byte for byte the same
        assert all(f.hardening_sha512_crypt("s3cret-pass", first) == first for _ in range(5))

    def test_rounds_are_written_and_stable(self):
        a = f.hardening_sha512_crypt("s3cret-pass", "", 65536)
        assert sha512_crypt.verify("s3cret-pass", a) and sha512_crypt.from_string(a).rounds == 65536
        assert f.hardening_sha512_crypt("s3cret-pass", a, "65536") == a

    @pytest.mark.parametrize("rounds", [999, "many", None, 10**10])
    def test_bad_rounds_raise(self, rounds):
        with pytest.raises(AnsibleFilterError):
            f.hardening_sha512_crypt("pw", "", rounds)

    def test_existing_matching_hash_is_kept(self):
        existing = sha512_crypt.using(rounds=656000).hash("s3cret-pass")
        assert f.hardening_sha512_crypt("s3cret-pass", existing, 656000) == existing

    def test_existing_hash_with_other_rounds_is_rehashed_once(self):
        existing = sha512_crypt.using(rounds=5000).hash("s3cret-pass")
        new = f.hardening_sha512_crypt("s3cret-pass", existing, 65536)
        assert new != existing and sha512_crypt.from_string(new).rounds == 65536
        assert f.hardening_sha512_crypt("s3cret-pass", new, 65536) == new

    def test_existing_hash_of_another_password_is_replaced(self):
        existing = sha512_crypt.hash("old-password")
        new = f.hardening_sha512_crypt("new-password", existing)
        assert new != existing and sha512_crypt.verify("new-password", new)

    @pytest.mark.parametrize("existing", ["", "!", "*", "!$6$abc$def", "$y$j9T$garbage", "$6$broken"])
    def test_locked_or_foreign_existing_values_are_ignored(self, existing):
        new = f.hardening_sha512_crypt("pw", existing)
        assert new != existing and new.startswith("$6$") and sha512_crypt.verify("pw", new)

    def test_hash_is_accepted_by_system_crypt(self):
        h = f.hardening_sha512_crypt("s3cret-pass")
        salt = h.split("$")[2]
        out = subprocess.run(
            ["openssl", "passwd", "-6", "-salt", salt, "s3cret-pass"], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == h

    @pytest.mark.parametrize("password", ["", None, 42])
    def test_bad_input_raises(self, password):
        with pytest.raises(AnsibleFilterError):
            f.hardening_sha512_crypt(password)


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
