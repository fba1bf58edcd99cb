"""python manage.py bizosaas_media_put NAME TEXT

Store TEXT as the file NAME in MEDIA_ROOT through Django's default storage (what an upload in the
admin does), replacing a file of that name. Prints one JSON line: name, url (served at /media/...),
size. A lighter stand-in for an admin upload, so that a test can prove that media survive redeploys.
"""

from __future__ import annotations

import json

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Store a text file in MEDIA_ROOT through Django's storage; it is served at /media/<name>."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="a relative path, such as kit/hello.txt")
        parser.add_argument("text")

    def handle(self, *args: object, name: str, text: str, **options: object) -> None:
        try:
            if default_storage.exists(name):
                default_storage.delete(name)
            saved = default_storage.save(name, ContentFile(text.encode()))
        except SuspiciousFileOperation as exc:
            raise CommandError(f"{name!r}: {exc}") from None
        except OSError as exc:
            raise CommandError(f"{name!r}: cannot write to the media storage: {exc}") from None
        self.stdout.write(json.dumps({"name": saved, "url": default_storage.url(saved),
                                      "size": default_storage.size(saved)}))
