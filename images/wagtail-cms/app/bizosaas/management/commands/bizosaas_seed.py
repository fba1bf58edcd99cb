"""python manage.py bizosaas_seed --title TITLE --slug SLUG [--subtitle TEXT]

Create, or update, a published page of the template's HomePage model under the default site's root
page, so that it is served at /<slug>/. --subtitle sets the field version 2.0.0 added (an error on
1.0.0). Prints one JSON line: id, slug, url, created, version.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug
from django.db import transaction


class Command(BaseCommand):
    help = "Create or update a published page under the site root, served at /<slug>/."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--title", required=True)
        parser.add_argument("--slug", required=True)
        parser.add_argument("--subtitle", help="the HomePage field added in 2.0.0")

    def handle(self, *args: object, title: str, slug: str, subtitle: str | None, **options: object) -> None:
        from home.models import HomePage
        from wagtail.models import Site

        try:
            validate_slug(slug)
        except ValidationError:
            raise CommandError(f"--slug {slug!r}: letters, digits, hyphens and underscores only") from None
        has_subtitle = any(f.name == "subtitle" for f in HomePage._meta.get_fields())
        if subtitle is not None and not has_subtitle:
            raise CommandError(f"--subtitle: HomePage has no subtitle field in version {settings.APP_VERSION} "
                               "(it was added in 2.0.0)")
        site = Site.objects.filter(is_default_site=True).select_related("root_page").first()
        if site is None:
            raise CommandError("no default site: run `python manage.py migrate --noinput` first")
        root = site.root_page
        with transaction.atomic():
            page = root.get_children().filter(slug=slug).first()
            created = page is None
            if created:
                page = HomePage(title=title, slug=slug)
                if subtitle is not None:
                    page.subtitle = subtitle
                root.add_child(instance=page)
            else:
                page = page.specific
                if not isinstance(page, HomePage):
                    raise CommandError(f"/{slug}/ is a {type(page).__name__}, not a HomePage")
                page.title = title
                if subtitle is not None:
                    page.subtitle = subtitle
            page.save_revision().publish()
        self.stdout.write(json.dumps({"id": page.id, "slug": slug, "url": page.relative_url(site),
                                      "created": created, "version": settings.APP_VERSION}))
