"""Monitor specs: the documented example loads as written; bad specs fail on one line naming the
file, the field and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monitoring_assets.core.thresholds import CalibratedThreshold, ConstantThreshold
from monitoring_assets.errors import SpecError
from monitoring_assets.spec import drift_rules, load_spec, load_specs

# The example from the monitoring-core issue, verbatim.
EXAMPLE = """\
name: credit_default
description: Probability of default for consumer credit applications
source:
  table: inference_log            # schema-qualified names allowed: analytics.inference_log
  timestamp_column: scored_at
  id_column: request_id
  model_version_column: model_version
features:
  numeric: [income, debt_to_income, age, loan_amount]
  categorical: [employment_type, region]
prediction:
  task: binary_classification     # or regression
  score_column: score
  label_column: predicted_label
  threshold: 0.5
labels:                           # optional; omit table when labels sit in the source table
  table: loan_outcomes
  id_column: request_id
  label_column: defaulted
  arrived_at_column: labeled_at
slices: [sex, age_band]
reference:
  table: training_data            # or: window: {start: "2024-01-01", end: "2024-01-31"} on the source table
partitions:
  start_date: "2024-01-01"
  schedule: "0 3 * * *"
drift:
  drift_share: 0.5
  methods: {numeric: wasserstein, categorical: jensenshannon}
  thresholds: {wasserstein: 0.1, jensenshannon: 0.1, psi: 0.2}
  features:
    income: {method: psi, threshold: 0.25}
model:
  registry_name: credit_default
"""


def _write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _mutate(tmp_path: Path, change: dict[str, object], drop: tuple[str, ...] = ()) -> Path:
    data = yaml.safe_load(EXAMPLE)
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        node = data
        for p in parents:
            node = node[p]
        node[leaf] = value
    for dotted in drop:
        *parents, leaf = dotted.split(".")
        node = data
        for p in parents:
            node = node[p]
        del node[leaf]
    return _write(tmp_path, yaml.safe_dump(data))


def test_issue_example_loads_as_written(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, EXAMPLE))
    assert spec.name == "credit_default"
    assert spec.source.table == "inference_log"
    assert spec.reference.table == "training_data"
    assert spec.labels is not None and spec.labels.arrived_at_column == "labeled_at"
    assert spec.slices == ["sex", "age_band"]
    rules = drift_rules(spec)
    assert list(rules) == ["income", "debt_to_income", "age", "loan_amount", "score", "employment_type", "region"]
    assert (rules["income"].method, rules["income"].threshold) == ("psi", ConstantThreshold(0.25))
    assert (rules["age"].method, rules["age"].threshold) == ("wasserstein", ConstantThreshold(0.1))
    assert (rules["region"].method, rules["region"].threshold) == ("jensenshannon", ConstantThreshold(0.1))


def test_repo_specs_load() -> None:
    specs = load_specs(Path(__file__).resolve().parent.parent / "monitors")
    assert [s.name for s in specs] == ["credit_default"]


def test_the_columns_of_a_spec() -> None:
    (spec,) = load_specs(Path(__file__).resolve().parent.parent / "monitors")
    raw = yaml.safe_load((Path(__file__).resolve().parent.parent / "monitors" / "credit_default.yaml").read_text())
    numeric, categorical = raw["features"]["numeric"], raw["features"]["categorical"]
    # The model's inputs, as a trainer fits on them; the profiles add the score and the slices.
    assert spec.feature_columns == [*numeric, *categorical]
    assert spec.numeric_columns == [*numeric, raw["prediction"]["score_column"]]
    assert spec.profiled_categorical_columns == [*categorical, *(s for s in raw["slices"] if s not in categorical)]
    assert spec.profiled_columns == [
        *numeric,
        raw["prediction"]["score_column"],
        *categorical,
        *(s for s in raw["slices"] if s not in categorical),
    ]


@pytest.mark.parametrize(
    ("change", "drop", "field", "reason"),
    [
        ({"source.colour": "red"}, (), "source.colour", "unknown key"),
        ({}, ("source.timestamp_column",), "source.timestamp_column", "Field required"),
        ({"prediction.threshold": "high"}, (), "prediction.threshold", "valid number"),
        ({"drift.methods": {"numeric": "magic"}}, (), "drift.methods.numeric", "'psi'"),
        ({"drift.methods": {"numeric": "chisquare"}}, (), "drift.methods.numeric", "does not apply to numeric"),
        ({"features.numeric": ['x"; DROP TABLE t; --']}, (), "features.numeric.0", "not a plain identifier"),
        ({"source.table": "a.b.c.d"}, (), "source.table", "schema.table"),
        ({"drift.features": {"nope": {"method": "psi"}}}, (), "drift.features.nope", "not a declared feature"),
        (
            {"reference": {"table": "t", "window": {"start": "2024-01-01", "end": "2024-01-02"}}},
            (),
            "reference",
            "exactly one",
        ),
        ({"partitions.schedule": "daily"}, (), "partitions", "cron"),
        (
            {"drift.thresholds": {"chisquare": {"type": "calibrated"}}},
            (),
            "drift.thresholds.chisquare",
            "cannot be calibrated",
        ),
    ],
)
def test_bad_spec_fails_on_one_line_with_file_field_and_reason(
    tmp_path: Path, change: dict[str, object], drop: tuple[str, ...], field: str, reason: str
) -> None:
    path = _mutate(tmp_path, change, drop)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert field in message and reason in message, message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nsource: [unclosed\n")
    with pytest.raises(SpecError, match=r"m\.yaml: line \d+ not valid YAML"):
        load_spec(path)


def test_duplicate_monitor_names_are_rejected(tmp_path: Path) -> None:
    _write(tmp_path, EXAMPLE, "a.yaml")
    _write(tmp_path, EXAMPLE, "b.yaml")
    with pytest.raises(SpecError, match="already defined"):
        load_specs(tmp_path)


def test_calibrated_threshold_is_parsed_into_an_object(tmp_path: Path) -> None:
    path = _mutate(tmp_path, {"drift.thresholds": {"wasserstein": {"type": "calibrated", "k": 2.5}}})
    rules = drift_rules(load_spec(path))
    assert rules["age"].threshold == CalibratedThreshold(k=2.5)


def test_spec_hash_changes_with_content(tmp_path: Path) -> None:
    a = load_spec(_write(tmp_path, EXAMPLE))
    b = load_spec(_mutate(tmp_path, {"drift.drift_share": 0.6}))
    assert a.spec_hash() != b.spec_hash()
    assert a.spec_hash() == load_spec(_write(tmp_path, EXAMPLE, "again.yaml")).spec_hash()
