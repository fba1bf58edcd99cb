# 2.0.0 (the kit's version overlay): additive, so that 1.0.0 keeps serving while and after it runs.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("home", "0002_create_homepage"),
    ]

    operations = [
        migrations.AddField(
            model_name="homepage",
            name="subtitle",
            field=models.CharField(blank=True, db_default="", default="", max_length=255),
        ),
    ]
