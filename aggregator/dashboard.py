"""The web dashboard of a running `serve` (GET / of the control API; docs/dashboard.md).

Rules of this module:

1. The page is plain HTML rendered here, with its CSS inline: what does not change while
   `serve` runs (the operators, the outage modes, the accounts and their short codes, the
   forms) is in the page itself. What changes is filled in by one small script of our own,
   `aggregator/web/dashboard.js` (package data, served at GET /dashboard.js), which polls
   GET /status, GET /messages?last=20, GET /rules/events?last=20 and GET /clients every second. No framework, nothing
   from a CDN: the machines it runs on may have no internet.
2. Every value from the configuration is escaped here; the script writes data with
   `textContent` only, never as HTML. The control API sends the page with a
   Content-Security-Policy that allows no other script, no inline script, no frame.
3. A key of /status or a route the page reads may be missing (a tab left open while `serve`
   is restarted from another version): the script shows a dash or "not in this version",
   never breaks.
"""

from __future__ import annotations

from functools import cache
from html import escape
from importlib import resources
from typing import TYPE_CHECKING

from smsc.operators.profile import OutageMode

if TYPE_CHECKING:
    from aggregator.harness import Harness

__all__ = ["login_page", "page", "script"]

_STYLE = """
:root { --ink: #1d2430; --muted: #5d6878; --line: #d9dee6; --panel: #ffffff; --back: #f3f5f8;
        --good: #1f7a45; --bad: #b3261e; --warn: #8a5a00; --accent: #2456a6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: var(--back); }
header { display: flex; flex-wrap: wrap; gap: 4px 24px; align-items: baseline; padding: 10px 20px;
         background: #1d2430; color: #fff; }
header h1 { font-size: 18px; margin: 0; }
header .meta { color: #c4cbd6; font-size: 13px; }
#connection { margin-left: auto; font-weight: 600; }
#connection.live { color: #7fe0a5; } #connection.down { color: #ff9b93; }
main { display: grid; grid-template-columns: minmax(0, 2fr) minmax(300px, 1fr); gap: 16px; padding: 16px 20px;
       max-width: 1600px; }
@media (max-width: 1000px) { main { grid-template-columns: minmax(0, 1fr); } }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px;
          margin-bottom: 16px; }
h2 { font-size: 15px; margin: 0 0 8px; }
h3 { font-size: 13px; margin: 10px 0 4px; }
.note { color: var(--muted); font-size: 12px; margin: 4px 0 0; }
.counts { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px; }
.count { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.count .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.count .value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }
.count .rate { color: var(--muted); font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
td.num, th.num { text-align: right; }
.empty { color: var(--muted); font-style: italic; }
td.facts { font-size: 12px; overflow-wrap: anywhere; }
.pill { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.pill.ok { background: #e3f3e9; color: var(--good); } .pill.bad { background: #fbe4e2; color: var(--bad); }
.pill.wait { background: #fdf0d5; color: var(--warn); }
.bar { position: relative; height: 8px; background: #e8ebf0; border-radius: 4px; min-width: 80px; margin-top: 3px; }
.bar span { position: absolute; left: 0; top: 0; bottom: 0; background: var(--accent); border-radius: 4px; }
.bar span.full { background: var(--bad); }
tr.message { cursor: pointer; } tr.message:hover { background: #f6f8fb; }
tr.message td:first-child::before { content: "\\25B8 "; color: var(--muted); }
tr.message.open td:first-child::before { content: "\\25BE "; }
tr.detail td { background: #f9fafc; font-size: 13px; }
tr.detail ol { margin: 0; padding-left: 18px; }
form { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 6px 8px; align-items: center; }
form label { color: var(--muted); font-size: 13px; }
form .buttons { grid-column: 1 / -1; display: flex; gap: 8px; }
input, select, button { font: inherit; padding: 4px 6px; border: 1px solid #b9c1cd; border-radius: 4px;
                        background: #fff; min-width: 0; }
input[aria-invalid="true"], select[aria-invalid="true"] { border-color: var(--bad); outline: 1px solid var(--bad); }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; padding: 4px 12px; }
button.secondary { background: #fff; color: var(--accent); }
output { display: block; grid-column: 1 / -1; font-size: 13px; white-space: pre-wrap; word-break: break-word;
         min-height: 1.4em; }
output.ok { color: var(--good); } output.error { color: var(--bad); }
.finding { border-left: 3px solid var(--warn); padding: 2px 8px; margin: 6px 0; }
.finding .seen { margin: 2px 0; } .finding .advice { color: var(--muted); margin: 2px 0; }
code { font-size: 12px; }
"""


