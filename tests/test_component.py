"""MonitorComponent in a user's own dg project: scaffolded in a temporary folder, found by
``dg list components``, loaded by ``dg list defs``, with exactly what the code location builds for
the same specs; a bad attribute is the spec's one-line error naming the defs.yaml."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from monitoring_assets import build_definitions
from monitoring_assets.spec import load_spec, parse_spec
from tests.conftest import REPO

DG = Path(sys.executable).parent / "dg"
COMPONENT = "monitoring_assets.component.MonitorComponent"
PROJECT = "my_monitoring"


def _dg(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # The project's package as `pip install -e .` (or `uv sync`) would make it importable; this
    # plugin is installed in the environment, and dg finds the component by its entry point.
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "NO_COLOR": "1"}
    # The suites of the user's project, not ours: the monitors then have no data-quality check.
    env["MONITORING_EXPECTATIONS_DIR"] = str(project / "suites")
    return subprocess.run(
        [str(DG), *args], cwd=project, env=env, capture_output=True, text=True, check=check, timeout=240
    )


def _spec_data(name: str) -> dict[str, Any]:
    data = yaml.safe_load((REPO / "monitors" / "credit_default.yaml").read_text())
    return {**data, "name": name}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dg project as a user would start it (the layout `create-dagster project` writes), with two
    monitors scaffolded by `dg scaffold defs`."""
    if not DG.exists():
        pytest.fail(f"{DG} is missing: install the dev extras (make dev-install), which bring dagster-dg-cli")
    root = tmp_path_factory.mktemp("dg") / PROJECT
    package = root / "src" / PROJECT
    (package / "defs").mkdir(parents=True)
    (root / "suites").mkdir()
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "{PROJECT}"
            version = "0.1.0"
            requires-python = ">=3.11"

            [tool.dg]
            directory_type = "project"

            [tool.dg.project]
            root_module = "{PROJECT}"
            """
        )
    )
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(
        textwrap.dedent(
            """\
            from pathlib import Path

            import dagster as dg


            @dg.definitions
            def defs() -> dg.Definitions:
                return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
            """
        )
    )
    for name in ("credit_default", "credit_default_eu"):
        _dg(root, "scaffold", "defs", COMPONENT, name)
        defs_yaml = package / "defs" / name / "defs.yaml"
        scaffolded = yaml.safe_load(defs_yaml.read_text())
        assert scaffolded["type"] == COMPONENT
        defs_yaml.write_text(yaml.safe_dump({"type": COMPONENT, "attributes": _spec_data(name)}, sort_keys=False))
    return root


def test_dg_lists_the_component(project: Path) -> None:
    listed = json.loads(_dg(project, "list", "components", "--json").stdout)["items"]
    (ours,) = [c for c in listed if c["key"] == COMPONENT]
    assert "Monitor one ML model" in ours["summary"]


def _names(defs: dg.Definitions) -> dict[str, list[str]]:
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    return {
        "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "checks": sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys),
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in repo.schedule_defs),
        "sensors": sorted(s.name for s in repo.sensor_defs),
    }


def test_dg_loads_exactly_what_the_code_location_builds(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = json.loads(_dg(project, "list", "defs", "--json").stdout)
    monkeypatch.setenv("MONITORING_EXPECTATIONS_DIR", str(project / "suites"))
    specs = [parse_spec(_spec_data(n)) for n in ("credit_default", "credit_default_eu")]
    expected = _names(build_definitions(specs=specs))
    assert sorted(a["asset_key"] for a in listed["assets"]) == expected["assets"]
    assert sorted(f"{c['asset_key']}:{c['name']}" for c in listed["asset_checks"]) == expected["checks"]
    assert sorted(j["name"] for j in listed["jobs"]) == expected["jobs"]
    assert sorted(s["name"] for s in listed["schedules"]) == expected["schedules"]
    assert sorted(s["name"] for s in listed["sensors"]) == expected["sensors"]
    assert sorted(r["name"] for r in listed["resources"]) == ["alerts", "registry", "warehouse"]
    assert "credit_default_eu/feature_drift" in expected["assets"] and len(expected["sensors"]) == 6


def test_a_bad_attribute_is_the_specs_one_line_error(project: Path, tmp_path: Path) -> None:
    broken = tmp_path / PROJECT
    shutil.copytree(project, broken)
    defs_yaml = broken / "src" / PROJECT / "defs" / "credit_default" / "defs.yaml"
    document = yaml.safe_load(defs_yaml.read_text())
    document["attributes"]["drift"]["method"] = "nonsense"
    defs_yaml.write_text(yaml.safe_dump(document, sort_keys=False))
    result = _dg(broken, "list", "defs", "--json", check=False)
    assert result.returncode != 0
    with pytest.raises(Exception) as expected:  # the same spec through the monitors/ route
        parse_spec(document["attributes"], defs_yaml)
    assert str(expected.value) in result.stdout + result.stderr


def test_the_in_process_loader_matches_too(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dg.load_from_defs_folder`, what the project's definitions.py calls, in this process."""
    monkeypatch.syspath_prepend(str(project / "src"))
    monkeypatch.setenv("MONITORING_EXPECTATIONS_DIR", str(project / "suites"))
    loaded = dg.load_from_defs_folder(path_within_project=project)
    spec = load_spec(REPO / "monitors" / "credit_default.yaml")
    eu = parse_spec(_spec_data("credit_default_eu"))
    assert _names(loaded) == _names(build_definitions(specs=[spec, eu]))
