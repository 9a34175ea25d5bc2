"""Browser test: a label its own scores contradict. The reviewer reads what disagrees on the
review page, with the decision surface still on the first screen; a lead reads on the model's
page whether the model refuses such a label (strict) or sends it to review. Screenshots:
review-inconsistent-output.png, policy-strict-output.png."""

import pytest

from reviewapp.core.audit import Actor
from reviewapp.governance import services
from reviewapp.models import PoolMembership, Prediction
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.routing import predictions_route
from tests.factories import UserFactory, envelope_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_reviewer_reads_what_disagrees(live_server, page, sign_in, artifacts, fraud_model):
    body = {
        **envelope_for(fraud_model, "txn-contradicts"),
        "output": {"label": "fraud", "scores": {"fraud": 0.45, "legit": 0.55}},
        "confidence": 0.91,
    }
    [result] = prediction_batch_ingest(
        envelopes=[body], account=None, actor=Actor.system("tests"), enqueue=False
    )
    predictions_route(ids=[result.id])
    assert Prediction.objects.get(pk=result.id).reason_codes == ["inconsistent_output"]
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)

    sign_in(page, live_server, "ana")
    page.wait_for_url(f"{live_server.url}/queue/")
    assert "Label disagrees with the model's own scores" in page.inner_text("main")
    page.click("text=Start reviewing")
    page.wait_for_url("**/review/")
    why = page.inner_text(".why")
    assert (
        "The model's label is fraud, but its scores rank legit highest (legit 0.55 · fraud 0.45)"
        in why
    )
    box = page.locator("#decide-form").bounding_box()
    assert box["y"] + box["height"] <= 768, box
    page.screenshot(path=str(artifacts / "review-inconsistent-output.png"), full_page=False)


def test_a_lead_reads_the_strict_setting_on_the_models_page(
    live_server, page, sign_in, artifacts, fraud_model
):
    services.change_request_bootstrap(
        model_slug="card-fraud", kind="model_settings", rationale="Initial settings.",
        document={"criticality": "critical", "cost_of_wrong_decision": 250,
                  "cost_per_hour_of_delay": 40, "regulatory_class": "regulated",
                  "strict_output": True},
        actor=Actor.system("tests"),
    )  # fmt: skip
    UserFactory(username="lee", roles=["lead"])
    sign_in(page, live_server, "lee")
    page.goto(f"{live_server.url}/governance/models/card-fraud/")
    strict = page.locator("#model-settings")
    strict.scroll_into_view_if_needed()
    assert "A label its own scores contradict" in strict.inner_text()
    assert "Refused: the producer gets a 400 naming output.label and output.scores." in (
        strict.inner_text()
    )
    page.locator("#h-settings").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "policy-strict-output.png"), full_page=False)