def _options(values: list[tuple[str, str]], selected: str | None = None) -> str:
    return "".join(f'<option value="{escape(v)}"{" selected" if v == selected else ""}>{escape(label)}</option>'
                   for v, label in values)


def page(harness: Harness) -> bytes:
    """The dashboard for this harness: the frame and the forms; the script fills in the rest."""
    operators = sorted((op_id, smsc.profile.name) for op_id, smsc in harness.operators.items())
    accounts = sorted(harness.server.accounts)
    codes = sorted(harness.server.short_codes.items())
    first_code = codes[0][0] if codes else ""
    operator_options = _options([(op_id, f"{op_id} ({name})") for op_id, name in operators])
    mode_options = _options([(m.value, m.value) for m in OutageMode], OutageMode.SILENT.value)
    account_options = _options([(a, a) for a in accounts])
    code_list = "".join(f'<option value="{escape(code)}">{escape(owner)}</option>' for code, owner in codes)
    operator_rows = "".join(
        f'<tr data-operator="{escape(op_id)}"><td><b>{escape(op_id)}</b><br><span class="note">{escape(name)}'
        f'</span></td><td class="links">–</td><td class="throughput">–</td><td class="outage">–</td>'
        f'<td class="num queued">–</td><td class="num submitted">–</td><td class="num receipts">–</td>'
        f'<td class="num mos">–</td></tr>'
        for op_id, name in operators)
    body = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>smsc-harness dashboard</title>
<link rel="icon" href="data:,">
<style>{_STYLE}</style>
<script src="/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>smsc-harness</h1>
  <span class="meta">started <span id="started">–</span></span>
  <span class="meta">now <span id="now">–</span></span>
  <span id="connection">connecting…</span>
</header>
<noscript><p style="padding: 0 20px">The live figures need JavaScript; the control API gives the same data as JSON
(<code>GET /status</code>, <code>GET /messages?last=20</code>, <code>GET /rules/events?last=20</code>,
<code>GET /clients</code>).</p></noscript>
<main>
<div>
  <section id="counts-panel">
    <h2>Messages</h2>
    <div class="counts">
      <div class="count" id="count-submitted"><div class="label">submitted</div><div class="value">–</div>
        <div class="rate">– /s</div></div>
      <div class="count" id="count-delivered"><div class="label">delivered</div><div class="value">–</div>
        <div class="rate">– /s</div></div>
      <div class="count" id="count-failed"><div class="label">failed</div><div class="value">–</div>
        <div class="rate">– /s</div></div>
      <div class="count" id="count-refused"><div class="label">refused</div><div class="value">–</div>
        <div class="rate">&nbsp;</div></div>
    </div>
    <p class="note">Since serve started; rates per second over the last <span id="rate-window">minute</span>.
      In the store by state: <span id="by-state">–</span></p>
  </section>
  <section id="operators-panel">
    <h2>Operators</h2>
    <table id="operators">
      <thead><tr><th>operator</th><th>links bound</th><th title="submit_sm the aggregator sent it per second over the last minute, retries after ESME_RTHROTTLED included, against its cap: above the cap, the operator is throttling">submit_sm sent /s (cap)</th><th>outage</th>
        <th class="num">queued at the aggregator</th><th class="num">submit_sm accepted</th>
        <th class="num">receipts sent</th><th class="num">MOs sent</th></tr></thead>
      <tbody>{operator_rows}</tbody>
    </table>
  </section>
  <section id="binds-panel">
    <h2>Client binds</h2>
    <table id="binds">
      <thead><tr><th>bind</th><th>mode</th><th>peer</th><th>bound at</th><th class="num">window</th>
        <th class="num">submitted</th><th class="num">rate /s</th></tr></thead>
      <tbody><tr><td colspan="7" class="empty">–</td></tr></tbody>
    </table>
  </section>
  <section id="messages-panel">
    <h2>Last messages</h2>
    <table id="messages">
      <thead><tr><th>id</th><th>account</th><th>from</th><th>to</th><th>operator</th><th>state</th>
        <th>created</th><th class="num">attempts</th></tr></thead>
      <tbody><tr><td colspan="8" class="empty">–</td></tr></tbody>
    </table>
    <p class="note">The 20 newest, newest first; click one for its state history and receipts.</p>
  </section>
  <section id="rule-events-panel">
    <h2>Rule events</h2>
    <table id="rule-events">
      <thead><tr><th>at</th><th>rule</th><th>action</th><th>account</th><th>number</th><th>campaign</th>
        <th>facts</th></tr></thead>
      <tbody><tr><td colspan="7" class="empty">–</td></tr></tbody>
    </table>
    <p class="note">The rules' 20 newest decisions, newest first: opt-outs (stop), purges, skew alerts,
      refusals, credit lapses, replies (docs/control-api.md, GET /rules/events).</p>
  </section>
