"""The ML score: numpy prediction from plain parameters, the sample floor, top factors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.sales import ml


def _inputs(
    rows: list[dict[str, str | None]], touches: dict[str, list[int]], returns: list[int]
) -> ml.Inputs:
    fields = {*ml.CATEGORICAL, *ml.PRESENCE}
    return ml.Inputs(
        attributes={f: [r.get(f) for r in rows] for f in fields},
        touch_counts={k: np.array(v, dtype=np.int64) for k, v in touches.items()},
        returns=np.array(returns, dtype=np.int64),
    )


def test_numpy_prediction_equals_sklearn_predict_proba() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 6))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=400) > 0).astype(np.int64)
    fitted = ml.estimator(3).fit(x, y)
    model = ml.MlModel(categories={}, touch_types=(), folds=ml.export(fitted), means=(0.0,) * 6)
    expected = fitted.predict_proba(x)[:, 1]
    np.testing.assert_allclose(ml.predict(model, x), expected, rtol=0, atol=1e-9)


def test_parameters_survive_json() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(120, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    model = ml.MlModel(
        categories={"industry": ("Retail",)},
        touch_types=(),
        folds=ml.export(ml.estimator(2).fit(x, y)),
        means=(0.0, 0.0, 0.0),
        feature_names=("a", "b", "c"),
    )
    again = ml.MlModel.from_json(json.loads(json.dumps(model.to_json())))
    assert again == model
    np.testing.assert_array_equal(ml.predict(again, x), ml.predict(model, x))


def test_below_min_sample_no_model_and_the_reason_says_how_many() -> None:
    data = _inputs([{"industry": "Retail"}] * 57, {}, [0] * 57)
    outcome = ml.train(
        data, np.array([True] * 30 + [False] * 27), min_sample=200, min_per_class=20, cv_folds=3
    )
    assert outcome.model is None
    assert outcome.reason == "57 closed leads, need 200"


def test_too_few_of_one_class_is_refused() -> None:
    assert ml.floor_reason(300, 12, min_sample=200, min_per_class=20) == (
        "12 converted and 288 disqualified leads, need 20 of each"
    )
    assert ml.floor_reason(300, 20, min_sample=200, min_per_class=20) is None


def test_features_one_hot_presence_log_counts_and_returns() -> None:
    data = _inputs(
        [{"industry": " Retail ", "email": "a@b.cn", "title": "  "}, {"industry": "Mining"}],
        {"webinar": [3, 0]},
        [0, 2],
    )
    x = ml.design({"industry": ("Manufacturing", "Retail")}, ("webinar",), data)
    # industry=Manufacturing, industry=Retail, 6 presence flags, log1p(webinar), returns
    assert x.tolist() == [
        [0, 1, 1, 0, 0, 0, 0, 0, pytest.approx(np.log(4)), 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
    ]


def test_top_factors_are_coef_times_distance_from_the_training_mean() -> None:
    # one fold with a = -1 (w_eff = coef): contributions = coef × (x - mean)
    model = ml.MlModel(
        categories={"industry": ("Manufacturing",)},
        touch_types=("webinar",),
        folds=(ml.Fold(coef=(2.0, 0.5, 0, 0, 0, 0, 0, 0.8, -3.0), intercept=0, a=-1.0, b=0),),
        means=(0.5, 0.5, 0, 0, 0, 0, 0, 1.0, 0.1),
    )
    x = np.array([[1.0, 0, 0, 0, 0, 0, 0, 2.0, 1.0]])
    # industry +2×0.5=1.0, email present 0.5×(0-0.5)=-0.25,
    # webinar 0.8×(2-1)=0.8, returns -3×0.9=-2.7
    assert ml.top_factors(model, x, 2) == [
        [
            ("industry = Manufacturing", 1.0),
            ("webinar touchpoints", 0.8),
            ("returns to pool", -2.7),
            ("email present", -0.25),
        ]
    ]


def test_trained_model_reports_held_out_metrics() -> None:
    rng = np.random.default_rng(5)
    n = 400
    industry = rng.choice(["Manufacturing", "Retail", "Finance"], size=n).tolist()
    won = np.array([i == "Manufacturing" for i in industry]) ^ (rng.random(n) < 0.2)
    data = _inputs(
        [{"industry": i} for i in industry], {"webinar": rng.integers(0, 3, n).tolist()}, [0] * n
    )
    outcome = ml.train(data, won, min_sample=200, min_per_class=20, cv_folds=3)
    assert outcome.model is not None
    assert outcome.metrics["held_out"] == 100
    assert outcome.metrics["auc"] > 0.7
    assert 0 < outcome.metrics["brier"] < 0.25
