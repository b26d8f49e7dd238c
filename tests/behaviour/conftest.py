"""The fixtures most behaviour tests share: the default network on the memory stack, and the
demo account's transceiver bound to it (MOs to 36180 reach it). A module that needs another
network or scope defines its own `stack`."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.memstack import Client, MemStack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[MemStack]:
    running = MemStack.start(tmp_path / "stack.db")
    yield running
    running.stop()


@pytest.fixture
def client(stack: MemStack) -> Client:
    return stack.client()
