"""Realistic synthetic traffic for the demo, the tests and the benchmarks.

Three model services of different criticality: card-fraud scoring, support-ticket triage and
radiology-finding triage. Envelopes are deterministic for a given seed.
"""

from __future__ import annotations

import random
from typing import Any

from reviewapp import demo_media

DEMO_MODELS: list[dict[str, Any]] = [
    {
        "slug": "card-fraud",
        "name": "Card fraud scoring",
        "owner_team": "Payments Risk",
        "criticality": "critical",
        "labels": ["fraud", "legit"],
        "description": "Scores card-not-present transactions before authorisation.",
        # A governed model setting: a label its own scores contradict is refused (400).
        "strict_output": True,
        "rules": {
            "min_confidence": 0.70,
            "min_confidence_by_label": {"fraud": 0.80},
            "max_ood_score": 0.60,
            "route_on_drift": True,
            "qa_sample_rate": 0.02,
            "sla_minutes": {"critical": 15, "high": 60, "medium": 240, "low": 1440},
            "fallback": {"label": "fraud", "action": "hold_for_step_up_auth"},
        },
    },
    {
        "slug": "support-triage",
        "name": "Support ticket triage",
        "owner_team": "Customer Operations",
        "criticality": "medium",
        "labels": ["billing", "technical", "account", "abuse", "other"],
        "description": "Routes incoming support tickets to the right team.",
        "rules": {
            "min_confidence": 0.60,
            "min_confidence_by_label": {"abuse": 0.85},
            "max_ood_score": 0.75,
            "route_on_drift": False,
            "qa_sample_rate": 0.05,
            "sla_minutes": {"critical": 30, "high": 120, "medium": 480, "low": 2880},
            "fallback": {"label": "other", "action": "general_queue"},
        },
    },
    {
        "slug": "radiology-triage",
        "name": "Chest X-ray finding triage",
        "owner_team": "Clinical AI",
        "criticality": "high",
        "labels": ["no_finding", "nodule", "effusion", "pneumothorax", "fracture"],
        "description": "Prioritises chest radiographs for radiologist reading.",
        "rules": {
            "min_confidence": 0.85,
            "min_confidence_by_label": {"no_finding": 0.92, "pneumothorax": 0.90},
            "max_ood_score": 0.50,
            "route_on_drift": True,
            "qa_sample_rate": 0.10,
            "sla_minutes": {"critical": 20, "high": 45, "medium": 240, "low": 720},
            "fallback": {"label": "needs_radiologist", "action": "standard_worklist"},
        },
    },
]

_COUNTRIES = ["NL", "DE", "FR", "GB", "US", "ES", "IT", "PL", "BR", "NG"]
_MCC = ["5411", "5732", "5999", "4829", "7995", "5812", "6011"]
_TICKETS = [
    ("billing", "I was charged twice for my subscription this month"),
    ("billing", "Refund for order #{n} has not arrived"),
    ("technical", "App crashes when I upload a photo on Android {n}"),
    ("technical", "Sync stopped working after the last update"),
    ("account", "Cannot reset my password, the email never comes"),
    ("account", "Please merge my two accounts"),
    ("abuse", "User keeps sending me threatening messages"),
    ("other", "Do you have an office in Lisbon?"),
]
_SCANNERS = ["GE Optima XR240", "Siemens Ysio Max", "Philips DigitalDiagnost", "Carestream DRX"]


def _scores(
    labels: list[str], label: str, confidence: float, rng: random.Random
) -> dict[str, float]:
    rest = [lbl for lbl in labels if lbl != label]
    remaining = 1 - confidence
    weights = [rng.random() + 0.01 for _ in rest]
    total = sum(weights)
    scores = {lbl: round(remaining * w / total, 4) for lbl, w in zip(rest, weights, strict=True)}
    scores[label] = round(confidence, 4)
    return scores


