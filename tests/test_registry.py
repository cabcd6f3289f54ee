"""ModelRegistry against real MLflow stores: one temporary SQLite store for the module (opening it
runs MLflow's migrations, about 2 s) and a throwaway PostgreSQL database once. Every assertion
reads MLflow back through its own client (``reader``), never through the adapter under test."""

from __future__ import annotations

import functools
import os
import time
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from monitoring_assets.errors import RegistryError
from monitoring_assets.resources import RegistryResource
from resources.registry import (
    CHALLENGER,
    CHAMPION,
    EVENT_TAG,
    PREVIOUS_CHAMPION,
    ModelRegistry,
    RegisteredVersion,
    _pip_requirements,
    mask_uri,
)

pytestmark = [
    # mlflow.store.*.sqlalchemy_store, at import: MLflow 3.17's models use the `noload` loader
    # strategy that SQLAlchemy 2.1 deprecates. Nothing we call can avoid it.
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
    ),
    # mlflow.types.responses, at import of mlflow.pyfunc (which mlflow.sklearn imports): MLflow
    # infers a schema from its own `Any` type hints and warns about itself.
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
    # The tests build on one store in order (a version the first registers, later ones promote):
    # under `make test` (pytest-xdist, --dist loadgroup) they stay on one worker, in file order.
    pytest.mark.xdist_group("registry"),
]

