"""Filters for the hardening role: a stable sha512-crypt hash and OpenSSH public key checks."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import struct

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: hardening_sha512_crypt
short_description: A sha512-crypt (C($6$)) password hash that stays identical on rerun
description:
  - When C(existing) is a sha512-crypt hash of the same password with the same rounds (read from
    /etc/shadow), it is returned unchanged, so a rerun never rewrites the shadow entry.
  - Otherwise the hash gets a new random salt (16 characters from the OS's CSPRNG). The salt is kept
    stable across runs by the first rule, never by deriving it from the password: a salt derived from
    the password (and a host name) identifies the password, since the same password always gets the
    same salt and hash (issue 16).
  - C(rounds) (default 5000, then the hash has no C(rounds=) field) should match login.defs
    SHA_CRYPT_MIN_ROUNDS. An existing hash is kept only when it verifies and has those rounds, so
    changing the password or the rounds re-hashes once, and nothing else does.
options:
  _input: {description: The clear-text password, type: str, required: true}
  existing: {description: The current hash from /etc/shadow, or empty, type: str, default: ""}
  rounds: {description: sha512-crypt rounds for a new hash (1000-999999999), type: int, default: 5000}
"""

_SALT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# Key types accepted in authorized_keys, with the minimum size where it matters.
_KEY_TYPES = {
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
}
_REFUSED_TYPES = {"ssh-dss": "DSA keys are refused by OpenSSH >= 9.8 and are too weak"}
_MIN_RSA_BITS = 2048
# Options before the key type: a run of option tokens (quoted strings allowed), then a space.
_OPTIONS = re.compile(r'^(?:[A-Za-z0-9-]+(?:="(?:[^"\\]|\\.)*")?)(?:,[A-Za-z0-9-]+(?:="(?:[^"\\]|\\.)*")?)*\s+')


def _passlib_sha512():
    try:
        from passlib.hash import sha512_crypt
    except ImportError as exc:  # pragma: no cover - passlib is pinned in requirements.txt
        raise AnsibleFilterError(
            "hardening_sha512_crypt needs passlib on the controller (pip install passlib)"
        ) from exc
    return sha512_crypt


def random_salt() -> str:
    """16 salt characters from the OS's CSPRNG, in the crypt alphabet (96 bits)."""
    return "".join(secrets.choice(_SALT_ALPHABET) for _ in range(16))


def hardening_sha512_crypt(password: str, existing: str = "", rounds: int = 5000) -> str:
    if not isinstance(password, str) or not password:
        raise AnsibleFilterError("hardening_sha512_crypt: the password must be a non-empty string")
    try:
        rounds = int(rounds)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"hardening_sha512_crypt: rounds must be an integer, got {rounds!r}") from exc
    if not 1000 <= rounds <= 999_999_999:
        raise AnsibleFilterError(f"hardening_sha512_crypt: rounds must be 1000-999999999, got {rounds}")
    sha512_crypt = _passlib_sha512()
    existing = existing or ""
    if existing.startswith("$6$"):
        try:
            if sha512_crypt.from_string(existing).rounds == rounds and sha512_crypt.verify(password, existing):
                return existing
        except (ValueError, TypeError):
            pass
    return sha512_crypt.using(salt=random_salt(), rounds=rounds).hash(password)


def _read_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(blob):
        raise ValueError("truncated key blob")
    (length,) = struct.unpack(">I", blob[offset : offset + 4])
    end = offset + 4 + length
    if end > len(blob):
        raise ValueError("truncated key blob")
    return blob[offset + 4 : end], end


def ssh_pubkey_problem(line: object) -> str:
    """Empty string when `line` is a usable authorized_keys line, else a short reason."""
    if not isinstance(line, str):
        return f"not a string ({type(line).__name__})"
    text = line.strip()
    if not text:
        return "empty line"
    if "\n" in text or "\r" in text:
        return "contains a line break (give one key per list item)"
    first = text.split(None, 1)[0]
    if first not in _KEY_TYPES and first not in _REFUSED_TYPES:
        m = _OPTIONS.match(text)
        rest = text[m.end() :] if m else ""
        if not m or not rest or rest.split(None, 1)[0] not in _KEY_TYPES | set(_REFUSED_TYPES):
            return f"unknown key type {first[:40]!r}"
        text = rest
    parts = text.split(None, 2)
    if len(parts) < 2:
        return "missing the base64 key data"
    ktype, data = parts[0], parts[1]
    if ktype in _REFUSED_TYPES:
        return f"{ktype}: {_REFUSED_TYPES[ktype]}"
    if ktype not in _KEY_TYPES:
        return f"unknown key type {ktype[:40]!r}"
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return "the key data is not valid base64"
    try:
        inner, offset = _read_string(blob, 0)
        if inner.decode("ascii", "replace") != ktype:
            return f"the key data is a {inner.decode('ascii', 'replace')!r} key but the line says {ktype!r}"
        if ktype == "ssh-rsa":
            _exponent, offset = _read_string(blob, offset)
            modulus, offset = _read_string(blob, offset)
            bits = int.from_bytes(modulus, "big").bit_length()
            if bits < _MIN_RSA_BITS:
                return f"RSA key of {bits} bits (at least {_MIN_RSA_BITS} required)"
        elif ktype == "ssh-ed25519":
            pub, offset = _read_string(blob, offset)
            if len(pub) != 32:
                return "ed25519 public key is not 32 bytes"
    except ValueError as exc:
        return str(exc)
    return ""


def hardening_ssh_pubkey_problems(keys: object) -> list[str]:
    """One message per unusable key in a list of authorized_keys lines ("key 2: reason")."""
    if not isinstance(keys, list):
        return [f"expected a list of public key lines, got {type(keys).__name__}"]
    problems = []
    for i, key in enumerate(keys, start=1):
        reason = ssh_pubkey_problem(key)
        if reason:
            shown = key if isinstance(key, str) else repr(key)
            problems.append(f"key {i} ({shown[:32]}...): {reason}")
    return problems


def hardening_ssh_pubkey_blobs(keys: object) -> list[str]:
    """The base64 blob of each parseable key (to compare key sets regardless of comments/options)."""
    if not isinstance(keys, list):
        return []
    blobs = []
    for key in keys:
        if not isinstance(key, str) or ssh_pubkey_problem(key):
            continue
        text = key.strip()
        if text.split(None, 1)[0] not in _KEY_TYPES:
            m = _OPTIONS.match(text)
            text = text[m.end() :] if m else text
        blobs.append(text.split()[1])
    return blobs


class FilterModule:
    def filters(self):
        return {
            "hardening_sha512_crypt": hardening_sha512_crypt,
            "hardening_ssh_pubkey_problems": hardening_ssh_pubkey_problems,
            "hardening_ssh_pubkey_blobs": hardening_ssh_pubkey_blobs,
        }
