"""GET /health/, answered before anything else, and the version header on every other answer."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse

HEALTH_PATH = "/health/"


def _error(exc: Exception) -> str:
    return f"error: {type(exc).__name__}: {' '.join(str(exc).split())}"[:300]


def health() -> HttpResponse:
    """200 when the database answers `SELECT 1`, else 503 with the reason. The cache (Redis) is
    reported but does not fail the check: pages are served from the database without it."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = _error(exc)
        connection.close_if_unusable_or_obsolete()  # reconnect on the next check
    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        try:
            cache.set("bizosaas:health", "ok", 30)
            checks["cache"] = "ok" if cache.get("bizosaas:health") == "ok" else "error: read back another value"
        except Exception as exc:
            checks["cache"] = _error(exc)
    else:
        checks["cache"] = "local memory (REDIS_URL is not set)"
    ok = checks["database"] == "ok"
    body = {"status": "ok" if ok else "error", "version": settings.APP_VERSION, "checks": checks}
    return HttpResponse(json.dumps(body), status=200 if ok else 503, content_type="application/json",
                        headers={"Cache-Control": "no-store", "X-App-Version": settings.APP_VERSION})


class HealthMiddleware:
    """First in MIDDLEWARE: /health/ needs no allowed Host (Docker's check calls 127.0.0.1) and never
    reaches Wagtail's page router; every other response carries X-App-Version."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == HEALTH_PATH:
            return health()
        response = self.get_response(request)
        response["X-App-Version"] = settings.APP_VERSION
        return response
