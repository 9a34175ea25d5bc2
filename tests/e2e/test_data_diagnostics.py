"""Browser test: a reviewer opens an item routed for a data anomaly and reads its
diagnostics as sentences, with the decision surface still on the first screen. Screenshot:
review-data-diagnostics.png."""

import random

import pytest

from reviewapp import demo
from reviewapp.core.audit import Actor
from reviewapp.failsafe.models import FeatureProfile
from reviewapp.failsafe.profiles import learn_profile
from reviewapp.failsafe.services.profiles import checkers_forget
from reviewapp.models import PoolMembership, Prediction, ReviewItem
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.routing import predictions_route
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def fresh_checkers():
    checkers_forget()
    yield
    checkers_forget()


def test_reviewer_reads_the_data_diagnostics(live_server, page, sign_in, artifacts, fraud_model):
    rng = random.Random(3)
    usual = [demo.envelope("card-fraud", i, rng)["input"] for i in range(1000)]
    FeatureProfile.objects.create(
        model=fraud_model, profile=learn_profile(usual, window_days=7), sample_size=1000
    )
    results = prediction_batch_ingest(
        envelopes=demo.anomalous_envelopes(), account=None, actor=Actor.system("tests"),
        enqueue=False,
    )  # fmt: skip
    ids = [r.id for r in results]
    predictions_route(ids=ids)
    first = Prediction.objects.get(pk=ids[0])
    assert first.reason_codes == ["data_anomaly"]
    ReviewItem.objects.filter(prediction_id=ids[0]).update(priority=99)
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)

    sign_in(page, live_server, "ana")
    page.wait_for_url(f"{live_server.url}/queue/")
    page.click("text=Start reviewing")
    page.wait_for_url("**/review/")
    diagnostics = page.inner_text(".diagnostics")
    assert "Data diagnostics" in diagnostics
    assert "× the 99th percentile of the last 7 days" in diagnostics
    assert "merchant_category 'crypto' never seen in the last 7 days" in diagnostics
    assert "Input unlike the model's recent traffic" in page.inner_text(".why")
    # Both fields the findings name are among the first inputs, marked.
    assert page.locator(".inputs tr.flagged").count() == 2
    assert page.locator("table.inputs").first.locator("tr.flagged").count() == 2
    box = page.locator("#decide-form").bounding_box()
    assert box["y"] + box["height"] <= 768, box
    page.screenshot(path=str(artifacts / "review-data-diagnostics.png"), full_page=False)
