"""Creation times default to ``reviewapp.core.clock.now`` instead of ``timezone.now``.

A Python-side default only: the state changes, the database does not (no table is
rebuilt on SQLite)."""

import reviewapp.core.clock
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('reviewapp', '0013_mlmodel_presentation'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='decision',
                    name='decided_at',
                    field=models.DateTimeField(db_index=True, default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='guidelineversion',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='mlmodel',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='modelmode',
                    name='since',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='poolmembership',
                    name='added_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='prediction',
                    name='received_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='rejectedenvelope',
                    name='received_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='reviewitem',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='reviewitem',
                    name='updated_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
                migrations.AlterField(
                    model_name='serviceaccount',
                    name='created_at',
                    field=models.DateTimeField(default=reviewapp.core.clock.now),
                ),
            ],
        ),
    ]
