from __future__ import annotations

from django.apps import AppConfig


class BizosaasConfig(AppConfig):
    """The kit's additions to the template project: /health/, /media/, and the test commands
    bizosaas_seed and bizosaas_media_put. No models, so no migrations."""

    name = "bizosaas"
    verbose_name = "BizoSaaS kit"