NAME = "credit_default"
FEATURES = ["x", "y", "c"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 300
    c = rng.choice(["north", "south", "east"], n)
    x = rng.normal(0, 1, n)
    y = rng.exponential(2.0, n)
    logit = 1.5 * x - 0.4 * y + (c == "north") * 1.0
    label = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x": x, "y": y, "c": c, "label": label})


def _logistic(frame: pd.DataFrame) -> Pipeline:
    encode = make_column_transformer((StandardScaler(), ["x", "y"]), (OneHotEncoder(), ["c"]))
    return make_pipeline(encode, LogisticRegression()).fit(frame[FEATURES], frame["label"])


def _boosting(frame: pd.DataFrame) -> Pipeline:
    encode = make_column_transformer(("passthrough", ["x", "y"]), (OrdinalEncoder(), ["c"]))
    model = HistGradientBoostingClassifier(max_iter=20, categorical_features=[2], random_state=0)
    return make_pipeline(encode, model).fit(frame[FEATURES], frame["label"])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A SQLite tracking URI (in a directory that does not exist yet) and an artifact root."""
    root = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{root / 'db' / 'mlflow.db'}", root / "artifacts"


@pytest.fixture(scope="module")
def registry(store: tuple[str, Path]) -> ModelRegistry:
    uri, artifacts = store
    return ModelRegistry(uri, artifact_root=str(artifacts))


@pytest.fixture(scope="module")
def reader(store: tuple[str, Path], registry: ModelRegistry) -> MlflowClient:
    """MLflow's own client on the same store: the independent reader."""
    return MlflowClient(tracking_uri=store[0], registry_uri=store[0])


@pytest.fixture(scope="module")
def logistic(frame: pd.DataFrame) -> Pipeline:
    return _logistic(frame)


@pytest.fixture(scope="module")
def first(registry: ModelRegistry, frame: pd.DataFrame, logistic: Pipeline) -> RegisteredVersion:
    """Version 1 of NAME: a run with params, metrics and tags, registered for event evt-1."""
    run_id = registry.start_run(f"monitoring/{NAME}", run_name="retrain", tags={"monitoring.trigger": "drift"})
    registry.log(
        run_id,
        params={"C": 1.0, "window": "2024-01-01..2024-01-31"},
        metrics={"challenger_auc": 0.81, "champion_auc": float("nan")},
        tags={"dagster.run_id": "r-1"},
    )
    registered = registry.register(
        run_id,
        model=logistic,
        registry_name=NAME,
        # y as integers (like an age column): the signature must still say double (see below).
        input_example=frame[FEATURES].head(5).assign(y=lambda d: d["y"].round().astype("int64")),
        version_tags={"monitoring.window": "2024-01-01..2024-01-31"},
        event_id="evt-1",
        alias=CHALLENGER,
    )
    registry.end_run(run_id)
    return registered


def test_register_creates_a_version_with_alias_and_tags(first: RegisteredVersion, reader: MlflowClient) -> None:
    assert first == RegisteredVersion(NAME, 1, first.run_id, created=True)
    version = reader.get_model_version_by_alias(NAME, CHALLENGER)
    assert int(version.version) == 1
    assert version.run_id == first.run_id
    assert version.tags == {"monitoring.window": "2024-01-01..2024-01-31", EVENT_TAG: "evt-1"}


def test_registering_the_same_event_again_reuses_its_version(
    registry: ModelRegistry, reader: MlflowClient, first: RegisteredVersion, frame: pd.DataFrame
) -> None:
    before = len(reader.search_model_versions(f"name = '{NAME}'"))
    reader.delete_registered_model_alias(NAME, CHALLENGER)  # e.g. moved away since
    again = registry.register(
        first.run_id,
        model=_boosting(frame),  # a retried run trains again; the event's version still wins
        registry_name=NAME,
        input_example=frame[FEATURES].head(5),
        version_tags={},
        event_id="evt-1",
        alias=CHALLENGER,
    )
    assert again == RegisteredVersion(NAME, first.version, first.run_id, created=False)
    versions = reader.search_model_versions(f"name = '{NAME}'")
    assert len(versions) == before
    assert [int(v.version) for v in versions if v.tags.get(EVENT_TAG) == "evt-1"] == [first.version]
    assert int(reader.get_model_version_by_alias(NAME, CHALLENGER).version) == first.version
    assert registry.version_for_event(NAME, "evt-1") == first.version
    assert registry.version_for_event(NAME, "evt-unknown") is None


def test_a_failed_registration_moves_no_alias(
    registry: ModelRegistry, reader: MlflowClient, first: RegisteredVersion, logistic: Pipeline, frame: pd.DataFrame
) -> None:
    before = len(reader.search_model_versions(f"name = '{NAME}'"))
    aliases = reader.get_registered_model(NAME).aliases
    with pytest.raises(RegistryError, match=f"the model for {NAME} cannot score its input example"):
        registry.register(
            first.run_id,
            model=logistic,
            registry_name=NAME,
            input_example=frame[["x", "y"]].head(5),  # column c missing
            version_tags={},
            event_id="evt-broken",
            alias=CHALLENGER,
        )
    assert len(reader.search_model_versions(f"name = '{NAME}'")) == before
    assert reader.get_registered_model(NAME).aliases == aliases


def test_logged_model_has_a_signature_and_an_input_example(
    first: RegisteredVersion, store: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store[0])  # get_model_info reads the global URIs
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", store[0])
    info = mlflow.models.get_model_info(f"models:/{NAME}/{first.version}")
    assert info.signature is not None
    assert info.signature.inputs.to_dict() == [
        {"type": "double", "name": "x", "required": True},
        {"type": "double", "name": "y", "required": True},  # an integer example: a day with a null is float
        {"type": "string", "name": "c", "required": True},
    ]
    # predict_proba of a binary classifier: two float columns, and the pyfunc serves the same.
    assert info.signature.outputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": (-1, 2)}}
    ]
    assert info.flavors["python_function"]["predict_fn"] == "predict_proba"
    assert info.saved_input_example_info is not None
    assert info.saved_input_example_info["type"] == "dataframe"
    assert info.run_id == first.run_id


def test_load_model_predicts_like_the_original(
    registry: ModelRegistry, first: RegisteredVersion, logistic: Pipeline, frame: pd.DataFrame
) -> None:
    environ = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    global_uri = mlflow.get_tracking_uri()
    rows = frame[FEATURES]
    for ref in (first.version, str(first.version)):
        loaded = registry.load_model(NAME, ref)
        np.testing.assert_array_equal(loaded.predict_proba(rows), logistic.predict_proba(rows))
    # MLflow's process-wide URIs are back as they were.
    assert {k: os.environ.get(k) for k in environ} == environ
    assert mlflow.get_tracking_uri() == global_uri


def test_load_model_by_alias(registry: ModelRegistry, reader: MlflowClient, first: RegisteredVersion) -> None:
    reader.set_registered_model_alias(NAME, "pinned", str(first.version))
    loaded = registry.load_model(NAME, "pinned")
    assert type(loaded).__name__ == "Pipeline"


def test_run_records_params_metrics_and_tags(first: RegisteredVersion, reader: MlflowClient) -> None:
    run = reader.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "retrain"
    assert run.data.params == {"C": "1.0", "window": "2024-01-01..2024-01-31"}
    assert run.data.metrics == {"challenger_auc": 0.81}  # the NaN metric is skipped
    assert run.data.tags["monitoring.trigger"] == "drift"
    assert run.data.tags["dagster.run_id"] == "r-1"


