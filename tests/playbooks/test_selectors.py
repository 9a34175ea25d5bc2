"""What the playbook page shows: steps by phase with branch targets, the diff between two
versions with the changed words marked."""

from playbooks.document import Known, validate
from playbooks.selectors import marked, step_view, version_diff

from .conftest import valid_doc

KNOWN = Known(failure_modes={"currency-mix-drift"}, monitors={"ood-rate"}, owners={"sam"})


def normalised(doc):
    clean, errors = validate(doc, KNOWN)
    assert not errors
    return clean


def test_steps_by_phase_with_numbers_branch_targets_and_conditions_in_words():
    view = step_view(normalised(valid_doc())["steps"])
    assert [phase for phase, _label, _rows in view] == [
        "triage", "evidence", "containment", "remediation", "verification"
    ]  # fmt: skip
    decision = view[1][2][0]
    assert [(b["label"], b["number"], b["title"]) for b in decision["branches_view"]] == [
        ("data problem", 3, "Do contain"),
        ("model problem", 4, "Do retrain"),
    ]
    contain = view[2][2][0]
    assert contain["condition_words"] == "Only when severity is S2 or more severe"
    assert (contain["next_number"], contain["is_last"]) == (5, False)
    assert view[-1][2][0]["is_last"] is True


def test_diff_matches_steps_by_key():
    old = valid_doc()
    new = valid_doc(title="Renamed")
    new["steps"][0]["instructions"] = "Act now."
    new["steps"].insert(1, {**new["steps"][1], "key": "extra", "title": "Extra"})
    del new["steps"][4]  # retrain
    new["steps"][1] = {**new["steps"][1], "kind": "task", "branches": []}
    changes = {c.where: (c.before, c.after) for c in version_diff(old, new)}
    assert changes["Title"] == ("Drift runbook", "Renamed")
    assert changes["Step 1 · Do ack: instructions"] == ("—", "Act now.")
    assert changes["Step 2 · Extra"] == ("—", "added")
    assert changes["Step 4 · Do retrain"] == ("present", "removed")
    assert version_diff(old, valid_doc()) == []


def test_marked_escapes_and_marks_only_the_changed_words():
    before, after = marked("Press <b>Contain</b> now.", "Press <b>Halt</b> now.")
    assert before == "Press <del>&lt;b&gt;Contain&lt;/b&gt;</del> now."
    assert after == "Press <ins>&lt;b&gt;Halt&lt;/b&gt;</ins> now."
