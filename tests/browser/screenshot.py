"""Take the README's screenshot of the dashboard with some traffic on it:

    .venv/bin/python -m tests.browser.screenshot docs/img/dashboard.png

Starts a `serve` on free ports, binds a well-behaved client that sends a steady trickle to
numbers of every operator (magic numbers among them), a sloppy one (no receipts asked,
a duplicate submit), puts one operator in a silent outage and caps another at 2 messages a
second, injects an MO, opens one message's
history, and saves the page at 1280 px. Not a test: a tool for the docs, with the browser
tests' flags."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from smsc.pdu.codec import Command
from tests.browser.conftest import CHROMIUM_FLAGS
from tests.support.serve import read_full_banner, start_serve, stop_serve
from tests.support.smpp_socket import SmppSocket
from tests.support.traffic import Traffic

NUMBERS = ("+33612345678", "+33783456789", "+33651234567", "+33660123456", "+33766123456", "+33699990001",
           "+33699990006", "+33699990005", "+33699990002", "+33611223344", "+33698765432", "+33755512345")


def post(url: str, token: str, path: str, body: object) -> None:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10).read()


def main(target: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="smsc-harness-shot-"))
    process = start_serve(folder, "--db", str(folder / "s.db"))
    try:
        banner = read_full_banner(process)
        assert banner.control_file is not None
        control = json.loads(banner.control_file.read_text())
        url, token = control["url"], control["token"]
        good = Traffic(banner.smpp_port)
        sloppy = SmppSocket("127.0.0.1", banner.smpp_port)
        sloppy.bind("demo", "demo", Command.bind_transmitter)
        for _ in range(2):
            sloppy.request(Command.submit_sm, source_addr="MyShop", source_addr_ton=5, destination_addr="33612345678",
                           dest_addr_ton=1, dest_addr_npi=1, registered_delivery=0, short_message=b"Sale today")
        post(url, token, "/operators/free/outage", {"mode": "silent"})
        post(url, token, "/operators/sfr/throughput", {"rate": 2, "burst": 2})
        post(url, token, "/mo", {"from": "+33612345678", "to": "36180", "text": "STOP"})
        stop = threading.Event()

        def trickle() -> None:
            n = 0
            while not stop.is_set():
                # the magic numbers once each, then numbers all different (R-rules cap what one number gets)
                number = NUMBERS[n] if n < len(NUMBERS) else \
                    ("+3361", "+3362", "+3376", "+3378")[n % 4] + f"{(n * 7919) % 10_000_000:07d}"
                good.submit(number, text=f"Your code is {4242 + n}".encode(), refused_ok=True)
                n += 1
                time.sleep(0.15)

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "chromium"
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={folder / 'profile'}"):
            options.add_argument(flag.replace("--window-size=1280,1300", "--window-size=1280,1500"))
        driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "chromedriver"))
        try:
            driver.get(f"{url}/?token={token}")
            time.sleep(8)
            stop.set()                      # a still list, so the opened message stays in view
            sender.join(10)
            time.sleep(1.5)
            # the newest delivered message's history and receipt, clicked in the page (a row
            # found by Selenium may have been redrawn since)
            driver.execute_script("const rows = [...document.querySelectorAll('#messages tr.message')];"
                                  "(rows.find(r => r.querySelector('.pill.ok')) || rows[0]).click()")
            time.sleep(1.5)
            height = driver.execute_script("return Math.ceil(document.querySelector('main')"
                                           ".getBoundingClientRect().bottom) + 4")
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",          # the whole page, no scrollbar
                                   {"width": 1280, "height": min(2400, height), "deviceScaleFactor": 1, "mobile": False})
            time.sleep(1.2)
            driver.save_screenshot(str(target))
        finally:
            driver.quit()
            stop.set()
            sender.join(10)
            good.close()
            sloppy.close()
    finally:
        stop_serve(process)
    print(target)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
