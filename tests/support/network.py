"""The shipped default network as YAML text, for tests that change a few keys of it."""

from __future__ import annotations

from aggregator.config import load_config


def default_network_text(without_limits: bool = True) -> str:
    """The default network file's text; without its closing `limits:` block by default, so a
    test can append one of its own."""
    text = open(load_config().source, encoding="utf-8").read()
    if without_limits:
        head, found, _ = text.partition("\nlimits:\n")
        assert found, "the default network has no limits: block at its end any more"
        text = head + "\n"
    return text
