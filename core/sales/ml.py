"""The ML half of the predictive score: a calibrated logistic regression over lead attributes.

Issue 5 item 3(c); research note l2c-anchors.md "### Scoring", row "ML conversion probability":
calibrated probabilities (Platt/sigmoid), a **sample floor** below which no probability is shown
("derived, never defaulted"), and a per-lead breakdown of what pushed the number up or down.

- Features (one row per lead): one-hot of industry, source, province and country (values seen
  at least `MIN_CATEGORY_COUNT` times in training; others read as "unknown", all zeros);
  presence flags of email, mobile, phone, USCC, company and title; `log1p` of the count of each
  touchpoint type seen in training; the number of returns to a pool.
- Model: scikit-learn `LogisticRegression` inside `CalibratedClassifierCV(method="sigmoid",
  cv=folds)`, fitted on 75 % of the closed leads; AUC and Brier score are measured on the
  other 25 % (stratified, seeded), so `metrics` are held-out figures of the exported model.
- Export: plain JSON numbers (feature names, per-fold coef/intercept, sigmoid a/b, training
  means). Nothing is ever unpickled; `predict` recomputes sklearn's `predict_proba` with numpy
  (mean over folds of 1 / (1 + exp(a·(x·w + c) + b))).
- Top factors: contribution of feature j = w_eff_j × (x_j − mean_j), with w_eff the folds'
  mean of −a·w (the coefficient on the calibrated log-odds scale), labelled "industry =
  Manufacturing", "email present", "webinar touchpoints", "returns to pool".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

CATEGORICAL = ("industry", "source", "province", "country")
PRESENCE = ("email", "mobile", "phone", "uscc", "company", "title")
RETURNS = "returns to pool"
MIN_CATEGORY_COUNT = 5
MAX_CATEGORIES = 60  # per field, most frequent first: keeps the model small and stable
MAX_TRAINING_ROWS = 200_000  # a seeded sample above this: the fit stays a few seconds
HELD_OUT = 0.25

Matrix = npt.NDArray[np.float64]


def _clean(value: Any) -> str | None:
    """A categorical value as the model sees it: stripped text, None when blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class Inputs:
    """Columns of n leads: raw attribute values per field, touchpoint counts, returns."""

    attributes: Mapping[str, Sequence[Any]]
    touch_counts: Mapping[str, npt.NDArray[np.int64]]
    returns: npt.NDArray[np.int64]

    @property
    def size(self) -> int:
        return len(self.returns)


@dataclass(frozen=True)
class Fold:
    coef: tuple[float, ...]
    intercept: float
    a: float
    b: float


