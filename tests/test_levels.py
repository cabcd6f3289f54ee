"""The one level of the plugin (monitoring_assets/core/levels.py) and its two mappings."""

from __future__ import annotations

import dagster as dg
import pytest

from monitoring_assets._day_checks import check_severity, level_of_severity
from monitoring_assets.core.levels import Level, worst
from resources.alerts import TIERS, tier_of, tier_rank


def test_levels_are_ordered_and_not_evaluated_stands_apart() -> None:
    assert [m.rank for m in (Level.OK, Level.INFO, Level.WARN, Level.ERROR)] == [0, 1, 2, 3]
    assert Level.NOT_EVALUATED.rank < Level.OK.rank
    assert [m for m in Level if m.failed] == [Level.WARN, Level.ERROR]
    assert [m for m in Level if not m.evaluated] == [Level.NOT_EVALUATED]
    assert worst([Level.OK, Level.ERROR, Level.WARN]) is Level.ERROR
    assert worst([Level.NOT_EVALUATED, Level.INFO]) is Level.INFO
    assert worst([]) is Level.NOT_EVALUATED


def test_levels_are_their_stored_text_and_read_the_other_vocabularies() -> None:
    assert Level.WARN == "warn" and f"{Level.ERROR}" == "error" and Level("ok") is Level.OK
    assert Level.of("warning") is Level.WARN and Level.of("critical") is Level.ERROR
    assert Level.of("no_data") is Level.NOT_EVALUATED and Level.of("info") is Level.INFO
    with pytest.raises(ValueError, match="unknown level 'severe'"):
        Level.of("severe")


def test_one_mapping_to_dagster_and_one_to_alert_tiers() -> None:
    assert check_severity(Level.ERROR) is dg.AssetCheckSeverity.ERROR
    assert check_severity(Level.WARN) is dg.AssetCheckSeverity.WARN
    for severity in dg.AssetCheckSeverity:
        assert check_severity(level_of_severity(severity)) is severity
    assert [tier_of(m) for m in (Level.INFO, Level.WARN, Level.ERROR)] == list(TIERS) == ["info", "warning", "critical"]
    ranks = [tier_rank(tier_of(m)) for m in (Level.INFO, Level.WARN, Level.ERROR)]
    assert ranks == sorted(ranks) and len(set(ranks)) == 3
    with pytest.raises(ValueError, match="no alert tier"):
        tier_of(Level.OK)
