"""Tag names are written in one place (resources/tags.py): no product module spells one out."""

from __future__ import annotations

import ast
import re

from tests.conftest import REPO

# Our Dagster run tags (monitoring/...) and MLflow tags (monitoring.*, dagster.*); Dagster's own
# run tags (dagster/...) belong to Dagster.
TAG = re.compile(r"^(monitoring[./][a-z_]+|dagster\.[a-z_]+)$")


def test_no_tag_name_is_spelled_outside_the_tags_module() -> None:
    found = []
    for package in ("monitoring_assets", "resources", "sensors", "expectations"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path == REPO / "resources" / "tags.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and TAG.match(node.value):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value}")
    assert found == []


def test_the_tags_module_names_each_tag_once() -> None:
    from resources import tags  # noqa: PLC0415

    values = [v for k, v in vars(tags).items() if k.isupper()]
    assert len(values) == len(set(values)) and all(TAG.match(v) for v in values)
