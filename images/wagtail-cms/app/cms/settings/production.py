"""Production settings of the kit's Wagtail CMS: the template's base.py, configured from the environment
only (twelve-factor). This file replaces the template's production.py; base.py is as `wagtail start`
wrote it. No secret has a default: SECRET_KEY and DATABASE_URL must be set at run time.

Variables (images/README.md, wagtail-cms, is the reference):
  SECRET_KEY, DATABASE_URL                   required
  ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS        comma-separated
  REDIS_URL, REDIS_PREFIX                    the cache (local memory without REDIS_URL)
  DEBUG (0), MEDIA_ROOT (/app/media), CONN_MAX_AGE (60), SECURE_COOKIES (1), WAGTAILADMIN_BASE_URL
"""

# ruff: noqa: F403, F405
from __future__ import annotations

import os

import dj_database_url
from bizosaas import conf

from .base import *

APP_VERSION = os.environ.get("APP_VERSION", "unknown")

DEBUG = conf.env_bool("DEBUG", False)
SECRET_KEY = conf.require("SECRET_KEY")
ALLOWED_HOSTS = conf.env_list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = conf.origins("CSRF_TRUSTED_ORIGINS")
WAGTAILADMIN_BASE_URL = conf.admin_base_url()

DATABASES = {
    "default": dj_database_url.parse(
        conf.require("DATABASE_URL"),
        conn_max_age=conf.env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # a stopped database must fail the health check within its timeout, not hang it
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)

if os.environ.get("REDIS_URL", "").strip():
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"].strip(),
            "KEY_PREFIX": os.environ.get("REDIS_PREFIX", ""),
            "KEY_FUNCTION": "bizosaas.conf.cache_key",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

INSTALLED_APPS = [*INSTALLED_APPS, "bizosaas"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Wagtail's database search backend uses PostgreSQL's full-text fields on PostgreSQL (its check
    # postgres.E005 refuses to migrate without this app).
    INSTALLED_APPS.append("django.contrib.postgres")
# /health/ is answered first (before the host check, so Docker's check can use 127.0.0.1); whitenoise
# right after SecurityMiddleware, as its documentation asks.
MIDDLEWARE = [
    "bizosaas.middleware.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *[m for m in MIDDLEWARE if m != "django.middleware.security.SecurityMiddleware"],
]
# bizosaas.urls serves /media/ and then includes the template's cms.urls unchanged.
ROOT_URLCONF = "bizosaas.urls"

# Static files are collected at build time (STATIC_ROOT /app/static) and served by whitenoise,
# compressed and with hashed names.
STORAGES["staticfiles"]["BACKEND"] = "whitenoise.storage.CompressedManifestStaticFilesStorage"
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", "/app/media")

# Behind Traefik: it sets X-Forwarded-Proto; the container is reachable only on the platform's networks.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = conf.env_bool("SECURE_COOKIES", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "SAMEORIGIN"  # Wagtail's live preview frames its own pages

# No mail server in the stack: mails (password resets) go to the log.
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"django": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
