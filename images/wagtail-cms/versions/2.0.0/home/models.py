from django.db import models
from wagtail.admin.panels import FieldPanel
from wagtail.models import Page


class HomePage(Page):
    # 2.0.0 (the kit's version overlay): an additive field. db_default keeps a DEFAULT on the column,
    # so 1.0.0, whose model does not know the field, still inserts pages after this migration.
    subtitle = models.CharField(max_length=255, blank=True, default="", db_default="")

    content_panels = [*Page.content_panels, FieldPanel("subtitle")]
