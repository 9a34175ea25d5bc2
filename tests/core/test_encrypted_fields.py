"""Webhook signing secrets are stored encrypted, and the key can be rotated."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from reviewapp.core.checks import check_field_encryption_keys
from reviewapp.delivery.validators import generate_callback_secret
from reviewapp.models import MLModel
from tests.factories import MLModelFactory

pytestmark = pytest.mark.django_db


def _stored(model: MLModel) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT callback_secret FROM {MLModel._meta.db_table} WHERE id = %s", [model.pk]
        )
        return cursor.fetchone()[0]


def test_the_column_holds_no_plain_secret():
    secret = generate_callback_secret()
    model = MLModelFactory(slug="card-fraud")
    model.callback_secret = secret
    model.save()
    stored = _stored(model)
    assert secret not in stored
    assert secret.removeprefix("whsec_") not in stored
    assert stored.startswith("gAAAA")  # a Fernet token
    assert MLModel.objects.get(pk=model.pk).callback_secret == secret
    # No secret: stored empty, not as an encrypted empty string.
    empty = MLModelFactory(slug="no-hook")
    assert _stored(empty) == "" and MLModel.objects.get(pk=empty.pk).callback_secret == ""


def test_rotation_puts_a_new_key_first_and_re_encrypts(settings):
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    secret = generate_callback_secret()
    model = MLModelFactory(slug="card-fraud")
    model.callback_secret = secret
    model.save()
    before = _stored(model)
    new_key = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, *old_keys]):
        # Old tokens still read while both keys are listed.
        assert MLModel.objects.get(pk=model.pk).callback_secret == secret
        call_command("rotate_field_encryption", stdout=open("/dev/null", "w"))  # noqa: SIM115
        after = _stored(model)
        assert after != before and secret not in after
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):  # the old key dropped
        assert MLModel.objects.get(pk=model.pk).callback_secret == secret
        assert Fernet(new_key.encode()).decrypt(after.encode()).decode() == secret


def test_a_value_no_listed_key_opens_is_a_clear_configuration_error():
    model = MLModelFactory(slug="card-fraud")
    model.callback_secret = generate_callback_secret()
    model.save()
    from django.core.exceptions import ImproperlyConfigured

    with (
        override_settings(FIELD_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]),
        pytest.raises(ImproperlyConfigured, match="cannot be decrypted"),
    ):
        MLModel.objects.get(pk=model.pk)


def test_a_malformed_key_fails_the_system_check():
    with override_settings(FIELD_ENCRYPTION_KEYS=["not-a-key"]):
        [error] = check_field_encryption_keys()
    assert error.id == "core.E002" and "FIELD_ENCRYPTION_KEYS" in error.msg
    assert check_field_encryption_keys() == []


def test_the_migration_encrypts_existing_plain_secrets():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("reviewapp.migrations.0007_encrypt_callback_secret")
    secret = generate_callback_secret()
    model = MLModelFactory(slug="card-fraud")
    with connection.cursor() as cursor:  # as 0006 left it: plain text
        cursor.execute(
            f"UPDATE {MLModel._meta.db_table} SET callback_secret = %s WHERE id = %s",
            [secret, model.pk],
        )

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection
    migration.encrypt_secrets(apps, editor)
    assert secret not in _stored(model)
    assert MLModel.objects.get(pk=model.pk).callback_secret == secret
    migration.decrypt_secrets(apps, editor)
    assert _stored(model) == secret
