"""A scenario's report.html, written by `smsc-harness run`, opened in a real browser from its
file:// address (issue 14): the throughput chart is drawn, and each expectation links to its
line in the page's copy of the scenario, which the link opens."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from tests.browser.conftest import require_selenium

require_selenium()

from selenium.webdriver.common.by import By  # noqa: E402 - after the check above

from tests.support.serve import command  # noqa: E402

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

ROOT = Path(__file__).resolve().parents[2]


def test_report_html_has_its_chart_and_expectation_links(page: WebDriver, tmp_path: Path) -> None:
    done = subprocess.run(command("run", str(ROOT / "scenarios" / "outage.yaml"), "--report-dir", str(tmp_path)),
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    report = tmp_path / "outage" / "report.html"
    page.get(report.as_uri())
    assert page.title and "outage" in page.title
    chart = page.find_element(By.CSS_SELECTOR, 'svg.chart[aria-label^="Throughput over simulated time"]')
    assert chart.is_displayed() and chart.size["width"] > 300 and chart.size["height"] > 100
    lines = chart.find_elements(By.TAG_NAME, "polyline")
    assert len(lines) == 2 and all(len(line.get_attribute("points").split()) >= 2 for line in lines)
    links = page.find_elements(By.CSS_SELECTOR, 'a[href^="#src-"]')
    assert len(links) >= 5                          # outage.yaml's 5 expectations, each linked
    target = links[0].get_attribute("href").rpartition("#")[2]
    line = page.find_element(By.ID, target)
    assert not line.is_displayed()                  # folded until asked for
    links[0].click()
    assert line.is_displayed() and "expect:" in line.text      # the expectation's own line, unfolded
