"""The MLflow adapter: runs, model versions and the champion / challenger aliases.

``ModelRegistry`` does the work over one tracking (and registry) URI; ``RegistryResource`` is the
Dagster resource that configures it. MLflow 3 aliases only, never stages: ``challenger`` is a
freshly trained candidate, ``champion`` the model in production, ``previous_champion`` the one
it replaced (kept for one-step rollback). Every MLflow or connection failure surfaces as
``RegistryError`` naming the URI with any password masked.
"""

from __future__ import annotations

import functools
import io
import math
import os
import pickle
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import mlflow
import pandas as pd
import sqlalchemy as sa
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking._model_registry import utils as _registry_globals
from mlflow.tracking._tracking_service import utils as _tracking_globals
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from monitoring_assets.errors import RegistryError

# The names and value types that need no MLflow live there, so that the code location can import
# them without loading MLflow; this module re-exports them (__all__).
from resources._registry_types import (
    CHALLENGER,
    CHAMPION,
    DEFAULT_ARTIFACT_ROOT,
    DEFAULT_TRACKING_URI,
    EVENT_TAG,
    PREVIOUS_CHAMPION,
    TRACKING_URI_ENV,
    HttpLimits,
    RegisteredVersion,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DEFAULT_ARTIFACT_ROOT",
    "DEFAULT_TRACKING_URI",
    "EVENT_TAG",
    "PREVIOUS_CHAMPION",
    "TRACKING_URI_ENV",
    "HttpLimits",
    "ModelRegistry",
    "RegisteredVersion",
    "mask_uri",
]

_MODEL_NAME = "model"  # the logged model's name inside its run
_SERVER_SCHEMES = ("http", "https", "databricks")  # a tracking server places artifacts itself
_FAILURES = (MlflowException, SQLAlchemyError, OSError)  # OSError covers requests' errors
_GLOBALS_LOCK = threading.Lock()
_DEFAULT_HTTP = HttpLimits()


def mask_uri(uri: str) -> str:
    """``uri`` with any password replaced by ``***`` (for messages, logs and metadata)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _network_error(error: BaseException) -> BaseException | None:
    """The innermost network failure of the chain (the socket's own error), or None."""
    found = None
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionError | TimeoutError | socket.gaierror):
            found = seen
        seen = seen.__cause__ or seen.__context__
    return found


def _probe(uri: str) -> None:
    """Open one plain connection to a database backend store.

    MLflow retries a database it cannot reach 10 times with backoff (about 100 s, hard-coded in
    mlflow.store.db.utils); this fails in seconds instead, with the driver's own reason.
    """
    dialect = urlsplit(uri).scheme.split("+")[0]
    if dialect not in ("postgresql", "mysql"):
        return
    engine = sa.create_engine(uri, poolclass=NullPool, connect_args={"connect_timeout": 10})
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


# Always pinned: the flavor's own (scikit-learn, and cloudpickle, the format we save in), and what
# scikit-learn and MLflow's pyfunc load with (numpy, scipy, pandas). MLflow's own inference named
# exactly these for the default trainer's model (plus rich, which MLflow itself imports).
_BASE_REQUIREMENTS = ("scikit-learn", "cloudpickle", "numpy", "scipy", "pandas")


def _pip_requirements(model: object) -> list[str]:
    """Pinned pip requirements of ``model``: the base ones and the installed distribution of
    every top-level module its pickle refers to (a user trainer's LightGBM, say).

    Given to ``log_model`` so that MLflow skips ``infer_pip_requirements``, which saves the model,
    then loads it in a fresh Python process to record what gets imported: 2 to 4 s per logged
    model, most of a retraining run's registration. Unpickling here finds every class the model
    needs to load, in milliseconds; MLflow adds its own pin (mlflow==...) to the list.
    """
    import cloudpickle  # noqa: PLC0415 - MLflow's dependency, loaded with mlflow.sklearn

    modules: set[str] = set()

    class _Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            modules.add(module.partition(".")[0])
            return super().find_class(module, name)

    _Recorder(io.BytesIO(cloudpickle.dumps(model))).load()
    names = list(_BASE_REQUIREMENTS)
    for module in sorted(modules - set(sys.stdlib_module_names)):
        names += _module_distributions().get(module, [])
    # One pin per distribution however its metadata spells it (scikit_learn, Scikit-Learn).
    distributions: dict[str, str] = {}
    for name in names:
        distributions.setdefault(re.sub(r"[-_.]+", "-", name).lower(), name)
    pins = []
    for name in distributions.values():
        try:
            # A local version label (1.2+cpu) is no release pip could install: the public part.
            pins.append(f"{name}=={metadata.version(name).partition('+')[0]}")
        except metadata.PackageNotFoundError:
            continue  # a module of no installed distribution (the user's own code): nothing to pin
    return pins


