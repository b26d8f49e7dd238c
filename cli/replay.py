"""`smsc-harness check` and `smsc-harness run`: load YAML scenarios, replay them (in memory on a
virtual clock, or `--live` over real TCP) and write their reports."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Awaitable, Callable, NoReturn, Sequence

from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from aggregator.rules.settings import RULE_NAMES
from aggregator.yamlreader import ConfigError
from reports.html import render_html
from reports.json import render_json
from reports.junit import render_junit
from reports.model import ScenarioReport, WallClock
from reports.terminal import ProgressBar, summary
from scenarios.loader import load_scenario
from scenarios.model import Scenario
from scenarios.runner import ScenarioRunError, run_scenario, run_scenario_live

# A progress bar (on stderr) for scenarios planning at least this many messages, or on a terminal.
PROGRESS_MIN_MESSAGES = 10_000


def check_scenarios(paths: Sequence[str], allow_outside: bool = False) -> int:
    status = 0
    for path in paths:
        try:
            scenario = load_scenario(path, allow_outside=allow_outside)
        except ConfigError as error:
            print(f"{error}", file=sys.stderr)
            status = 2
        except OSError as error:
            print(f"{path}: cannot read: {error.strerror}", file=sys.stderr)
            status = 2
        else:
            print(f"ok: {path}: {scenario.name!r}, {len(scenario.timeline)} step(s), seed {scenario.seed}")
    return status


def run_scenarios(paths: Sequence[str], seed: int | None, report_dir: str | None,
                  allow_outside: bool = False, rules_off: Sequence[str] = ()) -> int:
    """Load every scenario first (exit 2 on any invalid one), then replay each in memory and
    write reports. ``rules_off``: operator rules switched off everywhere (`all`: every one)."""

    async def replay(scenario: Scenario, db: Path, seed: int | None) -> ScenarioReport:
        total = scenario.planned_messages()
        if total < PROGRESS_MIN_MESSAGES and not sys.stderr.isatty():
            return run_scenario(scenario, db, seed)
        bar = ProgressBar(sys.stderr, time.monotonic, label="messages")
        bar.update(0, total)
        try:
            return run_scenario(scenario, db, seed, lambda done: bar.update(done, total))
        finally:
            bar.finish()

    done: list[int | Failure] = []
    defer.ensureDeferred(_run_scenarios(paths, seed, report_dir, replay, allow_outside, rules_off)
                         ).addBoth(done.append)
    result = done[0]                                 # the in-memory replay never waits on a reactor
    if isinstance(result, Failure):
        result.raiseException()
    return result


def react_live(args: argparse.Namespace) -> NoReturn:
    """`run --live` on the global reactor; exits with the status."""
    task.react(lambda reactor: defer.ensureDeferred(
        run_scenarios_live(reactor, args.scenarios, args.seed, args.report_dir, args.allow_outside,
                           args.rule_off)))


async def run_scenarios_live(reactor: IReactorTime, paths: Sequence[str], seed: int | None,
                             report_dir: str | None, allow_outside: bool = False,
                             rules_off: Sequence[str] = ()) -> None:
    """`run --live`: the same, over real TCP on 127.0.0.1 in real time; exits with the status."""

    async def replay(scenario: Scenario, db: Path, seed: int | None) -> ScenarioReport:
        return await run_scenario_live(scenario, db, reactor, seed)

    raise SystemExit(await _run_scenarios(paths, seed, report_dir, replay, allow_outside, rules_off))


async def _run_scenarios(paths: Sequence[str], seed: int | None, report_dir: str | None,
                         replay: Callable[[Scenario, Path, int | None], Awaitable[ScenarioReport]],
                         allow_outside: bool = False, rules_off: Sequence[str] = ()) -> int:
    off = RULE_NAMES if "all" in rules_off else tuple(dict.fromkeys(rules_off))
    loaded = []
    invalid = False
    for name in paths:
        try:
            scenario = load_scenario(name, allow_outside=allow_outside)
            if off:
                scenario = replace(scenario, network=scenario.network.without_rules(off))
            loaded.append((Path(name), scenario))
        except ConfigError as error:
            print(f"{error}", file=sys.stderr)
            invalid = True
    if invalid:
        return 2
    if seed is not None and seed < 0:
        print("smsc-harness run: --seed must be >= 0", file=sys.stderr)
        return 2
    root = Path(report_dir) if report_dir is not None else Path("reports-out")
    reports: list[ScenarioReport] = []
    walls: dict[str, WallClock] = {}
    broken = False
    for path, scenario in loaded:
        out = root / path.stem
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="smsc-harness-run-") as tmp:
            started = time.monotonic()
            try:
                report = await replay(scenario, Path(tmp) / "run.db", seed)
            except ScenarioRunError as error:
                print(f"FAIL  {scenario.name}  ({path}): the replay stopped: {error}", file=sys.stderr)
                broken = True
                continue
            wall = WallClock(time.monotonic() - started)
        reports.append(report)
        walls[report.name] = wall
        (out / "report.json").write_text(render_json(report), encoding="utf-8")
        (out / "report.html").write_text(render_html(report, wall), encoding="utf-8")
        sys.stdout.write(summary(report, wall))
        print(f"  reports       {out}/report.json, {out}/report.html")
    root.mkdir(parents=True, exist_ok=True)
    (root / "junit.xml").write_text(render_junit(reports, walls), encoding="utf-8")
    print(f"junit: {root / 'junit.xml'}")
    return 0 if not broken and all(r.passed for r in reports) else 1

