from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.db.models.functions import JSONObject
from django.utils.translation import gettext_lazy as _

from reviewapp.core import clock
from reviewapp.core.fields import EncryptedTextField


class Criticality(models.TextChoices):
    CRITICAL = "critical", _("Critical")
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


class MLModel(models.Model):
    """A registered model service whose uncertain predictions come here."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    owner_team = models.CharField(max_length=200)
    criticality = models.CharField(
        max_length=16, choices=Criticality.choices, default=Criticality.HIGH
    )
    labels = models.JSONField(help_text=_("The label set the model predicts from."))
    description = models.TextField(blank=True)
    callback_url = models.URLField(blank=True)
    # The webhook signing secret, stored encrypted (FIELD_ENCRYPTION_KEYS; core/fields.py).
    callback_secret = EncryptedTextField(blank=True)
    # The people told when the model's monitors fire (beside the free-text owner team).
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    # Strict output: refuse (400) a prediction whose label its own scores contradict, instead
    # of routing it to review (``inconsistent_output``). A governed model setting
    # (``strict_output`` in the model_settings document), set here when a version applies.
    strict_output = models.BooleanField(
        default=False,
        help_text=_("Refuse a prediction whose label is not the arg-max of its scores."),
    )
    # How the review page presents the inputs (reviewapp/presentation.py, docs/presentation.md):
    # {} is the inputs table. Not a governed setting: it changes what a reviewer sees, never
    # how a prediction is routed. Leads change it (configure_presentation), audited.
    presentation = models.JSONField(default=dict, blank=True)
    # Days a prediction's payload (input, output, signals, lineage) is kept; null: forever.
    # A governed model setting (``payload_retention_days`` in the model_settings document),
    # set here when a version applies; services/payloads.py applies it daily.
    payload_retention_days = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["slug"]
        verbose_name = "ML model"
        # Leads configure the decision callback; criticality and labels are governed settings
        # (a change request), so no role has change_mlmodel.
        permissions = [
            ("configure_callback", "Can configure a model's decision callback"),
            ("configure_presentation", "Can configure how a model's inputs are presented"),
        ]

    def __str__(self) -> str:
        return self.slug


class ServiceAccount(models.Model):
    """A producer's machine identity. Only a sha256 of its token is stored."""

    name = models.SlugField(max_length=100, unique=True)
    token_prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    all_models = models.BooleanField(default=False)
    allowed_models = models.ManyToManyField(MLModel, blank=True, related_name="service_accounts")
    created_at = models.DateTimeField(default=clock.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


PAYLOAD_DEFAULTS: dict[str, Callable[[], Any]] = {
    "input": dict,
    "output": dict,
    "signals": dict,
    "lineage": dict,
}


class PredictionQuerySet(models.QuerySet):
    def with_payload(self) -> PredictionQuerySet:
        """Prefetch each prediction's payload row (one query for the whole list)."""
        return self.prefetch_related("payloads")

    def with_payload_values(self, *names: str) -> PredictionQuerySet:
        """Annotate payload values (``payload_<name>``) in this query itself: no extra query;
        the properties read them."""
        return self.annotate(**payload_subqueries(names, outer="pk"))

    def update(self, **kwargs: Any) -> int:
        """A new ``received_at`` is copied to the payload rows too (the partition key that
        payload lookups prune by; PostgreSQL moves a row whose key leaves its month)."""
        if "received_at" not in kwargs:
            return super().update(**kwargs)
        with transaction.atomic(using=self.db):
            ids = list(self.values_list("pk", flat=True))
            changed = super().update(**kwargs)
            PredictionPayload.objects.filter(prediction_id__in=ids).update(
                received_at=models.Subquery(
                    Prediction.objects.filter(pk=models.OuterRef("prediction_id")).values(
                        "received_at"
                    )[:1]
                )
            )
        return changed

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Prediction]:
        """Also writes the payload rows of the predictions it created (tests, fixtures and
        benchmarks build rows this way; ingest has its own INSERT)."""
        objs = list(objs)
        created = super().bulk_create(objs, *args, **kwargs)
        rows = [p.payload_row_for_insert() for p in created if p.pk is not None]
        PredictionPayload.objects.bulk_create(rows, batch_size=kwargs.get("batch_size"))
        for p in created:
            p.__dict__.pop("_payload_pending", None)
        return created


