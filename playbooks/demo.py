"""The demo's playbooks: five complete runbooks for common failures, linked to the starter
catalog's failure modes. ``seed_demo`` calls :func:`seed_playbooks` (idempotent: a playbook
whose title exists is left as it is)."""

from __future__ import annotations

from typing import Any

from .models import PlaybookVersion

OWNER = "sam"

COMMON_TRIAGE = [
    {
        "key": "ack",
        "phase": "triage",
        "title": "Acknowledge the alert and take command",
        "instructions": (
            "Open the alert from the notification or **Fail-safe → Alerts** and press "
            "*Acknowledge* with one line on what you are doing. You are the incident "
            "commander until you hand over."
        ),
        "role": "commander",
        "artifacts": [{"kind": "link", "label": "The alert's page"}],
    },
    {
        "key": "severity",
        "phase": "triage",
        "title": "Set the severity",
        "instructions": (
            "Use the table of severities above. When unsure, pick the more severe level: "
            "lowering it later is cheap, a late page is not."
        ),
        "role": "commander",
        "artifacts": [],
    },
    {
        "key": "first-update",
        "phase": "triage",
        "title": "Send the first status update",
        "instructions": (
            "Within 15 minutes of the alert, send the **status update** (Communication "
            "templates, at the bottom) to #ml-incidents, even if all it says is that you "
            "are looking."
        ),
        "role": "liaison",
        "artifacts": [{"kind": "link", "label": "The message in the channel"}],
    },
]


def _step(key: str, phase: str, title: str, instructions: str, role: str = "commander",
          artifacts: list[tuple[str, str]] = (), condition: str = "", kind: str = "task",
          branches: list[tuple[str, str]] = (), escalate_to: str = "",
          next: str = "") -> dict[str, Any]:  # fmt: skip
    return {
        "key": key,
        "phase": phase,
        "title": title,
        "instructions": instructions,
        "role": role,
        "artifacts": [{"kind": k, "label": label} for k, label in artifacts],
        "condition": condition,
        "kind": kind,
        "branches": [{"label": label, "target": t} for label, t in branches],
        "escalate_to": escalate_to,
        "next": next,
    }


def _comms(key: str = "status-update") -> list[dict[str, Any]]:
    return [
        _step(key, "communication", "Keep sending status updates",
              "Send the **status update** to #ml-incidents every 30 min (S1) or 60 min (S2), "
              "and at every change of the model's mode, until resolved.", role="liaison",
              artifacts=[("link", "The message in the channel")]),
        _step("stakeholders", "communication", "Notify the model's stakeholders",
              "Send the **stakeholder notice** to the model's owners and the product owner.",
              role="liaison", condition="severity >= S2"),
        _step("resolution", "communication", "Send the resolution notice",
              "Once verified, send the **resolution notice** and open the post-mortem.",
              role="liaison", artifacts=[("link", "The resolution notice")]),
    ]  # fmt: skip


SEVERITIES = {
    "S1": "Wrong automated decisions at scale with money, safety or regulatory exposure. "
          "Page now; contain within 15 minutes.",
    "S2": "A segment or model gives customer-visible wrong outcomes. Contain within the hour; "
          "fix within a working day.",
    "S3": "Measurable degradation that human review absorbs. Fix in the planning cycle.",
    "S4": "Cosmetic or caught before any decision. Track it.",
}  # fmt: skip

TEMPLATES = {
    "status_update": (
        "[{severity}] {model} · {failure_mode}\n"
        "Status: {status}. The model is {mode}.\n"
        "Impact so far: {impact_so_far}.\n"
        "Next update at {next_update_at}. Commander: {commander}."
    ),
    "stakeholder_notice": (
        "We are handling an incident on {model}: {failure_mode} ({severity}: "
        "{severity_meaning}).\nImpact so far: {impact_so_far}. While we work, the model is "
        "{mode}: its uncertain decisions go to human review.\nNext update at {next_update_at}."
    ),
    "resolution_notice": (
        "Resolved: {incident} on {model} ({failure_mode}).\n"
        "Impact: {impact_so_far}. Impact started {started_at}; the model is back in {mode} "
        "mode.\nThe post-mortem follows within five working days; questions to {commander}."
    ),
}

