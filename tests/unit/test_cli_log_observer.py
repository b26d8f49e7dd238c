"""serve's log observer: a logged failure keeps its text and its traceback."""

from __future__ import annotations

import gc
import io

from twisted.internet import defer
from twisted.logger import Logger, globalLogPublisher

from cli.serve import _text_observer


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
    assert first.split() == ["aggregator.test", "critical", "flush", "of", "3", "rows", "failed"]
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
    ours = [line for line in lines if line.startswith("twisted.internet.defer")]
    assert len(ours) == 2, lines
    assert ours[0].endswith("Unhandled error in Deferred:")
    assert ours[1].endswith("critical ValueError: the store went away")
    assert "    Traceback (most recent call last):" in lines
    assert any("in boom" in line for line in lines)
    assert lines[-1] == "    builtins.ValueError: the store went away"


def test_an_event_without_text_says_so() -> None:
    out = io.StringIO()
    _text_observer(out)({"log_namespace": "x", "log_format": None})
    assert out.getvalue() == "x                      -     (no message)\n"
