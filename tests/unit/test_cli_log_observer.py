"""serve's log observer: each line starts with its time (and the simulated time under
--speed); a logged failure keeps its text and its traceback."""

from __future__ import annotations

import gc
import io

import pytest
from twisted.internet import defer
from twisted.logger import Logger, LogLevel, globalLogPublisher

from cli.args import build_parser
from cli.serve import _text_observer, log_level


def boom() -> None:
    raise ValueError("the store went away")


def test_log_failure_prints_its_line_then_the_traceback() -> None:
    out = io.StringIO()
    log = Logger(namespace="aggregator.test", observer=_text_observer(out))
    try:
        boom()
    except ValueError:
        log.failure("flush of {count} rows failed", count=3)
    first, *rest = out.getvalue().splitlines()
    assert first.split()[1:] == ["aggregator.test", "critical", "flush", "of", "3", "rows", "failed"]
    assert rest[0] == "    Traceback (most recent call last):"
    assert any("in boom" in line for line in rest)
    assert rest[-1] == "    builtins.ValueError: the store went away"


def test_an_unhandled_error_in_a_deferred_keeps_its_text_and_traceback() -> None:
    """Twisted logs it as two events: a critical line, then log.failure with an empty format.
    Before, the second printed as an empty line, the error and its traceback lost."""
    out = io.StringIO()
    observer = _text_observer(out)
    globalLogPublisher.addObserver(observer)
    try:
        lost: defer.Deferred[None] = defer.Deferred()
        lost.addCallback(lambda _: boom())
        lost.callback(None)
        del lost
        gc.collect()
    finally:
        globalLogPublisher.removeObserver(observer)
    lines = out.getvalue().splitlines()
    ours = [line for line in lines if line.split(" ", 1)[-1].startswith("twisted.internet.defer")]
    assert len(ours) == 2, lines
    assert ours[0].endswith("Unhandled error in Deferred:")
    assert ours[1].endswith("critical ValueError: the store went away")
    assert "    Traceback (most recent call last):" in lines
    assert any("in boom" in line for line in lines)
    assert lines[-1] == "    builtins.ValueError: the store went away"


def test_an_event_without_text_says_so() -> None:
    out = io.StringIO()
    _text_observer(out)({"log_namespace": "x", "log_format": None})
    assert out.getvalue() == "- x                      -     (no message)\n"


def test_each_line_starts_with_its_time_and_the_simulated_time_under_speed() -> None:
    event = {"log_namespace": "aggregator.delivery", "log_level": LogLevel.info, "log_format": "accepted {id}",
             "id": "m1", "log_time": 1_796_000_000.25}
    out = io.StringIO()
    _text_observer(out)(event)
    assert out.getvalue() == "2026-11-30T00:53:20.250Z aggregator.delivery    info  accepted m1\n"
    out = io.StringIO()
    _text_observer(out, simulated=lambda: 1_796_003_600.0)(event)
    assert out.getvalue().startswith("2026-11-30T00:53:20.250Z [sim 2026-11-30T01:53:20.000Z] aggregator.delivery ")


def test_serve_log_level_by_flag() -> None:
    """info by default, warn with --bench or --quiet, --log-level wins over --bench; --quiet and
    --log-level together are refused (one says how much to log)."""
    def level(*argv: str) -> str:
        return log_level(build_parser().parse_args(["serve", *argv]))

    assert level() == "info"
    assert level("--quiet") == "warn"
    assert level("--bench") == "warn"
    assert level("--bench", "--log-level", "debug") == "debug"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--quiet", "--log-level", "info"])
