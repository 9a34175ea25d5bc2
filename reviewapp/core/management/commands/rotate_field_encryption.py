"""Re-encrypt every encrypted field with the newest key of FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from reviewapp.core.fields import EncryptedTextField, rotate


def rotate_all() -> int:
    """Every stored token of every EncryptedTextField of every model, re-encrypted in place
    (raw SQL: the tokens are rotated without being decrypted into model instances)."""
    count = 0
    quote = connection.ops.quote_name
    with transaction.atomic():
        for model in apps.get_models():
            table = quote(model._meta.db_table)
            for field in model._meta.concrete_fields:
                if not isinstance(field, EncryptedTextField):
                    continue
                # Read here, not per model: a composite key (the payload table) has no column.
                pk = quote(model._meta.pk.column)
                column = quote(field.column)
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT {pk}, {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
                    rows = cursor.fetchall()
                    for row_pk, token in rows:
                        cursor.execute(
                            f"UPDATE {table} SET {column} = %s WHERE {pk} = %s",  # noqa: S608
                            [rotate(token), row_pk],
                        )
                count += len(rows)
    return count


class Command(BaseCommand):
    help = "Re-encrypt stored secrets with the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Re-encrypted {rotate_all()} value(s) with the newest key.")
