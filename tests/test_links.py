"""The UI base URLs from the environment and the links built on them (resources/links.py)."""

from __future__ import annotations

import pytest

from monitoring_assets.errors import MonitorError
from resources.links import dagster_run_url, mlflow_run_url, mlflow_version_url, ui_base_url

ENV = "SOME_UI_URL"


@pytest.mark.parametrize(
    ("value", "base"),
    [
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
        ("  https://dagster.example.com/  ", "https://dagster.example.com"),
        ("https://proxy.example.com/tools/dagster/", "https://proxy.example.com/tools/dagster"),
        ("https://user:pa%40ss@mlflow.example.com:8443/?token=abc#/x", "https://mlflow.example.com:8443"),
        ("http://[::1]:5000/", "http://[::1]:5000"),
    ],
)
def test_base_url_keeps_scheme_host_port_and_path_only(monkeypatch: pytest.MonkeyPatch, value: str, base: str) -> None:
    monkeypatch.setenv(ENV, value)
    assert ui_base_url(ENV) == base


@pytest.mark.parametrize("value", [None, "", "   "])
def test_unset_or_blank_is_no_base(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, value)
    assert ui_base_url(ENV) is None


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("secret-host.example.com:5000", "does not start with http:// or https://"),
        ("127.0.0.1:5000", "does not start with"),
        ("ftp://secret-host.example.com", "does not start with"),
        ("http://", "no host"),
        ("http://secret-host.example.com:port", "no host"),
    ],
)
def test_a_malformed_base_is_one_error_that_does_not_quote_it(
    monkeypatch: pytest.MonkeyPatch, value: str, said: str
) -> None:
    monkeypatch.setenv(ENV, value)
    with pytest.raises(MonitorError, match=f"^{ENV} must be the UI's http") as error:
        ui_base_url(ENV)
    assert said in str(error.value)
    assert "secret-host" not in str(error.value)


def test_links_follow_the_ui_routes_and_encode_names() -> None:
    assert dagster_run_url("http://h:3000", "1f2e-3d") == "http://h:3000/runs/1f2e-3d"
    assert mlflow_run_url("http://h:5000", "7", "abc123") == "http://h:5000/#/experiments/7/runs/abc123"
    assert mlflow_version_url("http://h:5000", "team/credit default", 3) == (
        "http://h:5000/#/models/team%2Fcredit%20default/versions/3"
    )
