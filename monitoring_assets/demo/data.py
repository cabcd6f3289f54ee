"""Synthetic credit-scoring data for the demo: a real scikit-learn model scoring daily traffic.

The demo's days are relative: ``DemoConfig.last_day`` (default: yesterday, UTC) is day ``days``
(60) and day 1 is ``days - 1`` days before it, so the demo's partitions end yesterday whenever it
runs. The seed is fixed and no value depends on the calendar, so every run draws the same data for
the same day numbers; only the dates move.

What the warehouse gets (DuckDB):

* ``training_data``: the reference, the 31 days before day 1, with the true ``defaulted`` label.
  The model is trained on it; its ``score`` column holds out-of-fold (5-fold) scores of the same
  model class, so the reference scores look like scores on unseen data.
* ``inference_log``: one row per scored application on days 1..``days``, scored by that model
  (``score`` = predicted probability of default, ``predicted_label`` = score >= 0.25).
* ``loan_outcomes``: the true outcome of each application, ``labeled_at`` 7 days after scoring.

Three things go wrong, each from a day README names (``DemoConfig`` gives their dates):

* day ``DRIFT_DAY`` (32), covariate drift: incomes fall by 35 %, debt-to-income and loan amounts
  rise, and more applicants are self-employed or unemployed. Age and region do not change.
* day ``FAIRNESS_DAY`` (39), a fairness regression in one slice: for female applicants an upstream
  join adds a co-applicant's debt to ``debt_to_income`` as the model sees it (+0.3), so their
  scores rise and more of them are flagged; their true risk is unchanged.
* day ``CONCEPT_DAY`` (46), concept drift: what predicts default changes (debt and income matter
  less, the region and the loan size more), so the model's ranking gets worse.

Two more happen to the service and its log, each on one day (README "The demo"), each caught by one
check alone:

* day ``SLOW_DAY`` (20), a slow dependency: request latencies triple and 3 % of requests time out
  (the ``operations`` block's ``slo`` check). The model's inputs and scores are untouched.
* day ``CORRELATION_DAY`` (25), a broken join in the log's export: each row's ``loan_amount``
  belongs to another applicant of the same day. Every column keeps its exact distribution (the
  day's values are only permuted), so no univariate drift method sees it; income and loan amount,
  which move together (correlation 0.6 between their logarithms), no longer do, and the
  ``multivariate_drift`` check fails. Scores were computed before the export, on the right rows.

And on one day a pipeline breaks, after scoring (the model saw good data, the log did not):

* day ``QUALITY_BREAK_DAY`` (51) only, a broken export: ``loan_amount`` arrives NULL for 90 % of
  the day's rows, and the ``employment_type`` value ``self_employed`` arrives renamed
  ``self-employed``. Scores and outcomes are unchanged; the data-quality suite fails critically.

Before day 32 every day is drawn from the same distribution as the reference. Outcomes arrive
``LABEL_DELAY`` (7 days) after scoring; ``loan_outcomes`` holds only those that have arrived by
``DemoConfig.now`` (noon of the day after the last day: today), so the last days are only partly
labeled or not at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline

from resources.trainer import default_model

# The named days, as day numbers (day 1 is the first scoring day; DemoConfig turns them into dates).
DRIFT_DAY = 32
FAIRNESS_DAY = 39
CONCEPT_DAY = 46
QUALITY_BREAK_DAY = 51  # one day of a broken export (see the module docstring)
SLOW_DAY = 20  # one day of slow, failing requests
CORRELATION_DAY = 25  # one day of loan amounts attached to the wrong applicants
INCOME_LOAN_CORRELATION = 0.6  # between log income and log loan amount
LATENCY_MS = 120.0  # median request latency
ERROR_STATUSES = ("error", "timeout")
QUALITY_BREAK_NULL_SHARE = 0.9
DECISION_THRESHOLD = 0.25  # the lender flags an application when P(default) >= 0.25
REFERENCE_DAYS = 31  # the reference: the days just before day 1
LABEL_DELAY = dt.timedelta(days=7)

NUMERIC = ["income", "debt_to_income", "age", "loan_amount"]
CATEGORICAL = ["employment_type", "region"]
EMPLOYMENT = ["salaried", "self_employed", "unemployed", "retired", "student"]
EMPLOYMENT_P = np.array([0.62, 0.14, 0.06, 0.12, 0.06])
EMPLOYMENT_P_DRIFTED = np.array([0.40, 0.30, 0.16, 0.08, 0.06])
REGIONS = ["north", "south", "east", "west", "central"]
REGIONS_P = np.array([0.22, 0.25, 0.18, 0.20, 0.15])


def yesterday() -> dt.date:
    """The default last demo day: the UTC date of the run, minus one (the partitions' time zone)."""
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


@dataclass(frozen=True)
class DemoConfig:
    """The demo's size and its days: ``days`` scoring days ending on ``last_day`` (tests pin it)."""

    rows_per_day: int = 10_000
    days: int = 60
    reference_rows: int = 20_000
    seed: int = 7
    last_day: dt.date = field(default_factory=yesterday)

    def day(self, number: int) -> dt.date:
        """The date of day ``number`` (1 = the first scoring day; 0 and below: reference days)."""
        return self.last_day - dt.timedelta(days=self.days - number)

    @property
    def first_day(self) -> dt.date:
        return self.day(1)

    @property
    def reference_start(self) -> dt.date:
        return self.day(1 - REFERENCE_DAYS)

    @property
    def drift_start(self) -> dt.date:
        return self.day(DRIFT_DAY)

    @property
    def fairness_start(self) -> dt.date:
        return self.day(FAIRNESS_DAY)

    @property
    def concept_start(self) -> dt.date:
        return self.day(CONCEPT_DAY)

    @property
    def slow_day(self) -> dt.date:
        return self.day(SLOW_DAY)

    @property
    def correlation_break(self) -> dt.date:
        return self.day(CORRELATION_DAY)

    @property
    def quality_break(self) -> dt.date:
        return self.day(QUALITY_BREAK_DAY)

    @property
    def now(self) -> dt.datetime:
        """When the demo "runs" (noon of the day after the last day): later labels are not in the
        warehouse yet."""
        return dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time(12))


