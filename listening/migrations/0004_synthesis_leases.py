# The synthesis claim's lease and the enqueue stamp (synthesis heals itself after a worker or
# broker fault; docs/architecture.md, "Leases and the sweep").

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("listening", "0003_reports_and_objective_cache"),
    ]

    operations = [
        migrations.AddField(
            model_name="clip",
            name="worker",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name="clip",
            name="lease_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="clip",
            name="lease_expiries",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="clip",
            name="enqueued_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="clip",
            name="task_id",
            field=models.CharField(blank=True, max_length=64),
        ),
    ]
