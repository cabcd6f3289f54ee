"""The Dagster UI in a real headless Chromium: what a person sees of a small monitored instance.

``tests/_ui.py`` builds it (4 days of ``SMALL_SPEC``'s table, ``x`` and ``c`` shifted on the last
two), serves it with ``dagster-webserver`` and opens Debian's Chromium through Playwright. The
expected verdicts and values come from scipy on the raw rows, not from the project's output.
Screenshots go to ``test-artifacts/browser/``. Without Chromium or Playwright the tests skip with
the reason; under ``CI=true`` they fail.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from monitoring_assets.core.thresholds import ConstantThreshold
from monitoring_assets.spec import drift_rules, parse_spec
from tests import _ui

try:
    from playwright.sync_api import expect
except ImportError as e:  # the site fixture skips with the reason (fails under CI=true)
    PLAYWRIGHT_MISSING: ImportError | None = e
else:
    PLAYWRIGHT_MISSING = None

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator, Page

pytestmark = pytest.mark.xdist_group("browser")

ASSET = "/assets/m/feature_drift"
DAYS = [(_ui.FIRST_DAY + dt.timedelta(days=i)).isoformat() for i in range(_ui.DAYS)]
FAILING_DAY = _ui.DRIFT_FROM.isoformat()
# What a failing day's text says of one item: "x wasserstein 2.90 > 0.10".
ITEM = re.compile(r"\b(\w+) (\w+) (\d+\.\d+) > (\d+\.\d+)")


@dataclass(frozen=True)
class Site:
    base: str
    context: BrowserContext
    values: dict[str, dict[str, float]]  # day -> feature -> drift value (scipy, raw rows)
    thresholds: dict[str, tuple[str, float]]  # feature -> (method, threshold) from the spec

    def drifted(self, day: str) -> dict[str, float]:
        return {f: v for f, v in self.values[day].items() if v > self.thresholds[f][1]}


def _expected_drift(frame: pd.DataFrame) -> tuple[dict[str, dict[str, float]], dict[str, tuple[str, float]]]:
    """Per day each feature's drift value from scipy, and the spec's method and threshold: W1 over
    the reference's population standard deviation for numeric features, Jensen-Shannon distance
    (base 2) over the reference's top-k categories plus "other" for categorical ones."""
    spec = parse_spec(_ui.spec_document())
    rules = {}
    for feature, rule in drift_rules(spec).items():
        assert isinstance(rule.threshold, ConstantThreshold)  # SMALL_SPEC's thresholds are constants
        if feature != spec.prediction.score_column:
            rules[feature] = (rule.method, rule.threshold.value)
    day = frame["ts"].dt.date
    ref = frame[day < _ui.FIRST_DAY]
    top = list(ref["c"].value_counts().index[: spec.drift.top_k])

    def shares(values: pd.Series) -> np.ndarray:
        grouped = values.where(values.isin(top), "other").value_counts(normalize=True)
        return np.array([grouped.get(k, 0.0) for k in [*top, "other"]])

    expected: dict[str, dict[str, float]] = {}
    for d in DAYS:
        cur = frame[day == dt.date.fromisoformat(d)]
        values = {
            "x": stats.wasserstein_distance(ref["x"], cur["x"]) / np.std(ref["x"]),
            "y": stats.wasserstein_distance(ref["y"], cur["y"]) / np.std(ref["y"]),
            "c": float(distance.jensenshannon(shares(ref["c"]), shares(cur["c"]), base=2)),
        }
        expected[d] = values
    return expected, rules


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if PLAYWRIGHT_MISSING is not None:
        _ui.missing(f"Playwright for Python is not installed ({PLAYWRIGHT_MISSING}); pip install -e '.[dev]'")
    chromium = _ui.chromium_path()
    _ui.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    monitored = _ui.build_instance(tmp_path_factory.mktemp("ui"))
    expected, rules = _expected_drift(_ui.frame())
    with _ui.webserver(monitored, _ui.ARTIFACTS / "webserver.log") as base, _ui.browser(chromium) as context:
        yield Site(base, context, expected, rules)


