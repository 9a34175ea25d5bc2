from __future__ import annotations

from django import forms

from reviewapp.core.exceptions import ServiceError
from reviewapp.core.forms import ServiceErrorsMixin


class TagForm(ServiceErrorsMixin, forms.Form):
    field_aliases = {"base_version": None, "note": "reason"}
    title = forms.CharField(required=False)
    reason = forms.CharField(required=False)
    links = forms.CharField(required=False)
    tags_domain = forms.CharField(required=False)


def test_service_errors_land_on_their_fields():
    form = TagForm(data={})
    assert form.is_valid()
    form.add_service_errors(
        ServiceError(
            "problems",
            errors={
                "title": ["Too long."],
                "links[2]": ["Not a URL."],
                "tags.domain": ["Unknown tag."],
                "note": ["Say why."],
                "base_version": ["Someone else saved first."],
                "elsewhere": ["Not a field here."],
            },
        )
    )
    assert form.errors["title"] == ["Too long."]
    assert form.errors["links"] == ["Not a URL."]
    assert form.errors["tags_domain"] == ["Unknown tag."]
    assert form.errors["reason"] == ["Say why."]
    assert form.non_field_errors() == ["Someone else saved first.", "Not a field here."]