def payload_subqueries(
    names: Any, *, outer: str, received_at: str | None = None
) -> dict[str, models.Subquery]:
    """``payload_<name>``: a scalar subquery per payload field, for a query whose ``outer``
    column is the prediction id (``pk`` on predictions, ``prediction_id`` on review items)
    and whose ``received_at`` column is the prediction's receipt time (``received_at`` on
    predictions, ``prediction__received_at`` on review items that join their prediction).

    On PostgreSQL several fields come as one subquery (``payload_values``, a jsonb object):
    each subquery is planned against every monthly partition, so one instead of four keeps a
    detail page's planning time a quarter as long as months accumulate."""
    names = list(names)
    rows = PredictionPayload.objects.filter(prediction_id=models.OuterRef(outer))
    if received_at is None and outer == "pk":
        received_at = "received_at"
    if received_at is not None:
        # The partition key too: PostgreSQL then probes one month's index per row at run time
        # instead of every month's (routing reads signals this way for each row of a chunk).
        # The payload's received_at is the prediction's copy, kept equal by ingest, save()
        # and update().
        rows = rows.filter(received_at=models.OuterRef(received_at))
    if len(names) > 1 and connection.vendor == "postgresql":
        values = JSONObject(**{name: name for name in names})
        return {
            "payload_values": models.Subquery(
                rows.values(values=values)[:1], output_field=models.JSONField()
            )
        }
    return {
        f"payload_{name}": models.Subquery(
            rows.values(name)[:1],
            output_field=models.JSONField(),
        )
        for name in names
    }


def adopt_payload_values(source: Any, prediction: Prediction) -> Prediction:
    """Hand ``payload_<name>`` values annotated on a related row (a review item) to its
    prediction, whose properties then read them without a query."""
    for key in ["payload_values", *(f"payload_{name}" for name in PAYLOAD_DEFAULTS)]:
        if key in source.__dict__:
            prediction.__dict__[key] = source.__dict__[key]
    return prediction


class PredictionManager(models.Manager.from_queryset(PredictionQuerySet)):
    def bulk_create(self, *args: Any, **kwargs: Any) -> list[Prediction]:
        # from_queryset() skips the methods a Manager already has: route it explicitly.
        return self.get_queryset().bulk_create(*args, **kwargs)


