"""Links between the Dagster UI and the MLflow UI.

The tracking URI is no base for a link: it may be a database URL, or hold a password. So each UI's
address comes from its own environment variable, ``DAGSTER_UI_URL`` and ``MLFLOW_UI_URL``, and
without it a link is left out (callers then show the plain id). Any user name or password in the
variable is dropped, as are its query and fragment, so a link never carries a secret.

The routes are those of Dagster 1.13 (``/runs/<run id>``) and of MLflow 3's UI, which routes in
the fragment (``#/experiments/<id>/runs/<run id>``, ``#/models/<name>/versions/<v>``).
"""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit, urlunsplit

from monitoring_assets.errors import MonitorError

DAGSTER_UI_URL_ENV = "DAGSTER_UI_URL"
MLFLOW_UI_URL_ENV = "MLFLOW_UI_URL"


def ui_base_url(env: str) -> str | None:
    """The UI base URL in environment variable ``env``, without credentials, query or trailing
    slash; None when unset or blank. Raises MonitorError (which never quotes the value, since it
    may hold a password) when it is not an http(s) URL with a host."""
    raw = os.environ.get(env, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number
        host, port = None, None
    if parts.scheme not in ("http", "https") or not host:
        raise MonitorError(
            f"{env} must be the UI's http(s) address, such as http://127.0.0.1:3000; the value set "
            + ("has no host" if parts.scheme in ("http", "https") else "does not start with http:// or https://")
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def dagster_run_url(base: str, run_id: str) -> str:
    return f"{base}/runs/{quote(run_id, safe='')}"


def mlflow_run_url(base: str, experiment_id: str, run_id: str) -> str:
    return f"{base}/#/experiments/{quote(experiment_id, safe='')}/runs/{quote(run_id, safe='')}"


def mlflow_version_url(base: str, registry_name: str, version: int) -> str:
    return f"{base}/#/models/{quote(registry_name, safe='')}/versions/{version}"
