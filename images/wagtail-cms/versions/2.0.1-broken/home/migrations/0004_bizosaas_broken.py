# 2.0.1-broken (the kit's version overlay): a migration that fails on purpose, for the tests that a
# failing migration stops a deploy and leaves the previous version serving. It changes the schema
# first; PostgreSQL runs the migration in one transaction, so that change is rolled back too.
from django.db import migrations

MESSAGE = "bizosaas wagtail-cms 2.0.1-broken: migration home.0004_bizosaas_broken fails on purpose"


def fail(apps, schema_editor):
    raise RuntimeError(MESSAGE)


class Migration(migrations.Migration):
    dependencies = [
        ("home", "0003_homepage_subtitle"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE home_homepage ADD COLUMN bizosaas_broken integer",
            reverse_sql="ALTER TABLE home_homepage DROP COLUMN bizosaas_broken",
        ),
        migrations.RunPython(fail, migrations.RunPython.noop),
    ]