@pytest.fixture
def page(site: Site) -> Iterator[Page]:
    page = site.context.new_page()
    yield page
    page.close()


def _open(page: Page, site: Site, path: str) -> None:
    page.goto(site.base + path)
    expect(page.get_by_text("Catalog", exact=True).first).to_be_visible()
    # The first-visit dialog is dismissed by the context's storage; a screenshot under it would lie.
    expect(page.get_by_text("Join the Dagster community")).to_have_count(0)


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(_ui.ARTIFACTS / f"{name}.png"), full_page=True)


def _open_day(page: Page, site: Site) -> Locator:
    """The asset's Partitions tab on the failing day, once its metadata shows (the drift table)."""
    _open(page, site, f"{ASSET}?view=partitions&partition={FAILING_DAY}")
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    table = page.locator("table", has_text="verdict").last
    expect(table).to_be_visible()
    return table


def _open_check_day(page: Page, site: Site) -> Locator:
    """The check no_feature_drift's Partitions tab on the failing day; returns its "Description" heading."""
    _open(page, site, f"{ASSET}?view=checks&checkDetail=no_feature_drift")
    page.locator("button[role=tab]", has_text="Partitions").click()
    page.locator(f"text={FAILING_DAY} >> visible=true").last.click()
    heading = page.get_by_text("Description", exact=True)
    expect(heading).to_be_visible()
    return heading


def _rendered_pngs(scope: Locator) -> list[str]:
    """Alt texts of the PNGs from data URIs that the browser decoded (naturalWidth > 0) in ``scope``."""
    alts = []
    for image in scope.locator("img").all():
        # decode() settles once the browser has decoded the picture, and rejects when it cannot.
        src, width = image.evaluate("i => i.decode().then(() => [i.src, i.naturalWidth], () => [i.src, 0])")
        if src.startswith("data:image/png;base64,") and width > 0:
            alts.append(image.get_attribute("alt") or "")
    return alts


def _items(text: str) -> dict[str, tuple[str, float, float]]:
    return {m[1]: (m[2], float(m[3]), float(m[4])) for m in ITEM.finditer(text)}


def _assert_names_what_failed(text: str, site: Site, day: str) -> None:
    """The day's text names exactly the features scipy finds drifted, each with its method, a value
    within the binned profile's precision of scipy's and the spec's threshold."""
    items = _items(text)
    assert set(items) == set(site.drifted(day)), text
    for feature, value in site.drifted(day).items():
        method, shown, threshold = items[feature]
        assert method == site.thresholds[feature][0], text
        assert threshold == pytest.approx(site.thresholds[feature][1]), text
        assert shown == pytest.approx(value, rel=0.05, abs=0.01), (feature, text)


def test_the_design_drifts_x_and_c_on_the_last_two_days_only(site: Site) -> None:
    # The premise of the other tests, from scipy alone.
    assert {d: sorted(site.drifted(d)) for d in DAYS} == {
        DAYS[0]: [],
        DAYS[1]: [],
        DAYS[2]: ["c", "x"],
        DAYS[3]: ["c", "x"],
    }


def test_checks_tab_shows_both_drift_checks_failed(page: Page, site: Site) -> None:
    _open(page, site, f"{ASSET}?view=checks")
    expect(page.get_by_text("Checks (2)")).to_be_visible()
    # Each entry of the list: the severity's icon, the check's name (its title), the latest status.
    for check, icon in (("no_feature_drift", "warning_outline"), ("no_dataset_drift", "cancel")):
        expect(page.locator(f"[title='{check}'] + span").first).to_have_text("Failed")
        entry = page.locator(f"div:has(> span > [title='{check}'])").first
        expect(entry.locator("[role=img]").first).to_have_attribute("aria-label", icon)
    _shot(page, "01_checks_tab")


