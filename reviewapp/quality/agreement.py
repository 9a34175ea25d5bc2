"""Agreement and proportion statistics: numbers in, numbers out (no database).

- Cohen's kappa for two raters over paired labels (a blind second review against the first).
- Krippendorff's alpha, nominal, across any number of raters with missing labels (a
  prediction one reviewer labelled counts as missing for the others), through the
  ``krippendorff`` package.
- 95% percentile-bootstrap intervals over items (units), with a seeded generator so a page
  shows the same interval on every load.
- The Wilson score interval for a proportion (gold accuracy, override share, ...).

Every figure is a :class:`Figure`: value, low, high, n (the items behind it) and ``few`` when
n is below :data:`FEW`. A value that is undefined (no items, or every label the same so
chance agreement is total) is ``None``, never a made-up 0 or 1.

The bootstrap recomputes each statistic from per-item contributions with one matrix product
per statistic (resample weights × contributions), so 500 resamples of thousands of items stay
in milliseconds; the tests hold the fast forms to the plain formulas and to the package.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import krippendorff
import numpy as np

FEW = 20  # fewer items than this: the figure is shown, marked "few"
RESAMPLES = 500
SEED = 17
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Figure:
    value: float | None
    low: float | None
    high: float | None
    n: int

    @property
    def few(self) -> bool:
        return self.n < FEW

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "few": self.few}


def empty(n: int = 0) -> Figure:
    return Figure(value=None, low=None, high=None, n=n)


# --- proportions ----------------------------------------------------------------------------
def wilson(successes: int, n: int, z: float = Z95) -> Figure:
    """The share ``successes / n`` with its Wilson score interval (good at 0, 1 and small n,
    where the normal approximation gives intervals outside [0, 1])."""
    if n <= 0:
        return empty()
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 and n the bound on that side is exactly 0 or 1 (the formula leaves float dust).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Figure(value=p, low=low, high=high, n=n)


# --- Cohen's kappa ------------------------------------------------------------------------------
def _codes(labels: Sequence[Hashable]) -> tuple[np.ndarray, int]:
    index: dict[Hashable, int] = {}
    codes = np.array([index.setdefault(label, len(index)) for label in labels], dtype=np.int64)
    return codes, len(index)


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """(p_o - p_e) / (1 - p_e): observed agreement against the agreement two raters with
    these label frequencies would reach by chance. None when undefined (p_e = 1)."""
    if not pairs:
        return None
    n = len(pairs)
    p_o = sum(1 for a, b in pairs if a == b) / n
    labels = {a for a, _b in pairs} | {b for _a, b in pairs}
    first = [a for a, _b in pairs]
    second = [b for _a, b in pairs]
    p_e = sum((first.count(k) / n) * (second.count(k) / n) for k in labels)
    if p_e >= 1.0:
        return None
    return (p_o - p_e) / (1 - p_e)


def _kappa_many(weights: np.ndarray, a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """Kappa for each row of ``weights`` (how often each pair is drawn); nan where undefined."""
    one_a = np.eye(k)[a]  # pairs × labels
    one_b = np.eye(k)[b]
    n = weights.sum(axis=1)
    p_o = weights @ (a == b).astype(float) / n
    p_e = ((weights @ one_a) * (weights @ one_b)).sum(axis=1) / (n * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (p_o - p_e) / (1 - p_e)
    kappa[np.isclose(p_e, 1.0)] = np.nan
    return kappa


def kappa_figure(
    pairs: Sequence[tuple[Hashable, Hashable]], *, resamples: int = RESAMPLES, seed: int = SEED
) -> Figure:
    """Cohen's kappa over ``pairs`` with a percentile-bootstrap 95% interval over pairs."""
    value = cohen_kappa(pairs)
    n = len(pairs)
    if value is None:
        return empty(n)
    codes, k = _codes([a for a, _b in pairs] + [b for _a, b in pairs])
    a, b = codes[:n], codes[n:]
    weights = _resample_weights(n, resamples, seed)
    low, high = _percentiles(_kappa_many(weights, a, b, k))
    return Figure(value=value, low=low, high=high, n=n)


