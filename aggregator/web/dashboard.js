// The smsc-harness dashboard's live part (aggregator/dashboard.py renders the page; docs/dashboard.md).
// Every second: GET /status, /messages?last=20, /rules/events?last=20 and /clients, then the panels are redrawn from
// them. Data is written with textContent only, never as HTML. A key or a route that is not
// there (a harness without that part) shows a dash or "not in this version".
"use strict";

(function () {
  const POLL_MS = 1000;
  const $ = (id) => document.getElementById(id);
  const openMessages = new Set();          // ids whose history is shown: kept across redraws
  let timer = null;                        // the next poll, when none is in flight
  let inFlight = false;                    // one poll at a time ...
  let again = false;                       // ... and one more at once if asked meanwhile (a form, a click)

  // --- small helpers ---------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }
  const isNum = (x) => typeof x === "number" && isFinite(x);
  const count = (x) => (isNum(x) ? x.toLocaleString("en") : "–");
  const rate = (x) => (isNum(x) ? x.toFixed(x < 10 ? 2 : 1) : "–");
  function time(iso) {                     // "2026-12-01T09:15:02.318Z" -> "09:15:02"
    if (typeof iso !== "string") return "–";
    const m = /T(\d\d:\d\d:\d\d)/.exec(iso);
    return m ? m[1] : iso;
  }
  function replaceRows(tbody, rows, columns, emptyText) {
    tbody.replaceChildren(...(rows.length ? rows
      : [el("tr", {}, el("td", { colspan: String(columns), class: "empty", text: emptyText }))]));
  }
  function pill(text, kind) { return el("span", { class: "pill " + kind, text: text }); }
  function stateKind(state) {
    if (state === "delivered") return "ok";
    if (state === "accepted" || state === "submitted") return "wait";
    return "bad";
  }
  function setConnection(text, live) {
    const node = $("connection");
    node.textContent = text;
    node.className = live ? "live" : "down";
  }

  // --- panels ------------------------------------------------------------------------------
  function drawCounts(status) {
    const totals = status.totals || {};
    const rates = status.rates || {};
    for (const name of ["submitted", "delivered", "failed", "refused"]) {
      const box = $("count-" + name);
      box.querySelector(".value").textContent = count(totals[name]);
      if (name !== "refused") box.querySelector(".rate").textContent = rate(rates[name]) + " /s";
    }
    if (isNum(rates.window_seconds)) $("rate-window").textContent = rates.window_seconds + " s";
    const states = status.messages || {};
    const parts = Object.keys(states).filter((k) => states[k]).map((k) => k + " " + count(states[k]));
    $("by-state").textContent = parts.length ? parts.join(", ") : "none yet";
    $("started").textContent = typeof status.started === "string"
      ? status.started.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC") : "–";
    $("now").textContent = time(status.now);
  }

  function drawOperators(status) {
    const operators = status.operators || {};
    for (const row of document.querySelectorAll("#operators tbody tr[data-operator]")) {
      const op = operators[row.dataset.operator];
      if (!op) continue;
      const links = op.links;
      row.querySelector(".links").textContent = links && isNum(links.bound)
        ? links.bound + " / " + links.configured : "–";
      const cell = row.querySelector(".throughput");
      const tp = op.throughput;
      if (tp && isNum(tp.rate)) {
        const cap = isNum(tp.cap) ? tp.cap : null;
        const share = cap ? Math.min(1, tp.rate / cap) : 0;
        const bar = el("div", { class: "bar" }, el("span", {
          class: share >= 0.95 ? "full" : "", style: "width:" + (share * 100).toFixed(1) + "%" }));
        cell.replaceChildren(rate(tp.rate) + " / " + (cap === null ? "no cap" : rate(cap)) + " /s", cap ? bar : "");
      } else {
        cell.textContent = "–";
      }
      row.querySelector(".outage").replaceChildren(op.outage ? pill(op.outage, "bad") : pill("off", "ok"));
      row.querySelector(".queued").textContent = count(op.queued_at_aggregator);
      row.querySelector(".submitted").textContent = count(op.submitted);
      row.querySelector(".receipts").textContent = count(op.receipts_sent);
      row.querySelector(".mos").textContent = count(op.mo_sent);
    }
  }

  function drawBinds(status) {
    const tbody = $("binds").tBodies[0];
    if (Array.isArray(status.sessions)) {
      const rows = status.sessions.map((s) => {
        const win = s.window || {};
        return el("tr", { "data-bind": s.bind || "" },
          el("td", {}, el("b", { text: s.bind || "–" })),
          el("td", { text: s.mode || "–" }), el("td", { text: s.peer || "–" }),
          el("td", { text: time(s.bound_at) }),
          el("td", { class: "num", text: isNum(win.outstanding) ? win.outstanding + " / " + win.size : "–" }),
          el("td", { class: "num", text: count(s.submitted) }), el("td", { class: "num", text: rate(s.rate) }));
      });
      replaceRows(tbody, rows, 7, "no client is bound");
      return;
    }
    // A /status without sessions: binds per account only.
    const binds = status.binds || {};
    const rows = Object.keys(binds).filter((a) => binds[a]).map((account) => el("tr", {},
      el("td", {}, el("b", { text: account })), el("td", { colspan: "6", text: binds[account] + " bind(s)" })));
    replaceRows(tbody, rows, 7, "no client is bound");
  }

  function drawSuspended(status) {
    const tbody = $("suspended").tBodies[0];
    const rows = (status.suspended || []).map((s) => {
      const button = el("button", { type: "button", class: "release", text: "Release" });
      button.addEventListener("click", () => send("/skew/release", { account: s.account, campaign: s.campaign },
        $("release-answer"), $("release-form")));
      return el("tr", {}, el("td", { text: s.account }),
        el("td", { text: s.campaign === null ? "(no campaign id)" : s.campaign }),
        el("td", { class: "num", text: count(s.held) }), el("td", {}, button));
    });
    replaceRows(tbody, rows, 4, "none");
  }

  function drawMessages(answer) {
    const tbody = $("messages").tBodies[0];
    if (answer === null) {
      replaceRows(tbody, [], 8, "not in this version of the control API");
      return;
    }
    const rows = [];
    for (const m of answer.messages || []) {
      const row = el("tr", { class: "message" + (openMessages.has(m.id) ? " open" : ""), "data-id": m.id },
        el("td", { text: m.id }), el("td", { text: m.account }), el("td", { text: m.from }),
        el("td", { text: m.to }), el("td", { text: m.operator || "–" }),
        el("td", {}, pill(m.state, stateKind(m.state))), el("td", { text: time(m.created) }),
        el("td", { class: "num", text: count(m.attempts) }));
      row.addEventListener("click", () => {
        if (openMessages.has(m.id)) openMessages.delete(m.id); else openMessages.add(m.id);
        poll();
      });
      rows.push(row);
      if (openMessages.has(m.id)) rows.push(detail(m));
    }
    replaceRows(tbody, rows, 8, "no message yet");
  }

  function detail(m) {
    const history = el("ol", {}, ...(m.history || []).map((h) =>
      el("li", {}, el("b", { text: h.state }), " at " + h.at + (h.detail ? " — " + h.detail : ""))));
    const receipts = (m.receipts || []).length
      ? el("ol", {}, ...m.receipts.map((r) => el("li", {}, el("b", { text: r.stat }),
        " err " + r.err + " at " + r.received + " — ", el("code", { text: r.text }))))
      : el("p", { class: "empty", text: "no receipt" });
    const facts = "operator message id " + (m.operator_message_id || "–") + ", error code "
      + (m.error_code === null ? "–" : m.error_code) + (m.campaign ? ", campaign " + m.campaign : "");
    return el("tr", { class: "detail", "data-detail": m.id }, el("td", { colspan: "8" },
      el("h3", { text: "State history" }), history, el("h3", { text: "Receipts" }), receipts,
      el("p", { class: "note", text: facts })));
  }

  function factsText(facts) {             // {"by": "mo", "keyword": "STOP"} -> "by=mo, keyword=STOP"
    if (!facts || typeof facts !== "object") return "";
    return Object.keys(facts).sort().map((k) => {
      const v = facts[k];
      return k + "=" + (typeof v === "string" ? v : JSON.stringify(v));
    }).join(", ");
  }
  const cut = (text, n) => (text.length > n ? text.slice(0, n - 3) + "..." : text);

  function drawRuleEvents(answer) {
    const tbody = $("rule-events").tBodies[0];
    if (answer === null) {
      replaceRows(tbody, [], 7, "not in this version of the control API");
      return;
    }
    const rows = (answer.events || []).map((e) => {
      const facts = factsText(e.facts);
      return el("tr", { class: "rule-event", "data-rule": e.rule || "", "data-action": e.action || "" },
        el("td", { text: time(e.at), title: e.at || "" }), el("td", {}, el("b", { text: e.rule || "–" })),
        el("td", { text: e.action || "–" }), el("td", { text: e.account || "–" }),
        el("td", { text: e.number || "–" }), el("td", { text: e.campaign || "–" }),
        el("td", { class: "facts", text: cut(facts, 160),         // all of it on hover
          title: (e.message_id ? "message " + e.message_id + ": " : "") + cut(facts, 2000) }));
    });
    replaceRows(tbody, rows, 7, "no rule has decided anything yet");
  }

  function drawClients(answer) {
    const box = $("clients");
    if (answer === null) {
      box.replaceChildren(el("p", { class: "empty", text: "not in this version of the control API" }));
      return;
    }
    const clients = answer.clients || [];
    if (!clients.length) {
      box.replaceChildren(el("p", { class: "empty", text: "no client has bound yet" }));
      return;
    }
    box.replaceChildren(...clients.map((c) => {
      const findings = c.findings || [];
      const state = c.unbound_at ? "unbound " + time(c.unbound_at) : "bound " + time(c.bound_at);
      return el("div", { class: "client", "data-bind": c.bind || "" },
        el("h3", {}, (c.bind || "–") + " ", el("span", { class: "note", text: (c.peer || "") + ", " + state })),
        findings.length ? null : el("p", { class: "empty", text: "no finding: behaves well so far" }),
        ...findings.map((f) => el("div", { class: "finding", "data-code": f.code || "" },
          el("b", { text: f.title || f.code }),
          el("span", { class: "note", text: " ×" + count(f.count) + ", first at " + time(f.first_at) }),
          el("p", { class: "seen", text: f.seen || "" }),
          el("p", { class: "advice", text: f.advice ? "Instead: " + f.advice : "" }))));
    }));
  }

  // --- polling -----------------------------------------------------------------------------
  class Gone extends Error {}

  async function getJson(path, optional) {
    const answer = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (answer.status === 401) throw new Gone();
    if (optional && answer.status === 404) return null;     // that part is not in this version
    if (!answer.ok) throw new Error(path + ": " + answer.status);
    return answer.json();
  }

  async function poll() {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    let gone = false;
    try {
      const [status, messages, ruleEvents, clients] = await Promise.all([
        getJson("/status", false), getJson("/messages?last=20", true), getJson("/rules/events?last=20", true),
        getJson("/clients", true)]);
      drawCounts(status);
      drawOperators(status);
      drawBinds(status);
      drawSuspended(status);
      drawMessages(messages);
      drawRuleEvents(ruleEvents);
      drawClients(clients);
      setConnection("live", true);
    } catch (error) {
      gone = error instanceof Gone;
      setConnection(gone ? "token no longer valid (serve restarted?): run smsc-harness dashboard again"
        : "serve not reachable: retrying", false);
    }
    inFlight = false;
    if (gone) return;                      // no more polling: a new address is needed
    if (again) {
      again = false;
      poll();
    } else {
      timer = setTimeout(poll, POLL_MS);
    }
  }

  // --- forms ---------------------------------------------------------------------------------
  function showAnswer(output, form, status, body) {
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    const ok = status >= 200 && status < 300;
    output.className = ok ? "ok" : "error";
    if (ok) {
      output.textContent = status + " " + JSON.stringify(body);
      return;
    }
    const field = body && typeof body.field === "string" ? body.field : null;
    const text = body && typeof body.error === "string" ? body.error : JSON.stringify(body);
    output.textContent = status + " " + (field ? "(" + field + ") " : "") + text;
    const input = field ? form.querySelector('[name="' + CSS.escape(field) + '"]') : null;
    if (input) input.setAttribute("aria-invalid", "true");
  }

  async function send(path, body, output, form) {
    output.className = "";
    output.textContent = "sending…";
    try {
      const answer = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body), cache: "no-store" });
      let data = null;
      try { data = await answer.json(); } catch (e) { data = { error: "answer not JSON" }; }
      showAnswer(output, form, answer.status, data);
    } catch (error) {
      output.className = "error";
      output.textContent = "serve not reachable: " + error.message;
    }
    poll();
  }

  function number(text) {                  // a number when it reads as one, else the text (the API says why)
    const trimmed = text.trim();
    return trimmed !== "" && isFinite(Number(trimmed)) ? Number(trimmed) : trimmed;
  }

  function wire() {
    const mo = $("mo-form");
    mo.addEventListener("submit", (event) => {
      event.preventDefault();
      send("/mo", { from: mo.elements.from.value, to: mo.elements.to.value, text: mo.elements.text.value },
        $("mo-answer"), mo);
    });
    const outage = $("outage-form");
    outage.addEventListener("submit", (event) => {
      event.preventDefault();
      const verb = event.submitter && event.submitter.value === "recover" ? "recover" : "outage";
      const operator = encodeURIComponent(outage.elements.operator.value);
      send("/operators/" + operator + "/" + verb, verb === "recover" ? {} : { mode: outage.elements.mode.value },
        $("outage-answer"), outage);
    });
    const throughput = $("throughput-form");
    throughput.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = { rate: number(throughput.elements.rate.value) };
      if (throughput.elements.burst.value.trim() !== "") body.burst = number(throughput.elements.burst.value);
      send("/operators/" + encodeURIComponent(throughput.elements.operator.value) + "/throughput", body,
        $("throughput-answer"), throughput);
    });
    const release = $("release-form");
    release.addEventListener("submit", (event) => {
      event.preventDefault();
      const campaign = release.elements.campaign.value.trim();
      send("/skew/release", { account: release.elements.account.value, campaign: campaign === "" ? null : campaign },
        $("release-answer"), release);
    });
  }

  document.addEventListener("DOMContentLoaded", () => { wire(); poll(); });
})();