class Prediction(models.Model):
    """The durable inbox row for one flagged prediction, and then its routing record."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        IN_REVIEW = "in_review", _("In review")
        PASSED = "passed", _("Passed (model output stands)")
        # The model was halted: its output is not used, the producer serves the fallback.
        FALLBACK = "fallback", _("Fallback (model halted)")
        DECIDED = "decided", _("Decided by a reviewer")

    id = models.BigAutoField(primary_key=True)
    model = models.ForeignKey(MLModel, on_delete=models.PROTECT, related_name="predictions")
    external_id = models.CharField(max_length=200)
    model_version = models.CharField(max_length=100)
    # The bulky envelope (input, output, signals, lineage) lives in PredictionPayload, a side
    # table range-partitioned by month on PostgreSQL; the properties below read and write it.
    label = models.CharField(max_length=200)
    confidence = models.FloatField()
    # The output's scores as ingest summarised them, computed once per prediction
    # (governance.rules.top_scores): the top label(s) and the label's own score, which is what
    # routing's label/score check reads. Null when the producer sent no scores.
    top_scores = models.JSONField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=clock.now)
    submitted_by = models.ForeignKey(
        ServiceAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set by the request that inserted the row: a racing duplicate insert sees another value.
    receipt = models.UUIDField(default=uuid.uuid4, editable=False)
    # The X-Request-ID of the request that sent it (the routing chunk's "ingested" audit event
    # lists these, so the request writes no audit row of its own).
    request_id = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # The model's operating mode when the request was accepted (what the ingest answer said).
    mode_at_receipt = models.CharField(max_length=16, default="normal")
    # The routing decision, written once by the worker.
    routed = models.BooleanField(null=True)
    reason_codes = models.JSONField(default=list, blank=True)
    reason_details = models.JSONField(default=dict, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    policy_version = models.ForeignKey(
        "governance.PolicyVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    policy_hash = models.CharField(max_length=64, blank=True)
    fallback = models.JSONField(null=True, blank=True)
    routed_at = models.DateTimeField(null=True, blank=True)
    # The operating mode the prediction was routed under (authoritative; also in routing_facts).
    routing_mode = models.CharField(max_length=16, blank=True)
    # Everything the rules read, as routing read it (governance.rules.facts_record): replay
    # needs neither the live model row nor the raw input. Null on rows routed before it existed.
    routing_facts = models.JSONField(null=True, blank=True)
    # When the model's payload retention policy removed the payload row (None: kept).
    payload_removed_at = models.DateTimeField(null=True, blank=True)

    objects = PredictionManager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "external_id"], name="prediction_key_unique"),
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="prediction_confidence_range",
            ),
        ]
        indexes = [
            models.Index(
                fields=["enqueued_at"],
                name="prediction_unrouted_idx",
                condition=Q(status="received"),
            ),
            # Coalesced routing takes a model's waiting rows oldest first (… WHERE model_id = X
            # AND status = 'received' ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED): a small index,
            # since rows leave it once routed.
            models.Index(
                fields=["model", "id"],
                name="prediction_inbox_idx",
                condition=Q(status="received"),
            ),
            models.Index(fields=["model", "label", "confidence"], name="prediction_similar_idx"),
            # A model's predictions in a time window (an incident's affected predictions, a
            # shift sample, the recovery scoring's recent traffic): without it each of those
            # reads every prediction the model ever had (bench/incident.py, docs/performance.md).
            models.Index(fields=["model", "received_at"], name="prediction_model_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id}:{self.external_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Storage plumbing, not a business rule: the payload fields live in the side table.
        adding = self._state.adding
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = [f for f in update_fields if f not in PAYLOAD_DEFAULTS]
        super().save(*args, **kwargs)
        if adding:
            row = self.payload_row_for_insert()
            row.save(force_insert=True)
            self.__dict__["_payload_row"] = row
        else:
            stored = self.__dict__.get("_stored_received_at")
            now_at = self.__dict__.get("received_at")
            if stored is not None and now_at is not None and now_at != stored:
                # The partition key payload lookups prune by: the copy follows the prediction.
                PredictionPayload.objects.filter(prediction_id=self.pk).update(received_at=now_at)
            if pending := self.__dict__.get("_payload_pending"):
                PredictionPayload.objects.filter(prediction_id=self.pk).update(**pending)
                self.__dict__.pop("_payload_row", None)
        self.__dict__.pop("_payload_pending", None)
        self.__dict__["_stored_received_at"] = self.__dict__.get("received_at")

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any) -> Prediction:
        instance = super().from_db(db, field_names, values)
        instance.__dict__["_stored_received_at"] = instance.__dict__.get("received_at")
        return instance

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        if not kwargs.get("fields") and not (args and args[-1]):
            self.__dict__.pop("_payload_row", None)

    # -- the payload ---------------------------------------------------------------------------
    # ``input``, ``output``, ``signals`` and ``lineage`` read the payload row, loaded once per
    # instance (or from a ``prefetch_related("payloads")`` / ``with_payload()``: every list and
    # hot path loads payloads in bulk). Assigning one (also as a constructor keyword, as tests
    # and factories do) is written to the payload row by save() / bulk_create(). Ingest writes
    # payload rows itself, in its own INSERT (services/ingest.py).

    @property
    def payload(self) -> PredictionPayload | None:
        """The payload row, or None when none is stored (removed by the retention policy)."""
        if "_payload_row" not in self.__dict__:
            prefetched = getattr(self, "_prefetched_objects_cache", {}).get("payloads")
            if prefetched is not None:
                rows = list(prefetched)
            elif self.pk is None:
                rows = []
            else:
                rows = list(PredictionPayload.objects.filter(prediction_id=self.pk)[:1])
            self.__dict__["_payload_row"] = rows[0] if rows else None
        return self.__dict__["_payload_row"]

    def _payload_value(self, name: str) -> Any:
        pending = self.__dict__.get("_payload_pending", {})
        if name in pending:
            return pending[name]
        # A value the query annotated (``payload_signals``: routing reads signals in its
        # chunk query, without loading the row).
        annotated = self.__dict__.get(f"payload_{name}", pending)
        if annotated is not pending:
            return annotated if annotated is not None else PAYLOAD_DEFAULTS[name]()
        if "payload_values" in self.__dict__:  # all four at once (PostgreSQL)
            values = self.__dict__["payload_values"] or {}
            value = values.get(name)
            return value if value is not None else PAYLOAD_DEFAULTS[name]()
        row = self.payload
        if row is None:
            return PAYLOAD_DEFAULTS[name]()
        return getattr(row, name)

    def _payload_set(self, name: str, value: Any) -> None:
        self.__dict__.setdefault("_payload_pending", {})[name] = value

    input = property(
        lambda self: self._payload_value("input"), lambda self, v: self._payload_set("input", v)
    )
    output = property(
        lambda self: self._payload_value("output"), lambda self, v: self._payload_set("output", v)
    )
    signals = property(
        lambda self: self._payload_value("signals"),
        lambda self, v: self._payload_set("signals", v),
    )
    lineage = property(
        lambda self: self._payload_value("lineage"),
        lambda self, v: self._payload_set("lineage", v),
    )

    def payload_row_for_insert(self) -> PredictionPayload:
        """A new payload row with this prediction's pending values (defaults elsewhere)."""
        pending = self.__dict__.get("_payload_pending", {})
        values = {name: pending.get(name, make()) for name, make in PAYLOAD_DEFAULTS.items()}
        return PredictionPayload(
            prediction_id=self.pk, model_id=self.model_id, received_at=self.received_at, **values
        )

    @property
    def review_item(self):
        """The item routing made for this prediction (purpose ``routed``), or None. Samples,
        rechecks and second reviews are other items of ``review_items``. Uses a prefetch of
        ``review_items`` when the caller made one."""
        for item in self.review_items.all():
            if item.purpose == "routed":
                return item
        return None


