"""The operator rules of the French bulk-SMS contracts (../shared/RULES.md), one module each.

- :mod:`~aggregator.rules.settings`: each rule's settings (the config's ``rules:``).
- :mod:`~aggregator.rules.base`: what a rule sees and decides (``Submit``, ``Outcome``,
  ``Mo``; ``Refusal``, ``Reply``, ``LedgerLine``, ``RuleEvent``) and the ``Rule`` base class.
- :mod:`~aggregator.rules.pipeline`: ``Rules``, which the client server and the delivery
  engine call at their four points (a submit, an accepted submit, an operator outcome, an MO).
- one module per rule, named after it: ``stop`` (R1), ``purge`` (R2), ``skew`` (R3),
  ``duplicate`` (R8), ``credit`` (R10), ``contact`` (R11).

This file imports nothing: the config reader imports ``settings`` without pulling the rules in.
"""