def _applicants(rng: np.random.Generator, n: int, drifted: bool) -> pd.DataFrame:
    age = rng.integers(18, 76, size=n)
    income_z = rng.standard_normal(size=n)
    income = np.exp(10.8 + 0.45 * income_z) * (0.65 if drifted else 1.0)
    dti = rng.beta(2.0, 5.0, size=n) + (0.12 if drifted else 0.0)
    rho = INCOME_LOAN_CORRELATION  # larger incomes ask for larger loans
    loan_z = rho * income_z + np.sqrt(1 - rho**2) * rng.standard_normal(size=n)
    loan = np.exp(9.3 + 0.5 * loan_z) * (1.5 if drifted else 1.0)
    employment = rng.choice(EMPLOYMENT, size=n, p=EMPLOYMENT_P_DRIFTED if drifted else EMPLOYMENT_P)
    region = rng.choice(REGIONS, size=n, p=REGIONS_P)
    sex = rng.choice(["F", "M"], size=n)
    age_band = pd.cut(age, [17, 29, 44, 59, 120], labels=["18-29", "30-44", "45-59", "60+"]).astype(str)
    return pd.DataFrame(
        {
            "income": income.round(2),
            "debt_to_income": dti.round(4),
            "age": age,
            "loan_amount": loan.round(2),
            "employment_type": employment,
            "region": region,
            "sex": sex,
            "age_band": age_band,
        }
    )


def _true_default(rng: np.random.Generator, df: pd.DataFrame, concept_drifted: np.ndarray | None = None) -> np.ndarray:
    """The ground truth: a logistic function of the applicant (what the model has to learn);
    rows flagged ``concept_drifted`` follow the changed relationship instead."""
    logit = (
        -2.2
        + 3.5 * (df["debt_to_income"] - 0.3)
        - 1.1 * (np.log(df["income"]) - 10.8)
        + 0.6 * (np.log(df["loan_amount"]) - 9.3)
        - 0.005 * (df["age"] - 45)
        + df["employment_type"]
        .map({"salaried": 0.0, "self_employed": 0.4, "unemployed": 1.2, "retired": 0.1, "student": 0.6})
        .to_numpy()
    )
    logit = np.asarray(logit, dtype=float)
    if concept_drifted is not None:
        changed = (
            -2.2
            + 0.8 * (df["debt_to_income"] - 0.3)
            - 0.2 * (np.log(df["income"]) - 10.8)
            + 1.6 * (np.log(df["loan_amount"]) - 9.3)
            + 1.8 * df["region"].isin(["south", "east"]).to_numpy()
            - 1.0
        ).to_numpy(dtype=float)
        logit = np.where(concept_drifted, changed, logit)
    p_default = 1 / (1 + np.exp(-logit))
    return np.asarray(rng.uniform(size=len(df)) < p_default, dtype=int)


def train_model(training: pd.DataFrame) -> Pipeline:
    """The demo's champion: the product's default pipeline (``resources.trainer``), the one its
    challengers are trained with."""
    model = default_model("binary_classification", CATEGORICAL)
    model.fit(training[NUMERIC + CATEGORICAL], training["defaulted"])
    return model


def _timestamps(rng: np.random.Generator, day: dt.date, n: int) -> pd.DatetimeIndex:
    seconds = np.sort(rng.integers(0, 86_400, size=n))
    return pd.Timestamp(day) + pd.to_timedelta(seconds, unit="s")


