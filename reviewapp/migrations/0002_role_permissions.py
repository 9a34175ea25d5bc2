from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    # The queue's permissions exist only now; give the role groups theirs.
    for label in ("reviewapp", "governance"):
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    from reviewapp.core.roles import sync_role_permissions

    sync_role_permissions(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("reviewapp", "0001_initial"),
        ("governance", "0001_initial"),
        ("core", "0002_role_groups"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
