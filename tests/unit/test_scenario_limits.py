"""What `check` refuses because `run` could not do it, and the files a scenario may read: regular
files inside the scenario's directory tree (unless allow_outside), never quoted when refused."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from aggregator.config import ConfigError
from aggregator.limits import MAX_FILE_BYTES, MAX_NODES
from aggregator.passwords import hash_password
from scenarios import loader
from scenarios.loader import MAX_INCLUDE_DEPTH, MAX_POPULATION, MAX_TIMELINE, load_scenario
from scenarios.model import Advance

HEAD = "name: t\ntimeline:\n"
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def problems(path: Path, **kwargs: bool) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_scenario(path, **kwargs)
    return str(info.value).splitlines()


# --------------------------------------------------------------------------- the directory tree


def test_an_include_outside_the_scenario_directory_needs_allow_outside(tmp_path: Path) -> None:
    write(tmp_path, {"shared/day.yaml": "- advance: 1h\n",
                     "s/x.yaml": HEAD + "  - include: ../shared/day.yaml\n"})
    x = tmp_path / "s" / "x.yaml"
    assert problems(x) == [
        f"{x}:3:14: timeline[0].include: expected a file inside {tmp_path / 's'} (the scenario's directory;"
        f" --allow-outside lifts this), got {tmp_path / 'shared' / 'day.yaml'}"
    ]
    assert load_scenario(x, allow_outside=True).timeline[0] == Advance(3600.0, f"{tmp_path / 'shared' / 'day.yaml'}:1:3")


def test_absolute_paths_and_symlinks_are_judged_where_they_lead(tmp_path: Path) -> None:
    write(tmp_path, {"secret.yaml": "- advance: 1s\n", "s/x.yaml": HEAD + "  - include: link.yaml\n",
                     "s/y.yaml": HEAD + f"  - include: {tmp_path / 'secret.yaml'}\n"})
    (tmp_path / "s" / "link.yaml").symlink_to(tmp_path / "secret.yaml")
    for name in ("x.yaml", "y.yaml"):
        (line,) = problems(tmp_path / "s" / name)
        assert "expected a file inside" in line and line.endswith(".yaml") and "advance" not in line


def test_includes_of_includes_are_judged_against_the_top_scenario_directory(tmp_path: Path) -> None:
    """The top scenario's directory is the root for every level: a fragment may include a
    sibling of its own directory (still inside), not climb above the top scenario."""
    write(tmp_path, {
        "s/x.yaml": HEAD + "  - include: days/monday.yaml\n",
        "s/days/monday.yaml": "- include: ../common.yaml\n",    # s/common.yaml: inside
        "s/common.yaml": "- advance: 1m\n- include: ../../up.yaml\n",  # tmp/up.yaml: outside
        "up.yaml": "- advance: 1s\n",
    })
    (line,) = problems(tmp_path / "s" / "x.yaml")
    assert line.startswith(f"{tmp_path / 's' / 'common.yaml'}:2:12: timeline[0].include[0].include[1].include:"
                           f" expected a file inside {tmp_path / 's'}")


def test_a_network_file_outside_the_tree_is_refused_too(tmp_path: Path) -> None:
    write(tmp_path, {"net.yaml": "operators: []\n", "s/x.yaml": "name: t\nnetwork: ../net.yaml\ntimeline: []\n"})
    (line,) = problems(tmp_path / "s" / "x.yaml")
    assert line.startswith(f"{tmp_path / 's' / 'x.yaml'}:2:10: network: expected a file inside {tmp_path / 's'}")


def test_a_refused_file_is_never_quoted(tmp_path: Path) -> None:
    """An outside file is not even read; one allowed in that is not a list of steps is named,
    not shown (before: `expected a list, got "<its first line>"`)."""
    write(tmp_path, {"passwd": "root:x:0:0:root:/root:/bin/bash\n", "s/x.yaml": HEAD + "  - include: ../passwd\n"})
    for allow in (False, True):
        lines = problems(tmp_path / "s" / "x.yaml", allow_outside=allow)
        assert not any("root:" in line or "/bin/bash" in line for line in lines), lines
    assert problems(tmp_path / "s" / "x.yaml", allow_outside=True) == [
        f"{tmp_path / 'passwd'}:1:1: expected a list of steps, got a single YAML value (the file's text is not shown)"
    ]


# --------------------------------------------------------------------------- kinds and sizes


def test_an_included_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    write(tmp_path, {"x.yaml": HEAD + "  - include: pipe.yaml\n"})
    os.mkfifo(tmp_path / "pipe.yaml")
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(problems(tmp_path / "x.yaml")), daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # the code before opened it for reading: unblock that open()
        os.close(os.open(tmp_path / "pipe.yaml", os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=10)
        pytest.fail("an included FIFO blocked the loader")
    assert outcome == [[f"{tmp_path / 'x.yaml'}:3:14: timeline[0].include: cannot read included file"
                        f" {tmp_path / 'pipe.yaml'}: expected a regular file, got a FIFO (named pipe)"]]


def test_included_directories_devices_and_big_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "big.yaml").write_bytes(b"- advance: 1s\n" + b"#" * MAX_FILE_BYTES)
    write(tmp_path, {"x.yaml": HEAD + "  - include: dir.yaml\n  - include: big.yaml\n  - include: /dev/zero\n"})
    assert problems(tmp_path / "x.yaml", allow_outside=True) == [
        f"{tmp_path / 'x.yaml'}:3:14: timeline[0].include: cannot read included file {tmp_path / 'dir.yaml'}:"
        " expected a regular file, got a directory",
        f"{tmp_path / 'x.yaml'}:4:14: timeline[1].include: cannot read included file {tmp_path / 'big.yaml'}:"
        f" expected a file of at most {MAX_FILE_BYTES} bytes, got {MAX_FILE_BYTES + 14} bytes",
        f"{tmp_path / 'x.yaml'}:5:14: timeline[2].include: cannot read included file /dev/zero:"
        " expected a regular file, got a character device",
    ]


# --------------------------------------------------------------------------- what run can do


def test_the_shipped_month_passes_within_every_bound() -> None:
    month = load_scenario(SCENARIOS / "million_month.yaml")
    assert month.planned_messages() == 1_036_000 <= loader.MAX_MESSAGES
    elapsed = sum(step.seconds for step in month.timeline if isinstance(step, Advance))
    assert elapsed == 31 * 86400 <= MAX_TIMELINE
    assert len(month.timeline) <= loader.MAX_STEPS


def test_a_timeline_past_a_year_is_refused_at_the_step_that_passes_it(tmp_path: Path) -> None:
    write(tmp_path, {"x.yaml": HEAD + "  - advance: 10000d\n", "y.yaml": HEAD + "  - advance: 1d\n" * 367})
    assert problems(tmp_path / "x.yaml") == [
        f"{tmp_path / 'x.yaml'}:3:14: timeline[0].advance: expected a duration that keeps the timeline within 366"
        ' days of simulated time (it would reach 10000 days), got "10000d"'
    ]
    assert problems(tmp_path / "y.yaml") == [
        f"{tmp_path / 'y.yaml'}:369:14: timeline[366].advance: expected a duration that keeps the timeline within"
        ' 366 days of simulated time (it would reach 367 days), got "1d"'
    ]


def test_populations_counts_and_rates_past_their_bounds(tmp_path: Path) -> None:
    text = ('name: t\nsubscribers:\n  - {name: p, prefix: "+336", count: 1000000000000}\n'
            "  - {name: q, prefix: \"+337\", count: 10}\ntimeline:\n  - bind: {account: demo}\n"
            "  - campaign: {account: demo, to: q, text: hi, rate: 1.0e+308}\n"
            "  - operator: {id: sfr, throughput: {rate: 1, burst: 1000000}}\n")
    write(tmp_path, {"x.yaml": text})
    x = tmp_path / "x.yaml"
    assert problems(x) == [
        f"{x}:3:38: subscribers[0].count: expected an integer from 1 to {MAX_POPULATION}, got 1000000000000",
        f"{x}:7:54: timeline[1].campaign.rate: expected a positive number of messages a second, at most 100000,"
        " got 1.0e+308",
        f"{x}:8:54: timeline[2].operator.throughput.burst: expected an integer from 1 to 100000, got 1000000",
    ]


def test_the_messages_of_a_timeline_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_MESSAGES", 25)
    text = ('name: t\nsubscribers:\n  - {name: p, prefix: "+336", count: 20}\ntimeline:\n  - bind: {account: demo}\n'
            "  - campaign: {account: demo, to: p, text: hi}\n"
            '  - submit: {account: demo, to: "+33612345678", text: hi}\n' * 1
            + "  - campaign: {account: demo, to: p, text: hi, count: 5}\n")
    write(tmp_path, {"x.yaml": text})
    assert problems(tmp_path / "x.yaml") == [
        f"{tmp_path / 'x.yaml'}:8:15: timeline[3].campaign: expected a timeline of at most 25 messages in all, got 26 by this step"
    ]


def test_a_message_text_must_fit_one_submit_sm(tmp_path: Path) -> None:
    """Before: check passed, and run died in the codec (ValueError: short_message longer than 254 octets)."""
    write(tmp_path, {"x.yaml": HEAD + f'  - submit: {{account: demo, to: "+33612345678", text: "{"é" * 255}"}}\n'})
    (line,) = problems(tmp_path / "x.yaml")
    assert "timeline[0].submit.text: expected a message text of at most 254 characters" in line


def test_steps_multiplied_by_includes_stop_at_the_step_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files including the next one ten times each: 10**6 steps from 60 lines."""
    monkeypatch.setattr(loader, "MAX_STEPS", 1000)
    files = {f"l{i}.yaml": "- include: l{}.yaml\n".format(i + 1) * 10 for i in range(5)}
    files["l5.yaml"] = "- advance: 1s\n"
    files["x.yaml"] = HEAD + "  - include: l0.yaml\n"
    write(tmp_path, files)
    (line,) = problems(tmp_path / "x.yaml")
    assert line.endswith("expected at most 1000 steps once includes are expanded, got more")


