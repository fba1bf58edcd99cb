"""Reading the settings from the environment, the twelve-factor way.

No Django import here: the production settings use these helpers, and the kit's unit tests load this
file on its own (tests/unit/test_kit.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})


class SettingError(ValueError):
    """A variable is missing or malformed; the message names it."""


def env_bool(name: str, default: bool, environ: Mapping[str, str] = os.environ) -> bool:
    """1/true/yes/on or 0/false/no/off (any case); unset means default. Anything else is an error,
    so that DEBUG=Flase does not silently mean something."""
    if name not in environ:
        return default
    value = environ[name].strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise SettingError(f"{name}={environ[name]!r}: expected 1/true/yes/on or 0/false/no/off")


def env_list(name: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """A comma-separated list; blanks around items and empty items are dropped."""
    return [item.strip() for item in environ.get(name, "").split(",") if item.strip()]


def env_int(name: str, default: int, environ: Mapping[str, str] = os.environ, minimum: int = 0) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r}: expected an integer") from None
    if value < minimum:
        raise SettingError(f"{name}={value}: must be at least {minimum}")
    return value


def require(name: str, environ: Mapping[str, str] = os.environ) -> str:
    """A variable that must be set and not empty (the image bakes in no default for secrets)."""
    value = environ.get(name, "").strip()
    if not value:
        raise SettingError(f"{name} is not set: the image has no default for it (see images/README.md, wagtail-cms)")
    return value


def origins(name: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """CSRF_TRUSTED_ORIGINS: each item a scheme and a host (https://cms.example.com), as Django requires."""
    items = env_list(name, environ)
    for item in items:
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingError(f"{name}: {item!r} is not an origin such as https://cms.example.com")
    return items


def admin_base_url(environ: Mapping[str, str] = os.environ) -> str:
    """WAGTAILADMIN_BASE_URL (links in the admin's e-mails), else the first trusted origin, else
    http://<the first allowed host that is a name>, else http://localhost."""
    explicit = environ.get("WAGTAILADMIN_BASE_URL", "").strip()
    if explicit:
        return explicit.rstrip("/")
    trusted = origins("CSRF_TRUSTED_ORIGINS", environ)
    if trusted:
        return trusted[0].rstrip("/")
    for host in env_list("ALLOWED_HOSTS", environ):
        if host != "*" and not host.startswith("."):
            return f"http://{host}"
    return "http://localhost"


def cache_key(key: str, key_prefix: str, version: int | str) -> str:
    """Django's KEY_FUNCTION: <prefix><version>:<key>, the prefix joined by a colon unless it ends with
    one. Every key then starts with REDIS_PREFIX exactly, as the platform's Redis ACL
    (~<prefix>*) requires: bizoholic: -> bizoholic:1:key; bizoholic -> bizoholic:1:key."""
    if key_prefix and not key_prefix.endswith(":"):
        key_prefix += ":"
    return f"{key_prefix}{version}:{key}"
