"""`python -m cli ...` is `smsc-harness ...` (the tests start real processes this way)."""

from cli import run

run()
