"""Communication templates: placeholders checked, rendering pure."""

import pytest

from playbooks.messages import NOT_KNOWN, TemplateError, placeholders_in, render


def test_render_fills_known_placeholders_and_marks_missing_ones():
    text = "[{severity}] {model} is {mode}; next update {next_update_at}. {{literal}}"
    out = render(text, {"severity": "S2", "model": "card-fraud", "mode": "contained"})
    assert out == f"[S2] card-fraud is contained; next update {NOT_KNOWN}. {{literal}}"


def test_placeholders_in_order_without_repeats():
    assert placeholders_in("{model} {severity} {model}") == ["model", "severity"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{modle}", "Unknown placeholder {modle}"),
        ("{model.__class__}", "Unknown placeholder"),
        ("{model!r}", "bare name"),
        ("{model:>10}", "bare name"),
        ("{}", "empty"),
        ("{model", "Unbalanced"),
        ("model}", "Unbalanced"),
    ],
)
def test_bad_templates_are_refused(text, message):
    with pytest.raises(TemplateError, match=message):
        placeholders_in(text)
    with pytest.raises(TemplateError):
        render(text, {"model": "x"})
