"""A playbook version's checks (pure): branches, cycles, phases, conditions, placeholders."""

from playbooks.document import Known, unending, validate

from .conftest import step, valid_doc

KNOWN = Known(
    failure_modes={"currency-mix-drift"}, monitors={"ood-rate", "silence"}, owners={"sam"}
)


def errors_of(doc):
    return validate(doc, KNOWN)[1]


def test_a_valid_document_passes_and_is_normalised():
    clean, errors = validate(valid_doc(), KNOWN)
    assert not errors
    assert clean["steps"][0]["kind"] == "task"
    assert clean["steps"][3]["artifacts"] == []
    assert clean["steps"][2]["next"] == "verify"


def test_branch_targets_must_exist():
    doc = valid_doc()
    doc["steps"][1]["branches"][1]["target"] = "nowhere"
    assert errors_of(doc) == {"steps[1].branches[1].target": ["No step has the key “nowhere”."]}


def test_a_decision_needs_two_branches_and_only_decisions_have_branches():
    doc = valid_doc()
    doc["steps"][1]["branches"] = doc["steps"][1]["branches"][:1]
    doc["steps"][0]["branches"] = [{"label": "x", "target": "verify"}]
    errors = errors_of(doc)
    assert "steps[1].branches" in errors and "steps[0].branches" in errors


def test_a_cycle_that_cannot_end_is_refused_one_that_can_is_not():
    steps = [
        step("a", "triage"),
        step(
            "b",
            "evidence",
            kind="decision",
            branches=[{"label": "again", "target": "c"}, {"label": "done", "target": "d"}],
        ),
        step("c", "remediation", next="b"),  # loops back, but b may leave to d
        step("d", "verification"),
    ]
    assert not errors_of(valid_doc(steps=steps))
    steps[1]["branches"][1]["target"] = "c"
    steps[1]["branches"][0]["label"] = "once more"
    errors = errors_of(valid_doc(steps=steps))
    assert set(errors) == {"steps[1]", "steps[2]"}
    assert "loops back without reaching the end" in errors["steps[1]"][0]


def test_unending_is_pure_graph_reachability():
    steps = [
        {"key": "a", "kind": "task", "next": "b", "branches": []},
        {"key": "b", "kind": "task", "next": "a", "branches": []},
        {"key": "c", "kind": "task", "next": "", "branches": []},
    ]
    assert unending(steps) == [0, 1]


def test_phases_run_in_order():
    steps = [step("a", "containment"), step("b", "triage")]
    errors = errors_of(valid_doc(steps=steps))
    assert list(errors) == ["steps[1].phase"]
    assert "comes after a containment step" in errors["steps[1].phase"][0]


def test_step_fields_are_checked_by_path():
    doc = valid_doc()
    doc["steps"][0].update(
        role="janitor", condition="severity >= S9", key="Bad Key", phase="lunch", colour="red"
    )
    doc["steps"][0]["artifacts"] = [{"kind": "video", "label": "x"}]
    doc["steps"][3].update(kind="escalation")
    errors = errors_of(doc)
    for path in (
        "steps[0].role",
        "steps[0].condition",
        "steps[0].key",
        "steps[0].phase",
        "steps[0].colour",
        "steps[0].artifacts[0].kind",
        "steps[3].escalate_to",
    ):
        assert path in errors, path


def test_duplicate_keys_and_self_jumps():
    doc = valid_doc()
    doc["steps"][3]["key"] = "contain"
    doc["steps"][4]["next"] = "verify"
    errors = errors_of(doc)
    assert "already the key" in errors["steps[3].key"][0]
    assert errors["steps[4].next"] == ["A step cannot lead to itself."]


def test_top_level_references_are_checked_against_what_exists():
    doc = valid_doc(
        owner="ana",
        failure_modes=["no-such-mode"],
        triggers=[{"monitor": "ood-rat", "kind": "burst"}],
        extra=1,
    )
    del doc["severities"]["S3"]
    doc["templates"]["status_update"] = "{model} {modle}"
    errors = errors_of(doc)
    assert "owner" in errors
    assert "not a catalog failure mode" in errors["failure_modes[0]"][0]
    assert "ood-rate" in errors["triggers[0].monitor"][0]  # lists what exists
    assert "triggers[0].kind" in errors
    assert errors["severities.S3"] == ["Required."]
    assert "Unknown placeholder {modle}" in errors["templates.status_update"][0]
    assert errors["extra"] == ["Unknown field."]


def test_not_an_object_and_no_steps():
    assert "detail" in errors_of([1, 2])
    assert errors_of(valid_doc(steps=[])) == {"steps": ["A playbook needs at least one step."]}


def test_nul_characters_are_refused():
    errors = errors_of(valid_doc(title="bad\x00title"))
    assert "title" in errors