</div>
<div>
  <section id="mo-panel">
    <h2>Inject an MO</h2>
    <form id="mo-form" data-path="/mo">
      <label for="mo-from">from</label><input id="mo-from" name="from" value="+33612345678" autocomplete="off">
      <label for="mo-to">to</label><input id="mo-to" name="to" value="{escape(first_code)}" list="short-codes"
        autocomplete="off">
      <label for="mo-text">text</label><input id="mo-text" name="text" value="STOP" autocomplete="off">
      <div class="buttons"><button type="submit">Send MO</button></div>
      <output id="mo-answer" aria-live="polite"></output>
    </form>
    <datalist id="short-codes">{code_list}</datalist>
  </section>
  <section id="outage-panel">
    <h2>Operator outage</h2>
    <form id="outage-form">
      <label for="outage-operator">operator</label><select id="outage-operator" name="operator">{operator_options}</select>
      <label for="outage-mode">mode</label><select id="outage-mode" name="mode">{mode_options}</select>
      <div class="buttons"><button type="submit" id="outage-start" value="outage">Start outage</button>
        <button type="submit" id="outage-recover" value="recover" class="secondary">Recover</button></div>
      <output id="outage-answer" aria-live="polite"></output>
    </form>
    <p class="note">refuse_binds: binds dropped and refused; drop: every connection dropped; silent: requests get
      no answer (enquire_link still does).</p>
  </section>
  <section id="throughput-panel">
    <h2>Operator throughput</h2>
    <form id="throughput-form">
      <label for="throughput-operator">operator</label><select id="throughput-operator" name="operator">{operator_options}</select>
      <label for="throughput-rate">rate /s</label><input id="throughput-rate" name="rate" inputmode="decimal" value="50"
        autocomplete="off">
      <label for="throughput-burst">burst</label><input id="throughput-burst" name="burst" inputmode="numeric"
        placeholder="one second's worth" autocomplete="off">
      <div class="buttons"><button type="submit">Set throughput</button></div>
      <output id="throughput-answer" aria-live="polite"></output>
    </form>
  </section>
  <section id="suspended-panel">
    <h2>Suspended sends (R3 skew)</h2>
    <table id="suspended">
      <thead><tr><th>account</th><th>campaign</th><th class="num">held</th><th></th></tr></thead>
      <tbody><tr><td colspan="4" class="empty">–</td></tr></tbody>
    </table>
    <form id="release-form">
      <label for="release-account">account</label><select id="release-account" name="account">{account_options}</select>
      <label for="release-campaign">campaign</label><input id="release-campaign" name="campaign"
        placeholder="empty: traffic without campaign id" autocomplete="off">
      <div class="buttons"><button type="submit">Release</button></div>
      <output id="release-answer" aria-live="polite"></output>
    </form>
  </section>
  <section id="clients-panel">
    <h2>Report card of the client binds</h2>
    <div id="clients"><p class="empty">–</p></div>
  </section>
</div>
</main>
</body>
</html>
"""
    return body.encode("utf-8")


def login_page(wrong_token: bool) -> bytes:
    """What GET / answers without the cookie: how to get in (the token is in the control
    file, which the browser cannot read; `smsc-harness dashboard` prints the address)."""
    why = ("The token in this address is not this serve's: it changes each time serve starts."
           if wrong_token else "This dashboard needs the control API's token, which is in the control file next to "
                               "the database.")
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>smsc-harness dashboard: token needed</title>
<style>body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 44em; margin: 40px auto; color: #1d2430; }}
pre {{ background: #f3f5f8; padding: 8px 12px; border-radius: 4px; }}</style></head>
<body>
<h1>smsc-harness dashboard</h1>
<p id="why">{escape(why)}</p>
<p>Run this where serve runs (with serve's <code>--db</code>, if you gave one) and open the address it prints:</p>
<pre>smsc-harness dashboard --db smsc-harness.db</pre>
<p>The address carries the token once; the dashboard then keeps it in a cookie for this browser session.</p>
</body>
</html>
""".encode("utf-8")


@cache
def script() -> bytes:
    """The dashboard's script (package data: aggregator/web/dashboard.js), read once."""
    return resources.files("aggregator").joinpath("web/dashboard.js").read_bytes()
