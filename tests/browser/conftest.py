"""Headless Chromium from the Debian packages (`chromium`, `chromium-driver`), driven by
Selenium, against a real `smsc-harness serve` process (issue 14).

Without a browser the tests skip, saying what is missing; with SMSC_HARNESS_BROWSER=required
(what `.ci/run` sets, after installing the packages) a missing browser fails them: CI must not
pass by skipping. Every test leaves a screenshot of the page as it ended (passed or failed) in
$SMSC_HARNESS_ARTEFACTS, or else in a folder of pytest's tmp (named in the test's output).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

from tests.support.serve import Banner, read_full_banner, start_serve, stop_serve

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

REQUIRED = os.environ.get("SMSC_HARNESS_BROWSER") == "required"
# The flags that work in a container without a display, a GPU or the internet.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1300")
WAIT = 15.0                              # seconds at most for the page to show something


def missing_browser() -> str | None:
    """Why no browser test can run here, or None."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    for program, package in (("chromium", "chromium"), ("chromedriver", "chromium-driver")):
        if shutil.which(program) is None:
            return f"{program} is not installed (apt-get install {package}; .ci/run installs it)"
    return None


def require_selenium() -> None:
    """At the top of a test module, before it imports selenium: skip the module without it
    (fail it with SMSC_HARNESS_BROWSER=required)."""
    if importlib.util.find_spec("selenium") is None:
        why = "selenium is not installed (pip install -e '.[test]')"
        if REQUIRED:
            pytest.fail(f"SMSC_HARNESS_BROWSER=required, but {why}", pytrace=False)
        pytest.skip(why, allow_module_level=True)


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $SMSC_HARNESS_ARTEFACTS, or a folder of pytest's tmp."""
    given = os.environ.get("SMSC_HARNESS_ARTEFACTS")
    folder = Path(given) if given else tmp_path_factory.mktemp("browser-artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    why = missing_browser()
    if why is not None:
        if REQUIRED:
            pytest.fail(f"SMSC_HARNESS_BROWSER=required, but {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "chromedriver"))
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: WebDriver, artefacts: Path, request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    """The browser, with a screenshot of how the test left it saved afterwards."""
    yield browser
    name = request.node.name.replace("/", "_")
    browser.save_screenshot(str(artefacts / f"{name}.png"))
    print(f"screenshot: {artefacts / f'{name}.png'}")


@dataclass(frozen=True)
class Serve:
    banner: Banner
    url: str
    token: str


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """A `smsc-harness serve` process on free ports, on the default network."""
    folder = tmp_path_factory.mktemp("serve")
    process = start_serve(folder, "--db", str(folder / "s.db"))
    try:
        banner = read_full_banner(process)
        assert banner.control_file is not None
        found = json.loads(banner.control_file.read_text())
        yield Serve(banner, found["url"], found["token"])
    finally:
        assert stop_serve(process) == 0