def generate(config: DemoConfig = DemoConfig()) -> dict[str, pd.DataFrame]:
    """All three tables, deterministic for a given config."""
    rng = np.random.default_rng(config.seed)
    per_day = config.reference_rows // REFERENCE_DAYS
    training = pd.concat(
        [
            _applicants(rng, per_day, drifted=False).assign(
                scored_at=_timestamps(rng, config.reference_start + dt.timedelta(days=i), per_day)
            )
            for i in range(REFERENCE_DAYS)
        ],
        ignore_index=True,
    )
    training["defaulted"] = _true_default(rng, training)
    model = train_model(training)
    # The reference needs the model's scores too (prediction drift compares them). Out-of-fold
    # scores look like scores on fresh data; in-sample ones would be over-confident.
    oof = cross_val_predict(
        default_model("binary_classification", CATEGORICAL),
        training[NUMERIC + CATEGORICAL],
        training["defaulted"],
        cv=5,
        method="predict_proba",
    )[:, 1]
    training["score"] = oof.round(6)
    training["predicted_label"] = (training["score"] >= DECISION_THRESHOLD).astype(int)

    days = []
    for i in range(config.days):
        day = config.first_day + dt.timedelta(days=i)
        df = _applicants(rng, config.rows_per_day, drifted=day >= config.drift_start)
        df["scored_at"] = _timestamps(rng, day, len(df))
        days.append(df)
    log = pd.concat(days, ignore_index=True)
    log.insert(0, "request_id", np.arange(1, len(log) + 1))
    day_of = log["scored_at"].dt.date
    defaulted = _true_default(rng, log, concept_drifted=(day_of >= config.concept_start).to_numpy())
    # The fairness regression corrupts what the model sees, after the truth was drawn.
    broken = ((day_of >= config.fairness_start) & (log["sex"] == "F")).to_numpy()
    log.loc[broken, "debt_to_income"] = (log.loc[broken, "debt_to_income"] + 0.3).round(4)
    log["score"] = model.predict_proba(log[NUMERIC + CATEGORICAL])[:, 1].round(6)
    log["predicted_label"] = (log["score"] >= DECISION_THRESHOLD).astype(int)
    log["model_version"] = "1"
    _break_pipeline(log, day_of == config.quality_break, np.random.default_rng(config.seed + 1))
    _serve(log, day_of == config.slow_day, np.random.default_rng(config.seed + 2))
    _break_join(log, day_of == config.correlation_break, np.random.default_rng(config.seed + 3))
    outcomes = pd.DataFrame(
        {
            "request_id": log["request_id"],
            "defaulted": defaulted,
            "labeled_at": log["scored_at"] + pd.Timedelta(LABEL_DELAY),
        }
    )
    outcomes = outcomes[outcomes["labeled_at"] < pd.Timestamp(config.now)].reset_index(drop=True)
    return {"training_data": training, "inference_log": log, "loan_outcomes": outcomes}


def _break_pipeline(log: pd.DataFrame, on_day: pd.Series, rng: np.random.Generator) -> None:
    """The export of the quality-break day (after scoring): most ``loan_amount`` values lost, one
    category value renamed. A separate generator, so no other value of the demo changes."""
    rows = np.flatnonzero(on_day.to_numpy())
    if not len(rows):
        return
    lost = rows[rng.uniform(size=len(rows)) < QUALITY_BREAK_NULL_SHARE]
    log["loan_amount"] = log["loan_amount"].astype("Float64")  # nullable: the lost values become SQL NULL
    log.loc[lost, "loan_amount"] = pd.NA
    renamed = rows[(log["employment_type"].to_numpy()[rows] == "self_employed")]
    log.loc[renamed, "employment_type"] = "self-employed"


def _serve(log: pd.DataFrame, slow: pd.Series, rng: np.random.Generator) -> None:
    """The service's own columns: ``latency_ms`` (log-normal around LATENCY_MS; tripled on the slow
    day) and ``status`` (``ok``, ``error``, ``timeout``; 3 % time out on the slow day). A separate
    generator, so no other value of the demo changes."""
    is_slow = slow.to_numpy()
    latency = LATENCY_MS * np.exp(0.35 * rng.standard_normal(len(log)))
    log["latency_ms"] = np.where(is_slow, 3 * latency, latency).round(1)
    u = rng.uniform(size=len(log))
    timeout = np.where(is_slow, 0.03, 0.002)
    log["status"] = np.where(u < timeout, "timeout", np.where(u < timeout + 0.005, "error", "ok"))


def _break_join(log: pd.DataFrame, on_day: pd.Series, rng: np.random.Generator) -> None:
    """The broken join of the correlation-break day: that day's loan amounts, permuted among its rows."""
    rows = np.flatnonzero(on_day.to_numpy())
    log.loc[rows, "loan_amount"] = log["loan_amount"].to_numpy()[rng.permutation(rows)]


def write_duckdb(tables: dict[str, pd.DataFrame], path: Path) -> None:
    """Replace the demo tables in the DuckDB file at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        for name, df in tables.items():
            con.register("frame", df)
            con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM frame')
            con.unregister("frame")