def test_includes_nest_at_most_eight_deep(tmp_path: Path) -> None:
    files = {f"l{i}.yaml": f"- include: l{i + 1}.yaml\n" for i in range(MAX_INCLUDE_DEPTH + 1)}
    files[f"l{MAX_INCLUDE_DEPTH + 1}.yaml"] = "- advance: 1s\n"
    files["x.yaml"] = HEAD + "  - include: l0.yaml\n"
    write(tmp_path, files)
    (line,) = problems(tmp_path / "x.yaml")
    assert f"expected includes nested at most {MAX_INCLUDE_DEPTH} deep, got deeper" in line
    files[f"l{MAX_INCLUDE_DEPTH - 1}.yaml"] = "- advance: 1s\n"   # exactly eight levels
    write(tmp_path, files)
    assert load_scenario(tmp_path / "x.yaml").timeline == (Advance(1.0, f"{tmp_path / f'l{MAX_INCLUDE_DEPTH - 1}.yaml'}:1:3"),)


def test_an_alias_bomb_in_an_include_is_refused(tmp_path: Path) -> None:
    bomb = "- &a0 {advance: 1s}\n"
    bomb += "".join(f"- &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 8))
    write(tmp_path, {"x.yaml": HEAD + "  - include: bomb.yaml\n", "bomb.yaml": bomb})
    (line,) = problems(tmp_path / "x.yaml")
    assert line.startswith(f"{tmp_path / 'bomb.yaml'}:") and f"at most {MAX_NODES} YAML nodes in all" in line


def test_a_clock_outside_datetime_range_once_run(tmp_path: Path) -> None:
    write(tmp_path, {"x.yaml": 'name: t\nclock: {start: "9999-12-31T00:00:00"}\ntimeline:\n  - advance: 2d\n'})
    (line,) = problems(tmp_path / "x.yaml")
    assert line.endswith('clock.start: expected a local date and time such as "2026-12-01T09:00:00",'
                         ' in the years 1970 to 9998, got "9999-12-31T00:00:00"')


def test_a_scenario_cannot_bind_an_account_it_only_has_a_hash_for(tmp_path: Path) -> None:
    hashed = hash_password("pw", "pbkdf2")
    write(tmp_path, {"x.yaml": f'name: t\naccounts:\n  - {{system_id: h, password_hash: "{hashed}"}}\n'
                               "timeline:\n  - bind: {account: h}\n  - bind: {account: demo}\n"})
    (line,) = problems(tmp_path / "x.yaml")
    assert line == (f"{tmp_path / 'x.yaml'}:5:21: timeline[0].bind.account: account 'h' has a password_hash: the"
                    " scenario's client binds with the plain password, so give that account a password in the"
                    " scenario's accounts")