def envelope(slug: str, n: int, rng: random.Random, *, prefix: str = "demo") -> dict[str, Any]:
    """One synthetic prediction of model ``slug``; about a third are uncertain."""
    spec = next(m for m in DEMO_MODELS if m["slug"] == slug)
    labels = spec["labels"]
    confidence = round(rng.betavariate(5, 1.6), 4)
    signals: dict[str, Any] = {"ood_score": round(rng.betavariate(1.5, 6), 3)}
    if slug == "card-fraud":
        label = "fraud" if rng.random() < 0.3 else "legit"
        amount = round(rng.lognormvariate(4, 1.2), 2)
        features = {
            "amount": amount,
            "currency": "EUR",
            "country": rng.choice(_COUNTRIES),
            "merchant_category": rng.choice(_MCC),
            "card_age_days": rng.randint(1, 3000),
            "txn_count_24h": rng.randint(0, 30),
            "distance_from_home_km": round(rng.expovariate(1 / 40), 1),
            "device_seen_before": rng.random() < 0.8,
            "cvv_match": rng.random() < 0.95,
            "hour_of_day": rng.randint(0, 23),
        }
        signals["attributions"] = {
            "amount": round(rng.uniform(-0.1, 0.5), 3),
            "country": round(rng.uniform(-0.1, 0.3), 3),
            "txn_count_24h": round(rng.uniform(-0.05, 0.25), 3),
            "distance_from_home_km": round(rng.uniform(-0.05, 0.2), 3),
            "device_seen_before": round(rng.uniform(-0.2, 0.1), 3),
        }
        lineage = {
            "dataset": "tx-2026-11",
            "feature_snapshot": f"fs-{8800 + n % 40}",
            "pipeline_run": f"run-{n % 7:02d}a1",
        }
        version = "2026.11.1"
    elif slug == "support-triage":
        label, text = rng.choice(_TICKETS)
        features = {
            "subject": text.format(n=n % 900 + 100),
            "channel": rng.choice(["email", "chat", "web_form"]),
            "customer_tier": rng.choice(["free", "pro", "enterprise"]),
            "language": rng.choice(["en", "en", "en", "de", "nl"]),
            "previous_tickets": rng.randint(0, 12),
        }
        if rng.random() < 0.3:
            label = rng.choice(labels)
        lineage = {"dataset": "tickets-2026-q4", "pipeline_run": f"triage-{n % 5}"}
        version = "3.4.0"
    else:
        label = rng.choices(labels, weights=[5, 2, 2, 1, 1])[0]
        features = {
            "view": rng.choice(["PA", "AP", "lateral"]),
            "patient_age": rng.randint(18, 95),
            "patient_sex": rng.choice(["F", "M"]),
            "scanner": rng.choice(_SCANNERS),
            "exposure_mas": round(rng.uniform(1.0, 4.0), 2),
            "image_quality": round(rng.uniform(0.5, 1.0), 2),
            "study_uid": f"1.2.840.{n}.{rng.randint(1000, 9999)}",
        }
        signals["attributions"] = {
            "image_quality": round(rng.uniform(-0.3, 0.3), 3),
            "view": round(rng.uniform(-0.2, 0.2), 3),
            "patient_age": round(rng.uniform(-0.1, 0.2), 3),
        }
        lineage = {
            "dataset": "cxr-curated-v9",
            "feature_snapshot": "dicom-norm-4",
            "pipeline_run": f"cxr-{n % 3}",
        }
        version = "9.2.1"
    if rng.random() < 0.05:
        signals["drift_features"] = [rng.choice(list(features))]
    scores = _scores(labels, label, confidence, rng)
    # A producer's label is the arg-max of its scores (docs/policies.md, "Label against
    # scores"): when another label drew more than the picked one's confidence, that label is
    # the prediction, with its own score as the confidence.
    if scores[label] < max(scores.values()):
        label = max(scores, key=scores.__getitem__)
        confidence = scores[label]
    # Inputs a person can judge (an image, the ticket's text): its own random stream.
    demo_media.add_media(slug, n, label=label, features=features, signals=signals)
    return {
        "model": slug,
        "model_version": version,
        "external_id": f"{prefix}-{slug}-{n:06d}",
        "input": features,
        "output": {"label": label, "scores": scores},
        "confidence": confidence,
        "signals": signals,
        "lineage": lineage,
    }


def envelopes(count: int, *, seed: int = 7, prefix: str = "demo") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    slugs = [m["slug"] for m in DEMO_MODELS]
    return [envelope(slugs[i % len(slugs)], i, rng, prefix=prefix) for i in range(count)]


def anomalous_envelopes(*, prefix: str = "demo-anomaly") -> list[dict[str, Any]]:
    """Card-fraud predictions whose input is unlike the usual traffic: a huge amount in a
    merchant category never seen, a usually present field missing, a number sent as text.
    The model is confident about each, so only the data-quality check sends them to review."""
    rng = random.Random(4242)
    changes: list[dict[str, Any]] = [
        {"amount": 48210.0, "merchant_category": "crypto"},
        {"device_seen_before": None},
        {"card_age_days": "412"},
    ]
    out = []
    for n, change in enumerate(changes):
        body = envelope("card-fraud", n, rng, prefix=prefix)
        features = dict(body["input"])
        for key, value in change.items():
            if value is None:
                features.pop(key, None)
            else:
                features[key] = value
        scores = {"legit": 0.97, "fraud": 0.03}
        body.update(
            input=features,
            output={"label": "legit", "scores": scores},
            confidence=0.97,
            signals={**body["signals"], "ood_score": 0.05, "drift_features": []},
        )
        out.append(body)
    return out
