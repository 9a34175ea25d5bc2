"""Creation times default to ``reviewapp.core.clock.now`` instead of ``timezone.now``.

A Python-side default only: the state changes, the database does not (no table is
rebuilt on SQLite)."""

import reviewapp.core.clock
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0005_failsafe_modes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='approval',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='approvalrule',
                    name='updated_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='changerequest',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='changerequest',
                    name='updated_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='changerequestcomment',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='documentversion',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='policyversion',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='shadowoutcome',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
            ],
        ),
    ]
