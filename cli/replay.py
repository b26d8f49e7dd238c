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
from scenarios.reach import reach
from scenarios.runner import ScenarioRunError, run_scenario, run_scenario_live

# A progress bar (on stderr) for scenarios planning at least this many messages, or on a terminal.
PROGRESS_MIN_MESSAGES = 10_000
# Numbers that will not route that `check` names one by one; the rest are counted.
CHECK_UNROUTABLE_SHOWN = 10


def routing_lines(path: str, scenario: Scenario) -> tuple[list[str], list[str]]:
    """What `check` says of routing: (lines for stdout, problems for stderr). Each drawn
    population: its numbers and the draws skipped because they did not route; the numbers
    written in the scenario that will not route, the first few named (with why)."""
    found = reach(scenario)
    out: list[str] = []
    problems: list[str] = []
    for population, kept, skipped, error in found.drawn:
        if error is not None:
            problems.append(f"{population.source}: subscribers: population {population.name}: {error}")
            continue
        tried = kept + skipped
        share = f" ({skipped / tried * 100:.1f} % of {tried:,} drawn)" if skipped else ""
        out.append(f"  routing: population {population.name}: {kept:,} numbers under {population.prefix},"
                   f" all routed; {skipped:,} draws skipped{share}")
    if found.unroutable:
        out.append(f"  routing: {len(found.unroutable):,} number(s) written in the scenario will not route"
                   f" ({found.sends:,} submit(s) will be refused ESME_RINVDSTADR):")
        out.extend(f"    {where}: {number}: {why}" for where, number, why in found.unroutable[:CHECK_UNROUTABLE_SHOWN])
        if len(found.unroutable) > CHECK_UNROUTABLE_SHOWN:
            out.append(f"    and {len(found.unroutable) - CHECK_UNROUTABLE_SHOWN:,} more")
    return out, problems


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
            lines, problems = routing_lines(path, scenario)
            for problem in problems:
                print(problem, file=sys.stderr)
            if problems:
                status = 2
                continue
            print(f"ok: {path}: {scenario.name!r}, {len(scenario.timeline)} step(s), seed {scenario.seed}")
            for line in lines:
                print(line)
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


def _sources(report: ScenarioReport) -> dict[str, str]:
    """The text of each file an expectation of `report` comes from, for report.html's links to
    its lines (the loader has read them already: regular files of at most 256 KiB)."""
    texts: dict[str, str] = {}
    for expectation in report.expectations:
        name = expectation.source.rsplit(":", 2)[0]
        if name not in texts:
            try:
                texts[name] = Path(name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue                    # moved meanwhile: the report names it, unlinked
    return texts


def report_dirs(paths: Sequence[Path]) -> list[str]:
    """Each scenario's report folder under --report-dir: its file name without `.yaml`, and,
    when two scenarios of one run have the same file name (a/smoke.yaml, b/smoke.yaml), as
    many of their parent folders as tell them apart (a/smoke, b/smoke), so neither report
    overwrites the other. The same file given twice gets -2, -3... on its repeats."""
    resolved = [path.resolve() for path in paths]
    depth = [1] * len(paths)

    def name(i: int) -> str:
        parts = resolved[i].with_suffix("").parts
        return "/".join(parts[-depth[i]:])

    while True:
        groups: dict[str, list[int]] = {}
        for i in range(len(paths)):
            groups.setdefault(name(i), []).append(i)
        clashes = [ids for ids in groups.values()
                   if len({resolved[i] for i in ids}) > 1]       # distinct files, one name
        if not clashes:
            break
        for ids in clashes:
            for i in ids:
                depth[i] = min(depth[i] + 1, len(resolved[i].parts) - 1)
        if all(depth[i] >= len(resolved[i].parts) - 1 for ids in clashes for i in ids):
            break
    names = [name(i) for i in range(len(paths))]
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            names[i] = f"{n}-{seen[n]}"
    return names


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
    outs = report_dirs([path for path, _ in loaded])
    for (path, scenario), name in zip(loaded, outs):
        out = root / name
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
        (out / "report.html").write_text(render_html(report, wall, _sources(report)), encoding="utf-8")
        sys.stdout.write(summary(report, wall))
        print(f"  reports       {out}/report.json, {out}/report.html")
    root.mkdir(parents=True, exist_ok=True)
    (root / "junit.xml").write_text(render_junit(reports, walls), encoding="utf-8")
    print(f"junit: {root / 'junit.xml'}")
    return 0 if not broken and all(r.passed for r in reports) else 1

