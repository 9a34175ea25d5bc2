"""Creation times default to ``reviewapp.core.clock.now`` instead of ``timezone.now``.

A Python-side default only: the state changes, the database does not (no table is
rebuilt on SQLite)."""

import reviewapp.core.clock
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='personaltoken',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='recoverycodedevice',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
            ],
        ),
    ]