PLAYBOOKS: list[dict[str, Any]] = [
    {
        "title": "Data drift: inputs move away from training",
        "summary": "A monitor sees out-of-distribution inputs or more uncertain predictions "
        "for a lasting period. Find the drifting slice, contain it, retrain or "
        "re-threshold through governance.",
        "failure_modes": ["currency-mix-drift", "seasonal-concept-drift"],
        "triggers": [
            {"monitor": "ood-rate", "kind": "shift"},
            {"monitor": "uncertain-rate", "kind": "any"},
        ],
        "steps": [
            *COMMON_TRIAGE,
            _step(
                "find-slice",
                "evidence",
                "Find the drifting slice",
                "On the model's **Data diagnostics** page compare this week's feature "
                "distributions with the profile. Note the features and the segment "
                "(country, currency, device) where the shift sits.",
                role="participant",
                artifacts=[
                    ("query", "Feature shift by segment"),
                    ("number", "PSI of the top feature"),
                ],
            ),
            _step(
                "what-moved",
                "evidence",
                "Data problem or a real change in the world?",
                "A broken feed shows impossible values or a sudden step; a real change "
                "(a new market, a season) builds up and the inputs stay plausible.",
                kind="decision",
                branches=[
                    ("data problem (feed broken)", "contain"),
                    ("real change in the world", "route-slice"),
                ],
            ),
            _step(
                "contain",
                "containment",
                "Contain the model",
                "On the model's **Fail-safe** page press *Contain*: every prediction goes to "
                "human review until a lead lifts it. Say why in the reason.",
                artifacts=[("link", "The mode change")],
                next="tell-lead",
            ),
            _step(
                "route-slice",
                "containment",
                "Route the drifting slice to review",
                "Propose a routing change request that sends the drifting slice to review. "
                "Under S1, use the audited emergency rollback instead.",
                artifacts=[("link", "The change request")],
            ),
            _step(
                "tell-lead",
                "containment",
                "Tell the lead on duty",
                "The lead decides on extra reviewer capacity for the extra volume.",
                kind="escalation",
                escalate_to="lead",
                condition="severity >= S2",
            ),
            _step(
                "retrain",
                "remediation",
                "Retrain or re-threshold",
                "Retrain with recent data through a shadow challenger, or re-tune the "
                "threshold with an impact replay. Both go through governance.",
                role="participant",
                artifacts=[("link", "Training run or change request")],
            ),
            _step(
                "verify-band",
                "verification",
                "Check the monitors are back in band",
                "The alert's metric must stay inside its bound for the resolve time; only "
                "then ask a lead to lift the containment.",
                artifacts=[("number", "Metric after the fix")],
            ),
            *_comms(),
        ],
    },
    {
        "title": "Upstream schema change breaks features",
        "summary": "A field is renamed, retyped or goes missing upstream: envelopes are "
        "rejected or inputs turn constant. Contain first, then fix the contract.",
        "failure_modes": ["schema-rename-breaks-feature", "missing-values-silently-imputed"],
        "triggers": [
            {"monitor": "data-anomalies", "kind": "shift"},
            {"monitor": "rejected-envelopes", "kind": "any"},
        ],
        "steps": [
            *COMMON_TRIAGE,
            _step(
                "rejections",
                "evidence",
                "Read the rejected envelopes",
                "**Rejected envelopes** (user menu) lists the field and reason of each "
                "rejection. Which field changed, and since when?",
                role="participant",
                artifacts=[("query", "Rejections by field and hour")],
            ),
            _step(
                "contain",
                "containment",
                "Contain the model",
                "The data-anomalies monitor contains on a persistent shift; if the model "
                "is still normal, press *Contain* on its Fail-safe page.",
                condition="model.mode == normal",
                artifacts=[("link", "The mode change")],
            ),
            _step(
                "which-side",
                "remediation",
                "Whose change was it?",
                "Ask the producer's team whether they deployed in the last hours.",
                kind="decision",
                branches=[
                    ("producer changed its schema", "producer-rollback"),
                    ("our contract is wrong", "fix-contract"),
                ],
            ),
            _step(
                "producer-rollback",
                "remediation",
                "Ask the producer to roll back",
                "The producer rolls back its release or sends both field names for a "
                "transition period.",
                role="liaison",
                artifacts=[("link", "Their ticket")],
                next="replay",
            ),
            _step(
                "fix-contract",
                "remediation",
                "Fix the input contract",
                "Update the model's feature mapping and the input contract test.",
                role="participant",
                artifacts=[("link", "The merged fix")],
            ),
            _step(
                "replay",
                "verification",
                "Replay the rejected envelopes",
                "Resend the rejected envelopes and check none is rejected again.",
                role="participant",
                artifacts=[("number", "Envelopes accepted on replay")],
            ),
            *_comms(),
        ],
    },
    {
        "title": "Miscalibration after a retrain",
        "summary": "A new model version is confidently wrong: reviewers override more, and "
        "confidence no longer means what the thresholds assume.",
        "failure_modes": ["overconfident-after-retrain"],
        "triggers": [{"monitor": "override-rate", "kind": "shift"}],
        "steps": [
            *COMMON_TRIAGE,
            _step(
                "calibration",
                "evidence",
                "Read calibration by confidence bucket",
                "**Dashboards → Calibration**: human agreement per confidence bucket for the "
                "last 7 days against the 30 before the release.",
                role="participant",
                artifacts=[
                    ("link", "Calibration chart"),
                    ("number", "Agreement in the top bucket"),
                ],
            ),
            _step(
                "raise-threshold",
                "containment",
                "Raise the threshold",
                "Under S1 use the audited emergency rollback to the previous policy "
                "version; otherwise propose a change request with an impact replay.",
                condition="severity >= S2 or model.criticality >= high",
                artifacts=[("link", "Change request or rollback")],
            ),
            _step(
                "release",
                "remediation",
                "Did the drop start with a model release?",
                "Compare the first bad bucket with the producer's release log.",
                kind="decision",
                branches=[
                    ("yes, it started with the release", "rollback-model"),
                    ("no release at that time", "to-committee"),
                ],
            ),
            _step(
                "rollback-model",
                "remediation",
                "Roll back the model version at the producer",
                "The producer serves the previous model version; ask its on-call.",
                role="liaison",
                artifacts=[("link", "The producer's rollback")],
                next="agreement-back",
            ),
            _step(
                "to-committee",
                "remediation",
                "Bring the thresholds to the committee",
                "With no release to blame, the thresholds need re-tuning: the committee "
                "approves a change request with evidence.",
                kind="escalation",
                escalate_to="committee",
            ),
            _step(
                "agreement-back",
                "verification",
                "Check agreement is back",
                "Agreement in the top confidence bucket within 2 points of its level "
                "before the release.",
                artifacts=[("number", "Agreement after the fix")],
            ),
            *_comms(),
        ],
    },
    {
        "title": "Model service latency or outage",
        "summary": "The model service times out or stops sending: decisions fall back to a "
        "default or nothing arrives. Keep decisions safe, restore the service.",
        "failure_modes": ["inference-latency-timeouts", "upstream-enrichment-outage"],
        "triggers": [
            {"monitor": "silence", "kind": "any"},
            {"monitor": "oldest-waiting", "kind": "any"},
        ],
        "steps": [
            *COMMON_TRIAGE,
            _step(
                "traffic",
                "evidence",
                "Measure what still arrives",
                "Fail-safe → the model's metrics: received versus usual, and the oldest "
                "waiting item.",
                role="participant",
                artifacts=[("number", "Received vs usual (%)")],
            ),
            _step(
                "fallback-hold",
                "containment",
                "Hold instead of default-approve",
                "Make sure the producer's timeout path holds decisions for review rather "
                "than approving them (the safe fallback).",
                role="liaison",
                artifacts=[("link", "Producer confirmation")],
            ),
            _step(
                "halt",
                "containment",
                "Halt the model if decisions go out unchecked",
                "Press *Halt* on the model's Fail-safe page: everything goes to review "
                "until a lead lifts it.",
                condition="severity >= S2",
                artifacts=[("link", "The mode change")],
            ),
            _step(
                "where",
                "remediation",
                "Where does it break?",
                "Check the producer's health page and the enrichment dependency.",
                kind="decision",
                branches=[
                    ("our model service", "restore"),
                    ("an upstream dependency", "dependency"),
                ],
            ),
            _step(
                "restore",
                "remediation",
                "Restore the model service",
                "Scale or restart the model service; roll back its last deploy if it coincides.",
                role="participant",
                artifacts=[("link", "Deploy or restart log")],
                next="queue-drained",
            ),
            _step(
                "dependency",
                "remediation",
                "Page the dependency's on-call",
                "Give them the first failing time and the error rate.",
                role="liaison",
                artifacts=[("link", "Their incident")],
            ),
            _step(
                "queue-drained",
                "verification",
                "Check the queue drains",
                "Received versus usual above 90 % and the oldest waiting item under its "
                "bound for 30 minutes.",
                artifacts=[("number", "Oldest waiting (min)")],
            ),
            *_comms(),
        ],
    },
    {
        "title": "Label-quality regression",
        "summary": "Training labels got worse (late chargebacks, the model's own decisions "
        "fed back): overrides rise slowly after each retrain.",
        "failure_modes": ["label-noise-from-chargeback-lag", "feedback-loop-review-labels"],
        "triggers": [{"monitor": "override-rate", "kind": "any"}],
        "steps": [
            *COMMON_TRIAGE,
            _step(
                "label-sample",
                "evidence",
                "Re-label a sample",
                "Queue 200 recent training labels for second review and measure the disagreement.",
                role="participant",
                artifacts=[("number", "Disagreement rate"), ("file", "The sample")],
            ),
            _step(
                "freeze",
                "containment",
                "Freeze retraining",
                "Pause the scheduled retrain until the labels are fixed.",
                role="participant",
            ),
            _step(
                "source",
                "remediation",
                "Where do the bad labels come from?",
                "Group the disagreements by label source (chargebacks, reviewer decisions, "
                "auto-accepted).",
                kind="decision",
                branches=[
                    ("immature labels (chargeback lag)", "maturity"),
                    ("the model's own decisions", "feedback"),
                ],
            ),
            _step(
                "maturity",
                "remediation",
                "Apply a label maturity window",
                "Train only on labels older than the chargeback window.",
                role="participant",
                artifacts=[("link", "The training config change")],
                next="shadow-check",
            ),
            _step(
                "feedback",
                "remediation",
                "Train on QA-sample labels only",
                "Train on QA-sampled reviewer labels with inverse-propensity weights.",
                role="participant",
            ),
            _step(
                "shadow-check",
                "verification",
                "Retrain and compare in shadow",
                "A shadow challenger must beat the current model on the re-labelled "
                "sample before promotion.",
                artifacts=[("number", "Shadow agreement")],
            ),
            *_comms(),
        ],
    },
]


def documents(owner: str = OWNER) -> list[dict[str, Any]]:
    return [
        {**p, "owner": owner, "severities": dict(SEVERITIES), "templates": dict(TEMPLATES)}
        for p in PLAYBOOKS
    ]


def seed_playbooks(*, owner: str = OWNER) -> int:
    """Create and publish the demo playbooks that do not exist yet; the number created."""
    from . import services

    existing = set(PlaybookVersion.objects.values_list("title", flat=True))
    created = 0
    for document in documents(owner):
        if document["title"] in existing:
            continue
        playbook = services.playbook_create(
            actor=None, document=document, note="Demo playbook", check=False
        )
        services.playbook_transition(playbook=playbook, actor=None, event="publish", check=False)
        created += 1
    return created