@dataclass(frozen=True)
class MlModel:
    """A fitted model as plain parameters (what `scoring_model.parameters` stores)."""

    categories: Mapping[str, tuple[str, ...]]
    touch_types: tuple[str, ...]
    folds: tuple[Fold, ...]
    means: tuple[float, ...]
    feature_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.feature_names:
            object.__setattr__(self, "feature_names", _feature_names(self))

    def to_json(self) -> dict[str, Any]:
        return {
            "feature_names": list(self.feature_names),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "touch_types": list(self.touch_types),
            "folds": [
                {"coef": list(f.coef), "intercept": f.intercept, "a": f.a, "b": f.b}
                for f in self.folds
            ],
            "means": list(self.means),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MlModel:
        return cls(
            categories={k: tuple(v) for k, v in data["categories"].items()},
            touch_types=tuple(data["touch_types"]),
            folds=tuple(
                Fold(tuple(float(c) for c in f["coef"]), float(f["intercept"]), f["a"], f["b"])
                for f in data["folds"]
            ),
            means=tuple(float(m) for m in data["means"]),
            feature_names=tuple(data["feature_names"]),
        )

    def effective_coef(self) -> Matrix:
        """Coefficients on the calibrated log-odds scale, averaged over the folds."""
        return np.asarray(
            np.mean([-f.a * np.asarray(f.coef) for f in self.folds], axis=0), dtype=np.float64
        )


@dataclass(frozen=True)
class Outcome:
    """`model` when trained, else None and `reason` ("57 closed leads, need 200")."""

    model: MlModel | None
    reason: str | None
    sample_size: int
    positives: int
    metrics: Mapping[str, float] = field(default_factory=dict)


def _feature_names(model: MlModel) -> tuple[str, ...]:
    names = [f"{f} = {v}" for f in CATEGORICAL for v in model.categories.get(f, ())]
    names += [f"{f} present" for f in PRESENCE]
    names += [f"{t} touchpoints" for t in model.touch_types]
    return (*names, RETURNS)


def _present(values: Sequence[Any]) -> npt.NDArray[np.float64]:
    return np.fromiter(
        (
            (v != "" and not v.isspace())
            if type(v) is str
            else v is not None and bool(str(v).strip())
            for v in values
        ),
        dtype=np.float64,
        count=len(values),
    )


def _codes(values: Sequence[Any], index: Mapping[str | None, int]) -> npt.NDArray[np.int64]:
    """`index` position of each cleaned value (-1 when absent), cleaning each distinct once."""
    distinct = list(dict.fromkeys(values))
    position = {v: i for i, v in enumerate(distinct)}
    known = np.array([index.get(_clean(v), -1) for v in distinct] or [-1], dtype=np.int64)
    return known[np.fromiter(map(position.__getitem__, values), np.int64, count=len(values))]


def design(
    categories: Mapping[str, Sequence[str]], touch_types: Sequence[str], data: Inputs
) -> Matrix:
    """The feature matrix of `data` in the model's column order (see the module docstring)."""
    n = data.size
    blocks: list[Matrix] = []
    for name in CATEGORICAL:
        values = categories.get(name, ())
        block = np.zeros((n, len(values)))
        if values:
            index: dict[str | None, int] = {v: i for i, v in enumerate(values)}
            codes = _codes(data.attributes.get(name, [None] * n), index)
            rows = np.nonzero(codes >= 0)[0]
            block[rows, codes[rows]] = 1.0
        blocks.append(block)
    for name in PRESENCE:
        blocks.append(_present(data.attributes.get(name, [None] * n)).reshape(n, 1))
    for kind in touch_types:
        counts = data.touch_counts.get(kind)
        logs = np.zeros(n) if counts is None else np.log1p(counts.astype(np.float64))
        blocks.append(logs.reshape(n, 1))
    blocks.append(data.returns.astype(np.float64).reshape(n, 1))
    return np.hstack(blocks)


def matrix(model: MlModel, data: Inputs) -> Matrix:
    return design(model.categories, model.touch_types, data)


def predict(model: MlModel, x: Matrix) -> npt.NDArray[np.float64]:
    """P(converted) per row, equal to sklearn's `predict_proba(x)[:, 1]` (mean over folds)."""
    total = np.zeros(x.shape[0])
    for fold in model.folds:
        decision = x @ np.asarray(fold.coef) + fold.intercept
        total += 1.0 / (1.0 + np.exp(fold.a * decision + fold.b))
    return total / len(model.folds)


def top_factors(model: MlModel, x: Matrix, k: int) -> list[list[tuple[str, float]]]:
    """Per row: up to k largest positive then up to k largest negative contributions."""
    rows, features, milli = top_factor_arrays(model, x, k)
    names = model.feature_names
    out: list[list[tuple[str, float]]] = [[] for _ in range(len(x))]
    for i, j, m in zip(rows.tolist(), features.tolist(), milli.tolist(), strict=True):
        out[i].append((names[j], m / 1000))
    return out


def top_factor_arrays(
    model: MlModel, x: Matrix, k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """`top_factors` as arrays sorted by row: (row, feature, contribution in thousandths).

    Contributions round half even to thousandths (np.round); one that rounds to 0 is left
    out, so m / 1000 is the float np.round(value, 3) gives."""
    contributions = (x - np.asarray(model.means)) * model.effective_coef()
    n, width = contributions.shape
    k = min(k, width)
    rows = np.arange(n)[:, None]
    features, millis, keep = [], [], []
    for sign in (1.0, -1.0):
        signed = contributions * sign
        if k < width:
            picked = np.argpartition(-signed, k - 1, axis=1)[:, :k]
        else:
            picked = np.tile(np.arange(width), (n, 1))
        order = np.argsort(-signed[rows, picked], axis=1, kind="stable")
        picked = picked[rows, order]
        milli = np.rint(contributions[rows, picked] * 1000).astype(np.int64)
        features.append(picked)
        millis.append(milli)
        keep.append(milli * int(sign) > 0)
    chosen = np.hstack(keep).ravel()
    lead = np.repeat(np.arange(n, dtype=np.int64), 2 * k)[chosen]
    return (
        lead,
        np.hstack(features).ravel()[chosen].astype(np.int64),
        np.hstack(millis).ravel()[chosen],
    )


def _vocabulary(data: Inputs) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    categories: dict[str, tuple[str, ...]] = {}
    for name in CATEGORICAL:
        counts = Counter(c for c in map(_clean, data.attributes.get(name, ())) if c is not None)
        frequent = sorted(
            (v for v, c in counts.items() if c >= MIN_CATEGORY_COUNT), key=lambda v: (-counts[v], v)
        )
        categories[name] = tuple(sorted(frequent[:MAX_CATEGORIES]))
    touch_types = tuple(sorted(t for t, c in data.touch_counts.items() if int(c.sum()) > 0))
    return categories, touch_types


def floor_reason(sample: int, positives: int, *, min_sample: int, min_per_class: int) -> str | None:
    """Why no probability may be shown, or None when the sample is large enough."""
    negatives = sample - positives
    if sample < min_sample:
        return f"{sample} closed leads, need {min_sample}"
    if min(positives, negatives) < min_per_class:
        return (
            f"{positives} converted and {negatives} disqualified leads, "
            f"need {min_per_class} of each"
        )
    return None


def train(
    data: Inputs,
    converted: npt.NDArray[np.bool_],
    *,
    min_sample: int,
    min_per_class: int,
    cv_folds: int,
) -> Outcome:
    """Fit the calibrated model on closed leads (`converted` True = won), or say why not."""
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import train_test_split

    y = converted.astype(np.int64)
    sample, positives = len(y), int(y.sum())
    reason = floor_reason(sample, positives, min_sample=min_sample, min_per_class=min_per_class)
    if reason is not None:
        return Outcome(None, reason, sample, positives)
    categories, touch_types = _vocabulary(data)
    x = design(categories, touch_types, data)
    rng = np.random.default_rng(0)
    if sample > MAX_TRAINING_ROWS:
        keep = np.sort(rng.choice(sample, MAX_TRAINING_ROWS, replace=False))
        x, y = x[keep], y[keep]
    x_fit, x_test, y_fit, y_test = train_test_split(
        x, y, test_size=HELD_OUT, stratify=y, random_state=0
    )
    folds = max(2, min(cv_folds, int(np.bincount(y_fit, minlength=2).min())))
    calibrated = estimator(folds).fit(x_fit, y_fit)
    model = MlModel(
        categories=categories,
        touch_types=touch_types,
        folds=export(calibrated),
        means=tuple(float(m) for m in x_fit.mean(axis=0)),
    )
    held_out = predict(model, x_test)
    metrics = {
        "auc": round(float(roc_auc_score(y_test, held_out)), 4),
        "brier": round(float(brier_score_loss(y_test, held_out)), 4),
        "held_out": len(y_test),
        "trained_on": len(y_fit),
        "folds": folds,
    }
    return Outcome(model, None, sample, positives, metrics)


def estimator(folds: int) -> Any:
    """The unfitted sklearn estimator `train` uses (tests fit it to compare with `predict`)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression

    return CalibratedClassifierCV(LogisticRegression(max_iter=1000), method="sigmoid", cv=folds)


def export(calibrated: Any) -> tuple[Fold, ...]:
    """The plain parameters of a fitted `estimator`: per fold coef, intercept, sigmoid a/b."""
    return tuple(
        Fold(
            coef=tuple(float(c) for c in pair.estimator.coef_[0]),
            intercept=float(pair.estimator.intercept_[0]),
            a=float(pair.calibrators[0].a_),
            b=float(pair.calibrators[0].b_),
        )
        for pair in calibrated.calibrated_classifiers_
    )