@functools.cache
def _module_distributions() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()  # ~0.2 s: it reads every installed distribution


@contextmanager
def _mlflow_globals(tracking_uri: str, registry_uri: str) -> Iterator[None]:
    """Point MLflow's process-wide URIs at ours for the duration, then restore them exactly.

    MLflow 3.17's ``log_model``/``load_model`` take no client, and its SQL registry resolves a
    ``models:/<model_id>`` source through the global tracking URI (a TODO in its code), so those
    calls need the globals. Restoring reads MLflow's private module state because the public
    getters return resolved defaults, and the setters also write the environment variables.
    """
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    with _GLOBALS_LOCK:
        environ = {name: os.environ.get(name) for name in names}
        tracking, registry = _tracking_globals._tracking_uri, _registry_globals._registry_uri
        try:
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_registry_uri(registry_uri)
            yield
        finally:
            # None is MLflow's own "not set" state (its setters accept it at runtime).
            mlflow.set_tracking_uri(tracking)  # type: ignore[arg-type]
            mlflow.set_registry_uri(registry)  # type: ignore[arg-type]
            for name, value in environ.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class ModelRegistry:
    """Runs, model versions and aliases over one MLflow tracking URI (SQLite, PostgreSQL, server).

    ``registry_uri`` defaults to the tracking URI. ``artifact_root`` is where experiments created
    here keep artifacts when MLflow has no server (a SQL store); a server decides for itself.
    """

    def __init__(
        self,
        tracking_uri: str,
        registry_uri: str | None = None,
        artifact_root: str | None = None,
        http: HttpLimits = _DEFAULT_HTTP,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.artifact_root = artifact_root
        # Process-wide, and only what the user left unset: MLflow has no per-client setting.
        self.http = http.apply()
        for uri in {self.tracking_uri, self.registry_uri}:
            if uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
                Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # A SQL store opens (and on first use migrates, about 2 s) here; a server is not contacted.
        with self._failing("connecting"):
            for uri in {self.tracking_uri, self.registry_uri}:
                _probe(uri)
            self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)

    @property
    def safe_uri(self) -> str:
        """The tracking URI with any password masked."""
        return mask_uri(self.tracking_uri)

    @contextmanager
    def _failing(self, doing: str) -> Iterator[None]:
        """MLflow, SQL and connection errors become RegistryError naming the masked URI.

        ``from None``: the original exception (MLflow quotes request URLs whole, password included)
        must not ride along as the cause, which Dagster stores with the step's failure. Its class
        and its message, scrubbed, are kept in the text instead.
        """
        try:
            yield
        except _FAILURES as e:
            raise RegistryError(self._failure_text(doing, e)) from None

    def _failure_text(self, doing: str, error: BaseException) -> str:
        network = _network_error(error)
        if network is None:
            return f"MLflow at {self.safe_uri} failed while {doing}: {self.scrub(f'{type(error).__name__}: {error}')}"
        # The socket's reason says it all; MLflow's own text repeats the request URL and urllib3's.
        detail = self.scrub(f"{type(network).__name__}: {network}")
        if urlsplit(self.tracking_uri).scheme in _SERVER_SCHEMES:
            check = (
                "check that the tracking server runs and that MLFLOW_TRACKING_URI names it "
                f"(gave up after {self.http['MLFLOW_HTTP_REQUEST_MAX_RETRIES']} retries, "
                f"{self.http['MLFLOW_HTTP_REQUEST_TIMEOUT']} s timeout: MLFLOW_HTTP_REQUEST_* in README)"
            )
        else:
            check = "check that the backend store's database runs and that MLFLOW_TRACKING_URI names it"
        # The hint goes last: the first words name the store and the step, as they always have.
        return f"MLflow at {self.safe_uri} is unreachable while {doing}: {detail}. To fix: {check}"

    def scrub(self, text: str) -> str:
        """``text`` without the URIs' passwords (as written in the URI and decoded)."""
        for uri in (self.tracking_uri, self.registry_uri):
            if password := urlsplit(uri).password:
                for form in {password, unquote(password)}:
                    text = text.replace(form, "***")
        return text

    # -- tracking ----------------------------------------------------------------------------

    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created (or restored from the trash) when needed."""
        with self._failing(f"opening experiment {name}"):
            found = self.client.get_experiment_by_name(name)
            if found is not None:
                if found.lifecycle_stage == "deleted":
                    self.client.restore_experiment(found.experiment_id)
                return str(found.experiment_id)
            try:
                return str(self.client.create_experiment(name, artifact_location=self._artifact_location(name)))
            except MlflowException as e:
                if e.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                # Another process created it between our lookup and create.
                again = self.client.get_experiment_by_name(name)
                assert again is not None
                return str(again.experiment_id)

    def _artifact_location(self, experiment: str) -> str | None:
        if self.artifact_root is None or urlsplit(self.tracking_uri).scheme in _SERVER_SCHEMES:
            return None
        folder = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment).strip("_") or "experiment"
        if "://" in self.artifact_root:  # s3://bucket/prefix and the like
            return f"{self.artifact_root.rstrip('/')}/{folder}"
        # Absolute: MLflow would otherwise resolve a relative path against a later cwd.
        return str(Path(self.artifact_root).resolve() / folder)

    def start_run(self, experiment: str, run_name: str, tags: Mapping[str, str] | None = None) -> str:
        """Create a run (status RUNNING) in ``experiment`` and return its id; end it with ``end_run``."""
        experiment_id = self.experiment_id(experiment)
        with self._failing(f"starting run {run_name} in {experiment}"):
            run = self.client.create_run(experiment_id, run_name=run_name, tags=dict(tags or {}))
        return str(run.info.run_id)

    def log(
        self,
        run_id: str,
        *,
        params: Mapping[str, object] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Log params (as strings), metrics (step 0; NaN skipped: it means "not computable") and
        tags to a run in one request."""
        now = int(time.time() * 1000)
        batch_metrics = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if not math.isnan(v)]
        batch_params = [Param(k, str(v)) for k, v in (params or {}).items()]
        batch_tags = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        with self._failing(f"logging to run {run_id}"):
            self.client.log_batch(run_id, metrics=batch_metrics, params=batch_params, tags=batch_tags)

    def describe_version(self, name: str, version: int, description: str) -> None:
        with self._failing(f"describing {name} version {version}"):
            self.client.update_model_version(name, str(version), description=description)

    def run_experiment_id(self, run_id: str) -> str:
        with self._failing(f"reading run {run_id}"):
            return str(self.client.get_run(run_id).info.experiment_id)

    def log_artifact(self, run_id: str, path: Path, artifact_path: str) -> str:
        """Upload the file ``path`` into the run's ``artifact_path`` folder; returns its path in the run."""
        with self._failing(f"logging artifact {path.name} to run {run_id}"):
            self.client.log_artifact(run_id, str(path), artifact_path)
        return f"{artifact_path}/{path.name}"

    def end_run(self, run_id: str, status: Literal["FINISHED", "FAILED", "KILLED"] = "FINISHED") -> None:
        with self._failing(f"ending run {run_id}"):
            self.client.set_terminated(run_id, status)

    # -- registry ----------------------------------------------------------------------------

    def register(
        self,
        run_id: str,
        *,
        model: Any,
        registry_name: str,
        input_example: pd.DataFrame,
        version_tags: Mapping[str, str] | None = None,
        event_id: str | None = None,
        alias: str | None = CHALLENGER,
    ) -> RegisteredVersion:
        """Log a fitted scikit-learn ``model`` to the run and register it as a new version of
        ``registry_name``, pointing ``alias`` at it.

        Idempotent per trigger event: when a version already carries ``EVENT_TAG == event_id``
        (a retried run), that version is returned (``created=False``) and the alias re-pointed;
        nothing is logged. The signature is inferred from ``input_example`` and what the model
        serves: ``predict_proba`` for a classifier (its pyfunc serves probabilities too), else
        ``predict``. The version is created with its tags (event tag included) in one call and the
        alias is set last, so a failure never leaves an alias on a half-registered version.
        """
        import mlflow.sklearn  # noqa: PLC0415 - loads the pyfunc stack (seconds): only when needed
        from sklearn.base import is_classifier  # noqa: PLC0415

        with self._failing(f"registering {registry_name}"):
            if event_id is not None and (existing := self._version_for_event(registry_name, event_id)) is not None:
                if alias is not None:
                    self.client.set_registered_model_alias(registry_name, alias, str(existing))
                found = self.client.get_model_version(registry_name, str(existing))
                return RegisteredVersion(registry_name, existing, str(found.run_id), created=False)

            # Object column labels: MLflow compares them with a range(), which pandas 3 deprecates
            # for its str-dtype labels (a Pandas4Warning on every registration otherwise).
            example = input_example.copy()
            example.columns = pd.Index(list(example.columns), dtype=object)
            # Integer features become doubles in the signature: a day with a missing value arrives
            # as a float column, and an integer signature would reject it when the model is served.
            ints = example.select_dtypes("integer").columns
            example[ints] = example[ints].astype("float64")
            proba = is_classifier(model) and hasattr(model, "predict_proba")
            try:
                served = model.predict_proba(example) if proba else model.predict(example)
                signature = mlflow.models.infer_signature(example, served)
            except Exception as e:
                # Only the class: a model's error may quote the example's values.
                raise RegistryError(
                    f"the model for {registry_name} cannot score its input example ({type(e).__name__}); "
                    "check that the trainer's model takes the spec's feature columns"
                ) from None
            tags = {**(version_tags or {}), **({EVENT_TAG: event_id} if event_id is not None else {})}

            # Created here so the logged model lands in the run's experiment (without an active
            # run, log_model would put it in the default experiment).
            experiment_id = self.client.get_run(run_id).info.experiment_id
            logged = self.client.create_logged_model(experiment_id, name=_MODEL_NAME, source_run_id=run_id)
            with _mlflow_globals(self.tracking_uri, self.registry_uri):
                info = mlflow.sklearn.log_model(
                    model,
                    name=_MODEL_NAME,
                    model_id=logged.model_id,
                    run_id=run_id,
                    signature=signature,
                    input_example=example,
                    # The pyfunc (mlflow models serve) then returns what the signature promises.
                    pyfunc_predict_fn="predict_proba" if proba else "predict",
                    # Not skops (MLflow's default): it rejects HistGradientBoosting's TreePredictor and
                    # any custom transformer a user trainer brings. It buys no safety here either:
                    # MLflow reads skops' trusted types from the model's own MLmodel file, so loading
                    # is gated by MLFLOW_ALLOW_PICKLE_DESERIALIZATION (default true) for every format.
                    serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
                    pip_requirements=_pip_requirements(model),  # no inference in a subprocess
                    registered_model_name=registry_name,
                    tags=tags,  # with model_id given, MLflow puts these on the version only
                )
            version = int(info.registered_model_version)
            if alias is not None:
                self.client.set_registered_model_alias(registry_name, alias, str(version))
        return RegisteredVersion(registry_name, version, run_id, created=True)

    def version_for_event(self, registry_name: str, event_id: str) -> int | None:
        """The version registered for trigger event ``event_id`` (the first one), or None."""
        with self._failing(f"looking up {registry_name} versions"):
            return self._version_for_event(registry_name, event_id)

    def _version_for_event(self, registry_name: str, event_id: str) -> int | None:
        versions = self.client.search_model_versions(f"name = {_quoted(registry_name)}")
        matching = [int(v.version) for v in versions if v.tags.get(EVENT_TAG) == event_id]
        return min(matching, default=None)

    def aliases(self, registry_name: str) -> dict[str, int]:
        """Alias -> version of ``registry_name`` ({} when the registered model does not exist)."""
        with self._failing(f"reading aliases of {registry_name}"):
            try:
                model = self.client.get_registered_model(registry_name)
            except MlflowException as e:
                if e.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return {}
                raise
        return {alias: int(version) for alias, version in model.aliases.items()}

    def alias_version(self, registry_name: str, alias: str) -> int | None:
        """The version ``alias`` points at; None when the alias or the registered model is missing."""
        return self.aliases(registry_name).get(alias)

    def load_model(self, registry_name: str, alias_or_version: str | int) -> Any:
        """The scikit-learn model behind an alias (``"champion"``) or a version number."""
        import mlflow.sklearn  # noqa: PLC0415 - see register

        ref = f"{registry_name}/{alias_or_version}" if str(alias_or_version).isdigit() else None
        uri = f"models:/{ref or f'{registry_name}@{alias_or_version}'}"
        with self._failing(f"loading {uri}"), _mlflow_globals(self.tracking_uri, self.registry_uri):
            return mlflow.sklearn.load_model(uri)

    def set_alias(self, registry_name: str, alias: str, version: int) -> None:
        with self._failing(f"pointing {registry_name}@{alias} at version {version}"):
            self.client.set_registered_model_alias(registry_name, alias, str(version))

    def delete_alias(self, registry_name: str, alias: str) -> None:
        with self._failing(f"deleting {registry_name}@{alias}"):
            self.client.delete_registered_model_alias(registry_name, alias)

    def promote(self, registry_name: str, version: int) -> int | None:
        """Make ``version`` the champion; the old champion becomes ``previous_champion`` and the
        ``challenger`` alias is dropped if it pointed at ``version``. Returns the old champion.

        Order matters: previous_champion first, champion second, so a failure part-way never
        leaves the registry without a champion or with a rollback target that is not the old one.
        """
        aliases = self.aliases(registry_name)
        old = aliases.get(CHAMPION)
        if old is not None and old != version:
            self.set_alias(registry_name, PREVIOUS_CHAMPION, old)
        self.set_alias(registry_name, CHAMPION, version)
        if aliases.get(CHALLENGER) == version:
            self.delete_alias(registry_name, CHALLENGER)
        return old

    def rollback(self, registry_name: str) -> tuple[int, int]:
        """Point ``champion`` back at ``previous_champion`` and drop that alias (one step: a second
        rollback raises rather than flipping back). Returns (from version, to version)."""
        aliases = self.aliases(registry_name)
        current, previous = aliases.get(CHAMPION), aliases.get(PREVIOUS_CHAMPION)
        if previous is None or current is None:
            missing = PREVIOUS_CHAMPION if previous is None else CHAMPION
            raise RegistryError(
                f"cannot roll back {registry_name} in MLflow at {self.safe_uri}: it has no {missing!r} alias; "
                f"point {CHAMPION!r} at a version with set_alias instead"
            )
        self.set_alias(registry_name, CHAMPION, previous)
        self.delete_alias(registry_name, PREVIOUS_CHAMPION)
        return current, previous

    def delete_registered_model(self, registry_name: str) -> bool:
        """Delete the registered model with all its versions and aliases (runs and logged models
        stay). Returns False when it did not exist."""
        with self._failing(f"deleting {registry_name}"):
            try:
                self.client.delete_registered_model(registry_name)
            except MlflowException as e:
                if e.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return False
                raise
        return True

    def version_tags(self, registry_name: str, version: int) -> dict[str, str]:
        with self._failing(f"reading tags of {registry_name} version {version}"):
            return dict(self.client.get_model_version(registry_name, str(version)).tags)


def _quoted(value: str) -> str:
    """``value`` as a string literal of an MLflow search filter, which has no escapes: a name
    holding a single quote goes in double quotes (one holding both kinds cannot be searched)."""
    return f'"{value}"' if "'" in value else f"'{value}'"