# --- Krippendorff's alpha -------------------------------------------------------------------
def value_counts(units: Sequence[Sequence[Hashable]]) -> np.ndarray:
    """Units × values: how many raters gave each value to each unit (the ``value_counts``
    form the ``krippendorff`` package reads; a missing label is simply not counted)."""
    index: dict[Hashable, int] = {}
    for labels in units:
        for label in labels:
            index.setdefault(label, len(index))
    counts = np.zeros((len(units), len(index)), dtype=float)
    for u, labels in enumerate(units):
        for label in labels:
            counts[u, index[label]] += 1
    return counts


def pairable(units: Sequence[Sequence[Hashable]]) -> list[Sequence[Hashable]]:
    """Units with two labels or more: the only ones alpha can use."""
    return [labels for labels in units if len(labels) >= 2]


def krippendorff_alpha(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Nominal alpha over units (each the labels its raters gave; any number, missing ones
    left out). None when undefined: no pairable unit or a single value in the data."""
    usable = pairable(units)
    if not usable:
        return None
    counts = value_counts(usable)
    if counts.shape[1] < 2:
        return None
    return float(krippendorff.alpha(value_counts=counts, level_of_measurement="nominal"))


def _coincidences(counts: np.ndarray) -> np.ndarray:
    """Per unit, its contribution to the coincidence matrix, flattened: units × (K·K).
    o_ck(u) = (n_uc · n_uk − [c = k] · n_uc) / (m_u − 1)."""
    m = counts.sum(axis=1)
    outer = counts[:, :, None] * counts[:, None, :]
    k = counts.shape[1]
    diag = np.einsum("uc,ck->uck", counts, np.eye(k))
    return ((outer - diag) / (m - 1)[:, None, None]).reshape(len(counts), k * k)


def _alpha_many(weights: np.ndarray, contributions: np.ndarray, k: int) -> np.ndarray:
    """Nominal alpha for each row of ``weights``: 1 − (n−1)·Σ_{c≠k} o_ck / Σ_{c≠k} n_c·n_k."""
    o = (weights @ contributions).reshape(len(weights), k, k)
    n_c = o.sum(axis=2)
    n = n_c.sum(axis=1)
    off = 1 - np.eye(k)
    observed = (o * off).sum(axis=(1, 2))
    expected = (n_c[:, :, None] * n_c[:, None, :] * off).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1 - (n - 1) * observed / expected
    alpha[expected == 0] = np.nan
    return alpha


def alpha_from_counts(counts: np.ndarray) -> float | None:
    """The same alpha as the package, from the coincidence formula (the bootstrap's form)."""
    if len(counts) == 0 or counts.shape[1] < 2:
        return None
    value = _alpha_many(np.ones((1, len(counts))), _coincidences(counts), counts.shape[1])[0]
    return None if np.isnan(value) else float(value)


def alpha_figure(
    units: Sequence[Sequence[Hashable]], *, resamples: int = RESAMPLES, seed: int = SEED
) -> Figure:
    """Krippendorff's alpha (nominal) with a percentile-bootstrap 95% interval over units;
    n counts the pairable units (two labels or more)."""
    usable = pairable(units)
    value = krippendorff_alpha(usable)
    if value is None:
        return empty(len(usable))
    counts = value_counts(usable)
    weights = _resample_weights(len(usable), resamples, seed)
    alphas = _alpha_many(weights, _coincidences(counts), counts.shape[1])
    low, high = _percentiles(alphas)
    return Figure(value=value, low=low, high=high, n=len(usable))


# --- one label against the rest -------------------------------------------------------------
def one_vs_rest_pairs(
    pairs: Sequence[tuple[Hashable, Hashable]], label: Hashable
) -> list[tuple[bool, bool]]:
    return [(a == label, b == label) for a, b in pairs]


def one_vs_rest_units(units: Sequence[Sequence[Hashable]], label: Hashable) -> list[list[bool]]:
    return [[x == label for x in labels] for labels in units]


# --- the bootstrap ------------------------------------------------------------------------------
def _resample_weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """resamples × n: how many times each item is drawn in each resample (with replacement)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    weights = np.zeros((resamples, n), dtype=float)
    np.add.at(weights, (np.arange(resamples)[:, None], draws), 1.0)
    return weights


def _percentiles(values: np.ndarray) -> tuple[float | None, float | None]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return None, None
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100, linear interpolation) or None for no values."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))
