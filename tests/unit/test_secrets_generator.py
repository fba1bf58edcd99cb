"""`make secrets ENV=x`: strong random secrets in a new encrypted vault, never overwritten."""

from __future__ import annotations

import os
import stat

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from tests.harness import secrets as gen


@pytest.fixture
def env_dir(tmp_path, monkeypatch):
    d = tmp_path / "newenv"
    (d / "group_vars" / "all").mkdir(parents=True)
    (d / "hosts.yml").write_text("all:\n  hosts:\n    h: {}\n")
    (d / "group_vars" / "all" / "vars.yml").write_text("x: '{{ vault_demo_api_token }}'\ny: '{{ vault_acme_email }}'\n")
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    monkeypatch.setattr(gen, "ROOT", tmp_path)  # keep relative paths printable
    return d


def decrypt(env_dir):
    pw = (env_dir / ".vault-pass").read_bytes().strip()
    data = (env_dir / "group_vars" / "all" / "vault.yml").read_bytes()
    return yaml.safe_load(VaultLib([("default", VaultSecret(pw))]).decrypt(data))


def test_generates_an_encrypted_vault_with_strong_unique_values(env_dir):
    target = gen.generate(env_dir)
    raw = target.read_bytes()
    assert raw.startswith(b"$ANSIBLE_VAULT;1.1;AES256"), "vault file must be encrypted"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(env_dir / ".vault-pass").st_mode) == 0o600
    values = decrypt(env_dir)
    assert "vault_demo_api_token" in values
    assert "vault_acme_email" not in values, "user-supplied values are listed, not invented"
    assert all(len(v) >= 32 for v in values.values())
    assert len(set(values.values())) == len(values)
    for v in values.values():
        assert v.encode() not in raw, "no plaintext secret in the file"


def test_refuses_to_overwrite_an_existing_vault(env_dir):
    target = gen.generate(env_dir)
    before = target.read_bytes()
    with pytest.raises(SystemExit, match="refusing to overwrite"):
        gen.generate(env_dir)
    assert target.read_bytes() == before


def test_real_toolkit_references_are_found():
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    generated, _ = gen.referenced_names(root / "inventories" / "staging")
    assert all(n.startswith("vault_") for n in generated)


def test_make_secrets_command_runs_as_the_makefile_calls_it():
    """Run as a script, tests/harness/secrets.py would import itself instead of the stdlib
    `secrets`; the Makefile therefore runs it as a module. Prove that command works."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert "-m tests.harness.secrets" in (root / "Makefile").read_text()
    out = subprocess.run([sys.executable, "-m", "tests.harness.secrets", "--print-names", "inventories/staging"],
                         cwd=root, text=True, capture_output=True, check=True).stdout
    assert "vault_postgres_bizoholic_password" in out
