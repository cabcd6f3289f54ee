"""The MLflow adapter's names, settings and results that need no MLflow.

``resources.registry`` (which imports MLflow, a few seconds) re-exports all of them; the code
location imports them from here, so that building definitions does not load MLflow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from resources.tags import EVENT_ID

CHAMPION, CHALLENGER, PREVIOUS_CHAMPION = "champion", "challenger", "previous_champion"
EVENT_TAG = EVENT_ID  # on a version: the trigger event it was trained for
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"  # under the project (cwd); /mlruns/ is gitignored
DEFAULT_ARTIFACT_ROOT = "mlruns/artifacts"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"


@dataclass(frozen=True)
class HttpLimits:
    """Bounds on MLflow's HTTP client (a tracking server, or artifacts served over HTTP).

    MLflow's own defaults (7 retries, backoff factor 2, 120 s timeout) keep a call to a server that
    is down retrying for about 4 minutes. These are applied as MLflow's environment variables
    (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``..._TIMEOUT``, ``..._BACKOFF_FACTOR``), each only when
    the user has not set it, for the rest of the process (MLflow reads them at every request).
    A refused connection then fails in about ``backoff_factor x 2`` seconds (urllib3 sleeps
    0, 2, 4, ... x factor between retries); a server that accepts but never answers in at most
    ``(max_retries + 1) x timeout_seconds`` plus the backoff, per call.
    """

    max_retries: int = 2
    timeout_seconds: int = 15  # per request, between bytes (not a limit on a whole upload)
    backoff_factor: int = 1

    def environment(self) -> dict[str, str]:
        return {
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.max_retries),
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(self.timeout_seconds),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": str(self.backoff_factor),
        }

    def apply(self) -> dict[str, str]:
        """Set each variable the user has not set; returns the values in effect."""
        for name, value in self.environment().items():
            os.environ.setdefault(name, value)
        return {name: os.environ[name] for name in self.environment()}


@dataclass(frozen=True)
class RegisteredVersion:
    """A model version; ``created`` is False when the version already registered for the same
    trigger event was reused."""

    name: str
    version: int
    run_id: str
    created: bool