def test_artifacts_live_under_the_artifact_root(
    first: RegisteredVersion, reader: MlflowClient, store: tuple[str, Path]
) -> None:
    experiment = reader.get_experiment(reader.get_run(first.run_id).info.experiment_id)
    assert experiment.name == f"monitoring/{NAME}"
    assert Path(experiment.artifact_location) == store[1] / "monitoring_credit_default"
    source = reader.get_model_version_download_uri(NAME, str(first.version))
    assert (Path(source) / "MLmodel").is_file()
    assert Path(source).is_relative_to(store[1])


def test_the_logged_model_pins_what_it_loads_with(first: RegisteredVersion, reader: MlflowClient) -> None:
    """register() names the requirements itself rather than MLflow inferring them (which loads the
    model in a new Python process, seconds per model): the installed versions of the base
    distributions and of whatever else the model's pickle refers to."""
    source = Path(reader.get_model_version_download_uri(NAME, str(first.version)))
    base = [f"{name}=={metadata.version(name)}" for name in ("scikit-learn", "cloudpickle", "numpy", "scipy", "pandas")]
    # MLflow adds its own pin; nothing else (its inference would add rich, which MLflow imports).
    assert (source / "requirements.txt").read_text().split() == [f"mlflow=={metadata.version('mlflow')}", *base]
    # A function of another distribution is pinned too; a standard-library one (functools) is not.
    model = make_pipeline(FunctionTransformer(yaml.safe_dump), FunctionTransformer(functools.partial(round)))
    assert _pip_requirements(model) == [*base, f"PyYAML=={metadata.version('PyYAML')}"]


def _versions(reader: MlflowClient, name: str, n: int, source: str) -> None:
    """``n`` versions of a new registered model; alias bookkeeping does not need real models."""
    reader.create_registered_model(name)
    for _ in range(n):
        reader.create_model_version(name, source=source)


def _aliases(reader: MlflowClient, name: str) -> dict[str, int]:
    return {alias: int(v) for alias, v in reader.get_registered_model(name).aliases.items()}


def test_promote_moves_aliases_and_rollback_goes_back_one_step(
    registry: ModelRegistry, reader: MlflowClient, first: RegisteredVersion
) -> None:
    name = "aliases_model"
    _versions(reader, name, 3, reader.get_model_version_download_uri(NAME, str(first.version)))

    assert registry.promote(name, 1) is None
    assert _aliases(reader, name) == {CHAMPION: 1}

    reader.set_registered_model_alias(name, CHALLENGER, "2")
    assert registry.promote(name, 2) == 1
    assert _aliases(reader, name) == {CHAMPION: 2, PREVIOUS_CHAMPION: 1}  # challenger dropped

    reader.set_registered_model_alias(name, CHALLENGER, "3")
    assert registry.promote(name, 2) == 2  # promoting the champion again changes nothing...
    assert _aliases(reader, name) == {CHAMPION: 2, PREVIOUS_CHAMPION: 1, CHALLENGER: 3}  # ...nor another challenger

    assert registry.rollback(name) == (2, 1)
    assert _aliases(reader, name) == {CHAMPION: 1, CHALLENGER: 3}
    with pytest.raises(RegistryError, match="no 'previous_champion' alias"):
        registry.rollback(name)
    assert _aliases(reader, name) == {CHAMPION: 1, CHALLENGER: 3}


def test_rollback_without_previous_champion_raises(registry: ModelRegistry) -> None:
    with pytest.raises(RegistryError, match="cannot roll back never_registered"):
        registry.rollback("never_registered")


def test_aliases_and_tags(registry: ModelRegistry, reader: MlflowClient, first: RegisteredVersion) -> None:
    assert registry.alias_version(NAME, "no_such_alias") is None
    assert registry.alias_version("never_registered", CHAMPION) is None
    registry.set_alias(NAME, "audit", first.version)
    assert int(reader.get_model_version_by_alias(NAME, "audit").version) == first.version
    assert registry.alias_version(NAME, "audit") == first.version
    registry.delete_alias(NAME, "audit")
    assert "audit" not in reader.get_registered_model(NAME).aliases

    reader.set_model_version_tag(NAME, str(first.version), "monitoring.decision", "kept")
    assert registry.version_tags(NAME, first.version)["monitoring.decision"] == "kept"


