"""The dashboard in a real browser against a real `serve` (issue 14): in by the token address,
an MO from the form, a STOP from it shown as R1's opt-out in the rule events, an outage started and ended from the form, a throughput change, client
traffic showing in the counts and the last messages, one poll at a time whatever the forms
do, and a stopped serve shown as such.

The tests of this module share one `serve` and run in file order; each leaves what it changed
as it found it (an outage ended), or changes what no other test reads (orange's throughput).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

from tests.browser.conftest import require_selenium

require_selenium()

from selenium.webdriver.common.by import By  # noqa: E402 - after the check above
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from tests.browser.conftest import WAIT, Serve  # noqa: E402
from tests.support.serve import read_full_banner, start_serve, stop_serve  # noqa: E402
from tests.support.traffic import Traffic  # noqa: E402

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

T = TypeVar("T")


def until(driver: WebDriver, what: str, condition: Callable[[WebDriver], T]) -> T:
    """Wait (bounded) until `condition` gives something true; it."""
    return WebDriverWait(driver, WAIT, ignored_exceptions=(LookupError,)).until(condition, f"{what} in {WAIT:g} s")


def text(driver: WebDriver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def open_dashboard(driver: WebDriver, serve: Serve) -> None:
    driver.get(f"{serve.url}/?token={serve.token}")
    until(driver, "the page live", lambda d: text(d, "#connection") == "live")


def submit_form(driver: WebDriver, form: str, fields: dict[str, str], button: str = "button[type=submit]") -> str:
    """Fill a form's inputs and selects, press its button; the API's answer shown under it."""
    for name, value in fields.items():
        field = driver.find_element(By.CSS_SELECTOR, f"#{form} [name={name}]")
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        else:
            field.clear()
            field.send_keys(value)
    output = driver.find_element(By.CSS_SELECTOR, f"#{form} output")
    driver.execute_script("arguments[0].textContent = ''", output)       # the last answer gone
    driver.find_element(By.CSS_SELECTOR, f"#{form} {button}").click()
    until(driver, f"the answer to {form}", lambda d: output.text not in ("", "sending…"))
    return str(output.text)


def answered(answer: str) -> tuple[int, object]:
    """"200 {...}" -> (200, the JSON)."""
    status, _, body = answer.partition(" ")
    return int(status), json.loads(body)


def test_the_token_address_lets_the_browser_in_once(page: WebDriver, serve: Serve) -> None:
    page.delete_all_cookies()
    page.get(serve.url + "/")
    assert "smsc-harness dashboard --db" in text(page, "body")          # how to get in
    open_dashboard(page, serve)
    assert page.current_url == serve.url + "/"                        # the token left the address bar
    cookies = page.get_cookies()
    assert [(c["name"], c["httpOnly"], c["sameSite"]) for c in cookies] == [
        (f"smsc-harness-{serve.banner.control_port}", True, "Strict")]
    assert page.execute_script("return document.cookie") == ""        # out of the page script's reach
    rows = page.find_elements(By.CSS_SELECTOR, "#operators tbody tr[data-operator]")
    assert [r.get_attribute("data-operator") for r in rows] == ["bouygues", "free", "orange", "sfr"]


def test_an_mo_from_the_form(page: WebDriver, serve: Serve) -> None:
    open_dashboard(page, serve)
    answer = submit_form(page, "mo-form", {"from": "+33612345678", "to": "36180", "text": "HELLO from the form"})
    assert answered(answer) == (202, {"from": "+33612345678", "operator": "sfr", "to": "36180"})
    until(page, "sfr's MO count", lambda d: text(d, '#operators tr[data-operator="sfr"] .mos') == "1")
    refused = submit_form(page, "mo-form", {"from": "hello"})
    assert refused.startswith("400 (from) from: expected the subscriber's number")
    assert page.find_element(By.ID, "mo-from").get_attribute("aria-invalid") == "true"
    assert text(page, '#operators tr[data-operator="sfr"] .mos') == "1"


def test_a_stop_from_the_form_shows_as_r1_opt_out(page: WebDriver, serve: Serve) -> None:
    """The subscriber sends STOP: R1 puts the number on demo's opt-out list, and the rule
    events panel shows that decision (a number no other test of this module sends to)."""
    open_dashboard(page, serve)
    assert "no rule has decided anything yet" in text(page, "#rule-events tbody")
    answer = submit_form(page, "mo-form", {"from": "+33612345600", "to": "36180", "text": "STOP"})
    assert answered(answer)[0] == 202
    row = until(page, "R1's opt-out in the panel", lambda d: d.find_element(
        By.CSS_SELECTOR, '#rule-events tr[data-rule="stop"][data-action="optout"]'))
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    assert cells[1:5] == ["stop", "optout", "demo", "+33612345600"]
    assert "by=mo" in cells[6] and "keyword=STOP" in cells[6]
    optouts = page.execute_script("return fetch('/optouts?account=demo').then(r => r.json())")
    assert "+33612345600" in [o["number"] for o in optouts["optouts"]]


def test_a_serve_without_rule_events_says_so_and_the_rest_stays_live(page: WebDriver, serve: Serve) -> None:
    """An older serve answers GET /rules/events with 404: that panel says so, the others go on."""
    open_dashboard(page, serve)
    page.execute_script("""
        const fetchBefore = window.fetch;
        window.fetch = (...args) => String(args[0]).startsWith("/rules/events")
          ? Promise.resolve(new Response('{"error": "no such resource"}', {status: 404}))
          : fetchBefore(...args);""")
    until(page, "the panel saying so",
          lambda d: text(d, "#rule-events tbody") == "not in this version of the control API")
    assert text(page, "#connection") == "live"


def test_an_outage_from_the_form_shows_and_ends(page: WebDriver, serve: Serve) -> None:
    open_dashboard(page, serve)
    row = '#operators tr[data-operator="sfr"] .outage'
    assert text(page, row) == "off"
    answer = submit_form(page, "outage-form", {"operator": "sfr", "mode": "drop"}, "#outage-start")
    assert answered(answer) == (200, {"operator": "sfr", "outage": "drop"})
    until(page, "sfr shown in outage", lambda d: text(d, row) == "drop")
    assert text(page, '#operators tr[data-operator="orange"] .outage') == "off"
    answer = submit_form(page, "outage-form", {"operator": "sfr"}, "#outage-recover")
    assert answered(answer) == (200, {"operator": "sfr", "outage": None, "ended": "drop"})
    until(page, "sfr's outage ended", lambda d: text(d, row) == "off")
    again = submit_form(page, "outage-form", {"operator": "sfr"}, "#outage-recover")
    assert again == "409 (operator) operator: sfr is not in an outage"
    assert page.find_element(By.ID, "outage-operator").get_attribute("aria-invalid") == "true"


def test_a_throughput_change_from_the_form(page: WebDriver, serve: Serve) -> None:
    open_dashboard(page, serve)
    answer = submit_form(page, "throughput-form", {"operator": "orange", "rate": "25", "burst": "5"})
    assert answered(answer) == (200, {"operator": "orange", "rate": 25, "burst": 5})
    refused = submit_form(page, "throughput-form", {"rate": "fast", "burst": ""})
    assert refused == "400 (rate) rate: expected messages a second, a number > 0 and at most 100,000, got a string"
    assert page.find_element(By.ID, "throughput-rate").get_attribute("aria-invalid") == "true"
    status = page.execute_script("return fetch('/status').then(r => r.json())")
    cap = status["operators"]["orange"].get("throughput", {}).get("cap")
    if cap is not None:               # the metrics part of issue 14 shows the cap: the page has it
        until(page, "orange's cap", lambda d: "/ 25.0 /s" in text(d, '#operators tr[data-operator="orange"] .throughput'))


def test_client_traffic_shows_in_counts_and_last_messages(page: WebDriver, serve: Serve) -> None:
    traffic = Traffic(serve.banner.smpp_port)
    try:
        ids = traffic.submit("+33612345678", "+33699990001", "+33699990005")
        open_dashboard(page, serve)
        until(page, "the three messages listed",
              lambda d: [r.get_attribute("data-id") for r in d.find_elements(By.CSS_SELECTOR, "#messages tr.message")][:3]
              == ids[::-1])
        until(page, "the unknown subscriber's final state",
              lambda d: text(d, f'#messages tr[data-id="{ids[1]}"] td:nth-child(6)') == "undeliverable")
        page.find_element(By.CSS_SELECTOR, f'#messages tr[data-id="{ids[1]}"]').click()
        detail = until(page, "its history", lambda d: d.find_element(By.CSS_SELECTOR, f'tr[data-detail="{ids[1]}"]'))
        assert "State history" in detail.text and "accepted at" in detail.text and "UNDELIV" in detail.text
        assert "delivered" in text(page, "#by-state") and "undeliverable" in text(page, "#by-state")
        until(page, "the bind listed", lambda d: "demo" in text(d, "#binds tbody"))
    finally:
        traffic.close()


def test_forms_and_clicks_never_start_a_second_polling_loop(page: WebDriver, serve: Serve) -> None:
    """Each answer asks for a poll at once; one in flight makes it wait its turn: at most one
    GET /status is ever in flight, however fast the forms are sent."""
    open_dashboard(page, serve)
    page.execute_script("""
        const seen = window.__polls = {inFlight: 0, most: 0, done: 0};
        const fetchBefore = window.fetch;
        window.fetch = async (...args) => {
          const status = String(args[0]).startsWith("/status");
          if (status) { seen.inFlight += 1; seen.most = Math.max(seen.most, seen.inFlight); }
          try { return await fetchBefore(...args); }
          finally { if (status) { seen.inFlight -= 1; seen.done += 1; } }
        };
        const form = document.getElementById("throughput-form");
        for (let i = 0; i < 8; i++) form.requestSubmit();""")
    until(page, "ten polls done", lambda d: d.execute_script("return window.__polls.done") >= 10)
    assert page.execute_script("return window.__polls.most") == 1


def test_a_stopped_serve_shows_as_not_reachable(page: WebDriver, tmp_path: Path) -> None:
    process = start_serve(tmp_path, "--db", str(tmp_path / "s.db"))
    try:
        banner = read_full_banner(process)
        assert banner.control_file is not None
        found = json.loads(banner.control_file.read_text())
        open_dashboard(page, Serve(banner, found["url"], found["token"]))
    finally:
        assert stop_serve(process) == 0
    until(page, "the page saying so", lambda d: text(d, "#connection") == "serve not reachable: retrying")
