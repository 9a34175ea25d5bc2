"""Creation times default to ``reviewapp.core.clock.now`` instead of ``timezone.now``.

A Python-side default only: the state changes, the database does not (no table is
rebuilt on SQLite)."""

import reviewapp.core.clock
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0006_pending_revision'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='casestudy',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='casestudy',
                    name='updated_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='failuremode',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='failuremode',
                    name='updated_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='mitigationtemplate',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='mitigationtemplate',
                    name='updated_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='mitigationuse',
                    name='recorded_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='occurrence',
                    name='recorded_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='pendingrevision',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='pendingrevision',
                    name='updated_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='revision',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
            ],
        ),
    ]
