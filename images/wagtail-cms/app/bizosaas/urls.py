"""ROOT_URLCONF: /media/ (uploads in MEDIA_ROOT, a volume), then the template's cms.urls unchanged.

The stack has no separate web server for uploads, so Django serves them (django.views.static.serve,
which the template's urls.py wires only with DEBUG on).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.urls import include, path, re_path
from django.views.static import serve

urlpatterns = [
    re_path(rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<path>.+)$", serve,
            {"document_root": settings.MEDIA_ROOT}),
    path("", include("cms.urls")),
]
