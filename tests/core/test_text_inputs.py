"""Every text input arrives with "\\n" line endings: a browser sends a textarea's lines as
"\\r\\n", and stored as given an untouched field shows as changed in every diff."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from django import forms
from django.http import QueryDict

from reviewapp.core.api import StrictInputSerializer
from reviewapp.core.forms import NormalizedTextMixin, normalize_line_endings


def test_normalize_line_endings():
    assert normalize_line_endings("a\r\nb\rc\nd") == "a\nb\nc\nd"
    assert normalize_line_endings({"x": ["1\r\n2"], "y": 3}) == {"x": ["1\n2"], "y": 3}
    assert normalize_line_endings(None) is None


class _Form(NormalizedTextMixin, forms.Form):
    note = forms.CharField(widget=forms.Textarea, max_length=5)
    tags = forms.MultipleChoiceField(choices=[("a\nb", "ab")], required=False)


def test_a_form_cleans_browser_line_endings_before_counting_length():
    form = _Form(QueryDict("note=a%0D%0Ab%0Dc"))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["note"] == "a\nb\nc"
    # Five characters once normalised: within max_length=5 although the browser sent seven.
    assert _Form({"note": "1\r\n2\r\n3"}).is_valid()


def test_an_api_input_cleans_line_endings():
    from rest_framework import serializers

    class In(StrictInputSerializer):
        note = serializers.CharField()
        items = serializers.ListField(child=serializers.CharField())

    s = In(data={"note": "one\r\ntwo", "items": ["a\rb"]})
    assert s.is_valid(), s.errors
    assert s.validated_data == {"note": "one\ntwo", "items": ["a\nb"]}


def _project_forms() -> list[type]:
    found = []
    for package in ("reviewapp", "catalog"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if ".migrations" in info.name or info.name.endswith((".wsgi", ".celery")):
                continue
            if info.name.rsplit(".", 1)[-1] not in ("forms", "admin", "views"):
                continue
            module = importlib.import_module(info.name)
            for _name, obj in inspect.getmembers(module, inspect.isclass):
                if (
                    issubclass(obj, forms.BaseForm)
                    and obj.__module__ == module.__name__
                    and obj.__module__.startswith(package)
                ):
                    found.append(obj)
    return found


@pytest.mark.django_db
def test_every_form_of_the_project_normalises_its_text():
    project_forms = _project_forms()
    assert len(project_forms) >= 25  # the walk found them
    missing = [
        f"{f.__module__}.{f.__name__}"
        for f in project_forms
        if not issubclass(f, NormalizedTextMixin)
    ]
    assert not missing, "forms without NormalizedTextMixin: " + ", ".join(missing)
