"""R11 `contact` (aggregator/rules/contact.py): which MOs are a CONTACT, the reply built from
the account's identity and its 3-segment bound, an account without identity, and the interval
that stops an endless exchange with a handset that answers every MT with CONTACT."""

from __future__ import annotations

from dataclasses import replace

import pytest
from twisted.internet.task import Clock

from aggregator.config.rules import MAX_TEXT
from aggregator.rules.base import Mo, Reply
from aggregator.rules.contact import UCS2_MAX, ContactRule, contact_text
from aggregator.rules.settings import ContactSettings, Identity, RulesConfig
from aggregator.server import mo_text
from aggregator.store import Store

ACME = Identity("ACME SAS", "1 rue de la Paix, 75002 Paris", "contact@acme.fr")
SENDER = "+33699990008"
T0 = 5_000.0


def settings(**contact: object) -> RulesConfig:
    return RulesConfig(contact=replace(ContactSettings(), **contact))  # type: ignore[arg-type]


def mo(text: str, at: float = T0, sender: str = SENDER) -> Mo:
    return Mo("shop", sender, "38000", text, at)


@pytest.fixture
def store() -> Store:
    return Store(":memory:")


@pytest.fixture
def rule(store: Store) -> ContactRule:
    return ContactRule(Clock(), store)


@pytest.mark.parametrize("text", ["CONTACT", "contact", "Contact ?", " c o n t a c t ", "CONTACT au 38000",
                                  "contact svp", "ＣＯＮＴＡＣＴ"])
def test_a_contact_gets_the_identity(rule: ContactRule, store: Store, text: str) -> None:
    reply = rule.mo(mo(text), settings(), ACME)
    expected = "ACME SAS - 1 rue de la Paix, 75002 Paris - contact@acme.fr"
    assert reply == Reply("contact", "shop", "38000", SENDER, expected)
    store.flush()
    (event,) = store.rule_events("contact")
    assert (event.action, event.account, event.number, event.at) == ("reply", "shop", SENDER, T0)
    assert event.facts == {"sent": True, "short_code": "38000", "text": expected, "truncated": False}


@pytest.mark.parametrize("text", ["", "...", "contact me tomorrow", "STOP CONTACT", "CONTACTS", "STOP"])
def test_other_mos_get_nothing(rule: ContactRule, store: Store, text: str) -> None:
    assert rule.mo(mo(text), settings(), ACME) is None
    store.flush()
    assert store.rule_events() == []


def test_a_contact_in_ucs2(rule: ContactRule) -> None:
    assert rule.mo(mo(mo_text(8, "Contact 🙂".encode("utf-16-be"))), settings(), ACME) is not None


def test_no_identity_no_reply_but_an_event(rule: ContactRule, store: Store) -> None:
    assert rule.mo(mo("CONTACT"), settings(), None) is None
    store.flush()
    (event,) = store.rule_events("contact")
    assert event.action == "reply" and event.facts["sent"] is False
    assert "no identity" in event.facts["reason"]


def test_a_sender_that_is_not_a_number_gets_no_reply(rule: ContactRule, store: Store) -> None:
    assert rule.mo(mo("CONTACT", sender="ACME"), settings(), ACME) is None
    store.flush()
    assert store.rule_events("contact")[0].facts["sent"] is False


def test_one_reply_per_interval(rule: ContactRule, store: Store) -> None:
    assert rule.mo(mo("CONTACT"), settings(), ACME) is not None
    assert rule.mo(mo("CONTACT", at=T0 + 3599), settings(), ACME) is None     # the auto-replying handset
    assert rule.mo(mo("CONTACT", at=T0 + 3600), settings(), ACME) is not None
    assert rule.mo(mo("CONTACT", at=T0 + 3601, sender="+33612345678"), settings(), ACME) is not None
    assert rule.mo(mo("CONTACT", at=T0 + 3602), settings(interval=0), ACME) is not None
    store.flush()
    assert [e.facts["sent"] for e in store.rule_events("contact")] == [True, False, True, True, True]


def test_the_keyword_list_override(rule: ContactRule) -> None:
    assert rule.mo(mo("CONTACT"), settings(keywords=("INFO",)), ACME) is None
    assert rule.mo(mo("info!"), settings(keywords=("INFO",)), ACME) is not None


def test_a_long_identity_keeps_company_and_contact_whole() -> None:
    long = Identity("C" * 160, "A" * 160, "c" * 160)
    text, truncated = contact_text(long)
    assert truncated and len(text) == MAX_TEXT
    assert text.startswith("C" * 160 + " - A") and text.endswith("... - " + "c" * 160)
    assert contact_text(ACME) == ("ACME SAS - 1 rue de la Paix, 75002 Paris - contact@acme.fr", False)


def test_a_ucs2_identity_within_three_ucs2_segments() -> None:
    text, truncated = contact_text(Identity("Société Ωmega de Paris", "Ω" * 160, "+33 1 23 45 67 89"))
    assert truncated and len(text.encode("utf-16-be")) // 2 <= UCS2_MAX and text.endswith("... - +33 1 23 45 67 89")
    text, truncated = contact_text(Identity("Ω" * 160, "x", "🙂" * 80))   # even company + contact do not fit
    assert truncated and len(text.encode("utf-16-be")) // 2 <= UCS2_MAX
    assert not text.endswith("\ud83d")                                        # no half surrogate pair