class PredictionPayload(models.Model):
    """A prediction's bulky envelope: what the producer sent beside the routing record.

    On PostgreSQL the table is range-partitioned by month on ``received_at`` (declarative
    partitioning, a DEFAULT partition, months created ahead by beat: services/payloads.py), so
    the retention policy drops old months whole; elsewhere a plain table. A partitioned table
    cannot hold a unique constraint without the partition key, so the key is (prediction,
    received_at) and the link is a ForeignKey, not one-to-one: one row per prediction is kept
    by the writers (ingest's INSERT, Prediction.save). ``model`` and ``received_at`` are
    copies of the prediction's, for per-model retention and partition pruning.
    """

    pk = models.CompositePrimaryKey("prediction_id", "received_at")
    # The primary key's index serves lookups by prediction.
    prediction = models.ForeignKey(
        Prediction, on_delete=models.CASCADE, db_index=False, related_name="payloads"
    )
    received_at = models.DateTimeField()
    # No database constraint: a copy for retention, never joined on the hot path.
    model = models.ForeignKey(
        MLModel, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    input = models.JSONField(default=dict)
    output = models.JSONField(default=dict)
    signals = models.JSONField(default=dict, blank=True)
    lineage = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["model", "received_at"], name="payload_model_received_idx"),
        ]

    def __str__(self) -> str:
        return f"payload of prediction {self.prediction_id}"


class Mode(models.TextChoices):
    NORMAL = "normal", _("Normal")
    CONTAINED = "contained", _("Contained")
    HALTED = "halted", _("Halted")


class ModelMode(models.Model):
    """A model's operating mode, read by routing on the hot path. The queue owns the row; only
    the fail-safe app's services write it (``reviewapp.failsafe.services.modes``). No row means
    normal."""

    model = models.OneToOneField(MLModel, on_delete=models.CASCADE, related_name="mode_row")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.NORMAL)
    since = models.DateTimeField(default=clock.now)
    reason = models.TextField(blank=True)
    # Who switched it: a person, or a monitor (its name and rule, in ``set_by_monitor``).
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    set_by_monitor = models.CharField(max_length=200, blank=True)
    # The alert whose persistent shift switched it (automatic containment), if any.
    alert_id = models.BigIntegerField(null=True, blank=True)
    # Who answers for a containment or halt, and by when they must look at it again.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_by = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    # Halted: the share of predictions still queued for review (purpose ``mode_sample``).
    sample_rate = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(sample_rate__gte=0) & Q(sample_rate__lte=1),
                name="model_mode_sample_rate_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_id}: {self.mode}"


class RejectedEnvelope(models.Model):
    """An envelope published straight to the `ingest` queue that failed validation.

    Kept with its errors so leads can see it; never silently dropped.
    """

    received_at = models.DateTimeField(default=clock.now)
    service_account_name = models.CharField(max_length=100, blank=True)
    envelope = models.JSONField(null=True)
    errors = models.JSONField()
    status_code = models.PositiveSmallIntegerField(default=400)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"rejected envelope #{self.pk}"
