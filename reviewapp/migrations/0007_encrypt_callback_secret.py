"""Webhook signing secrets are stored encrypted (reviewapp.core.fields.EncryptedTextField).

The column becomes text, every existing secret is encrypted in place with the newest key of
FIELD_ENCRYPTION_KEYS (raw SQL: the values are read as they are stored), then the field is the
encrypted one. Reversing writes the secrets back in plain text.
"""

from django.db import migrations, models

import reviewapp.core.fields


def _convert(apps, schema_editor, how):
    model = apps.get_model("reviewapp", "MLModel")
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    column = quote("callback_secret")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {column} FROM {table} WHERE {column} <> ''")
        for pk, value in cursor.fetchall():
            cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [how(value), pk])


def encrypt_secrets(apps, schema_editor):
    _convert(apps, schema_editor, reviewapp.core.fields.encrypt)


def decrypt_secrets(apps, schema_editor):
    _convert(apps, schema_editor, reviewapp.core.fields.decrypt)


class Migration(migrations.Migration):
    dependencies = [("reviewapp", "0006_queue_count_snapshot")]

    operations = [
        migrations.AlterField(
            model_name="mlmodel",
            name="callback_secret",
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets, elidable=False),
        migrations.AlterField(
            model_name="mlmodel",
            name="callback_secret",
            field=reviewapp.core.fields.EncryptedTextField(blank=True),
        ),
    ]
