"""Creation times default to ``reviewapp.core.clock.now`` instead of ``timezone.now``.

A Python-side default only: the state changes, the database does not (no table is
rebuilt on SQLite)."""

import reviewapp.core.clock
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0007_notifications'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='auditevent',
                    name='occurred_at',
                    field=models.DateTimeField(db_index=True, default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='auditseal',
                    name='sealed_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='notification',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
            ],
        ),
    ]