def test_execution_history_has_one_row_per_day_with_its_partition_key(page: Page, site: Site) -> None:
    _open(page, site, f"{ASSET}?view=checks&checkDetail=no_feature_drift")
    # The overview's latest execution is the last day's, with its partition key (not "—").
    expect(page.get_by_text("Latest execution", exact=True)).to_be_visible()
    expect(page.locator("body")).to_contain_text(re.compile(rf"Partition\s*{DAYS[-1]}"))
    _shot(page, "02_no_feature_drift_overview")
    page.locator("button[role=tab]", has_text="Execution history").click()
    expect(page.get_by_role("columnheader", name="Partition")).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(len(DAYS))
    _shot(page, "03_no_feature_drift_execution_history")
    for day in DAYS:
        row = rows.filter(has_text=day)
        expect(row).to_have_count(1)
        verdict = "Failed" if site.drifted(day) else "Passed"
        expect(row.get_by_text(verdict, exact=True)).to_be_visible()
        if site.drifted(day):
            _assert_names_what_failed(row.inner_text(), site, day)
    expect(page.get_by_text("Skipped", exact=True)).to_have_count(0)


def test_a_failing_day_of_the_check_names_its_features(page: Page, site: Site) -> None:
    description = _open_check_day(page, site).locator("xpath=following-sibling::*[1]")
    expect(description).to_be_visible()
    # The partition bar's legend counts the days by their verdict; none is left "Missing" (a
    # result that does not target its day's materialization is not current for Dagster).
    failed = sum(1 for d in DAYS if site.drifted(d))
    for label, count in (("Failed", failed), ("Passed", len(DAYS) - failed), ("Missing", 0), ("Skipped", 0)):
        expect(page.get_by_text(f"{label} ({count})", exact=True)).to_be_visible()
    _shot(page, f"04_no_feature_drift_on_{FAILING_DAY}")
    _assert_names_what_failed(description.inner_text(), site, FAILING_DAY)


def test_the_asset_page_for_a_failing_day_shows_its_drift_table(page: Page, site: Site) -> None:
    table = _open_day(page, site)
    _shot(page, f"05_feature_drift_partition_{FAILING_DAY}")
    rows = [r.locator("td").all_inner_texts() for r in table.locator("tr").all()]
    shown = {cells[0].strip(): [c.strip() for c in cells] for cells in rows if cells}
    for feature, (method, threshold) in site.thresholds.items():
        verdict = "DRIFT" if feature in site.drifted(FAILING_DAY) else "ok"
        assert shown[feature][1] == method, shown
        assert float(shown[feature][2]) == pytest.approx(site.values[FAILING_DAY][feature], rel=0.05, abs=0.01), shown
        assert float(shown[feature][3]) == pytest.approx(threshold), shown
        assert shown[feature][4] == verdict, shown


def test_a_failing_day_renders_an_image_in_its_metadata(page: Page, site: Site) -> None:
    """A picture drawn for the day shows, on the asset's page for the day or on the check's."""
    _open_day(page, site)
    rendered = _pngs_in_metadata(page, page.locator("table", has_text="verdict").first)
    where = "feature_drift_partition"
    if not rendered:
        metadata = _open_check_day(page, site).locator("xpath=following::table[1]")
        rendered = _pngs_in_metadata(page, metadata)
        where = "no_feature_drift_on"
    _shot(page, f"06_{where}_{FAILING_DAY}_image")
    assert rendered, "no PNG rendered from a data URI in the day's markdown metadata (asset or check)"


def _pngs_in_metadata(page: Page, metadata: Locator) -> list[str]:
    """Alt texts of the PNGs rendered in a metadata table: short markdown shows inline, longer
    markdown behind a "[Show Markdown]" link, in a dialog titled by the key (left open on a find)."""
    expect(metadata).to_be_visible()
    rendered = _rendered_pngs(metadata)
    links = metadata.get_by_text("[Show Markdown]", exact=True)
    for i in range(0 if rendered else links.count()):
        links.nth(i).click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        rendered = _rendered_pngs(dialog)
        if rendered:
            break
        dialog.get_by_role("button", name="Close").click()
        expect(dialog).to_have_count(0)
    return rendered
