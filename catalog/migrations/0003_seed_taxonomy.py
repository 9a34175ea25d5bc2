"""Seed the taxonomy tree named in the catalog's brief. Editors manage it afterwards."""

from django.db import migrations

TAXONOMY = [
    ("data", "Data", [
        ("data-drift", "Data drift"),
        ("data-quality", "Data quality / missing values"),
        ("label-noise", "Label noise"),
        ("feature-leakage", "Feature leakage"),
    ]),
    ("model", "Model behaviour", [
        ("concept-drift", "Concept drift"),
        ("miscalibration", "Miscalibration"),
        ("out-of-distribution", "Out-of-distribution input"),
        ("fairness", "Fairness / subgroup degradation"),
        ("feedback-loop", "Feedback loop"),
        ("adversarial", "Adversarial / abuse"),
    ]),
    ("operations", "Operations", [
        ("training-serving-skew", "Training–serving skew"),
        ("infrastructure", "Infrastructure / latency"),
        ("upstream-dependency", "Upstream dependency"),
        ("configuration-error", "Configuration error"),
    ]),
]


def seed(apps, schema_editor):
    Category = apps.get_model("catalog", "Category")
    for i, (slug, name, children) in enumerate(TAXONOMY):
        parent, _ = Category.objects.get_or_create(
            slug=slug, defaults={"name": name, "position": i}
        )
        for j, (child_slug, child_name) in enumerate(children):
            Category.objects.get_or_create(
                slug=child_slug,
                defaults={"name": child_name, "parent": parent, "position": j},
            )


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_search_machinery")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