def test_delete_registered_model(registry: ModelRegistry, reader: MlflowClient, first: RegisteredVersion) -> None:
    _versions(reader, "doomed", 1, reader.get_model_version_download_uri(NAME, str(first.version)))
    assert registry.delete_registered_model("doomed") is True
    assert reader.search_registered_models("name = 'doomed'") == []
    assert registry.delete_registered_model("doomed") is False


def test_mlflow_errors_become_registry_errors_naming_the_store(
    registry: ModelRegistry, store: tuple[str, Path]
) -> None:
    with pytest.raises(RegistryError, match=f"MLflow at {store[0]} failed while pointing {NAME}@audit at version 99"):
        registry.set_alias(NAME, "audit", 99)


def test_unreachable_server_fails_fast_naming_the_masked_uri(
    monkeypatch: pytest.MonkeyPatch, frame: pd.DataFrame, logistic: Pipeline
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    start = time.monotonic()
    registry = ModelRegistry("http://ops:hunter2@127.0.0.1:9")  # port 9 (discard): nothing listens
    with pytest.raises(RegistryError) as caught:
        registry.register(
            "0" * 32,
            model=logistic,
            registry_name=NAME,
            input_example=frame[FEATURES].head(5),
            version_tags={},
            event_id="evt-1",
            alias=CHALLENGER,
        )
    message = str(caught.value)
    assert message.startswith(f"MLflow at http://ops:***@127.0.0.1:9 is unreachable while registering {NAME}: ")
    assert "hunter2" not in message
    with pytest.raises(RegistryError, match="unreachable while opening experiment monitoring/x"):
        registry.start_run("monitoring/x", run_name="r")
    assert time.monotonic() - start < 10


def test_unreachable_database_fails_fast_naming_the_masked_uri() -> None:
    # MLflow alone would retry for about 100 s before giving up.
    start = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        ModelRegistry("postgresql+psycopg2://bob:s3cret@127.0.0.1:1/nowhere")
    message = str(caught.value)
    assert message.startswith("MLflow at postgresql+psycopg2://bob:***@127.0.0.1:1/nowhere failed while connecting: ")
    assert "Connection refused" in message
    assert "s3cret" not in message
    assert time.monotonic() - start < 10


def test_mask_uri() -> None:
    assert mask_uri("postgresql+psycopg2://bob:s3cret@db:5432/mlflow") == "postgresql+psycopg2://bob:***@db:5432/mlflow"
    assert mask_uri("https://mlflow.internal/") == "https://mlflow.internal/"
    assert mask_uri("sqlite:///mlruns/mlflow.db") == "sqlite:///mlruns/mlflow.db"


def test_resource_opens_a_registry_on_its_store(store: tuple[str, Path], registry: ModelRegistry) -> None:
    resource = RegistryResource(tracking_uri=store[0], artifact_root=str(store[1]))
    with resource.open() as opened:
        assert (opened.tracking_uri, opened.registry_uri, opened.artifact_root) == (
            store[0],
            store[0],
            str(store[1]),
        )
        assert opened.alias_version(NAME, CHALLENGER) == 1


# -- PostgreSQL backend store ------------------------------------------------------------------


@pytest.mark.postgres
def test_register_and_promote_on_postgres(pg_mlflow_url: str, tmp_path: Path, frame: pd.DataFrame) -> None:
    registry = ModelRegistry(pg_mlflow_url, artifact_root=str(tmp_path / "artifacts"))
    reader = MlflowClient(tracking_uri=pg_mlflow_url, registry_uri=pg_mlflow_url)
    model = _boosting(frame)
    run_id = registry.start_run(f"monitoring/{NAME}", run_name="retrain", tags={})
    registry.log(run_id, metrics={"challenger_auc": 0.8})
    registered = registry.register(
        run_id,
        model=model,
        registry_name=NAME,
        input_example=frame[FEATURES].head(5),
        version_tags={},
        event_id="evt-pg",
        alias=CHALLENGER,
    )
    registry.end_run(run_id)
    assert registered == RegisteredVersion(NAME, 1, run_id, created=True)
    assert registry.promote(NAME, registered.version) is None
    assert _aliases(reader, NAME) == {CHAMPION: 1}
    assert reader.get_model_version(NAME, "1").tags == {EVENT_TAG: "evt-pg"}
    loaded = registry.load_model(NAME, CHAMPION)
    rows = frame[FEATURES]
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))
