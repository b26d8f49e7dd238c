"""R1 `stop` (aggregator/rules/stop.py) and the keyword folding it shares with R11
(aggregator/rules/keywords.py): what is a STOP, the opt-out list, the refusal, a restart.
Pure objects on a task.Clock and a Store(":memory:"); the server-side spelling of numbers
is proved in tests/behaviour/test_rule_stop_mo.py."""

from __future__ import annotations

from dataclasses import replace

import pytest
from twisted.internet.task import Clock

from aggregator.rules.base import Mo, Reply, Submit
from aggregator.rules.keywords import fold, keyword_in
from aggregator.rules.settings import RulesConfig, StopSettings
from aggregator.rules.stop import OptOut, StopRule
from aggregator.server import mo_text
from aggregator.store import Store
from smsc.pdu.status import CommandStatus

KEYWORDS = StopSettings().keywords
SUBSCRIBER = "+33612345678"
T0 = 1_000.0


def settings(**stop: object) -> RulesConfig:
    return RulesConfig(stop=replace(StopSettings(), **stop))  # type: ignore[arg-type]


def mo(text: str, sender: str = SUBSCRIBER, account: str = "shop", at: float = T0) -> Mo:
    return Mo(account, sender, "38000", text, at)


def submit(msisdn: str = SUBSCRIBER, marketing: bool = True, account: str = "shop") -> Submit:
    return Submit(account, msisdn, "sfr", "FR", None, marketing, 1, T0 + 10)


@pytest.fixture
def store() -> Store:
    return Store(":memory:")


@pytest.fixture
def rule(store: Store) -> StopRule:
    clock = Clock()
    clock.advance(T0)
    return StopRule(clock, store)


# --- what is a STOP ----------------------------------------------------------------------

IS_STOP = {
    "Stop": "STOP",
    "STOP": "STOP",
    "stop!!": "STOP",
    "STOP.": "STOP",
    "  s t o p ": "STOP",
    "STOP SMS": "STOP SMS",
    "STOPSMS": "STOP SMS",
    "stop sms au 36180": "STOP SMS",
    "STOP 36180": "STOP",
    "STOP à 38000": "STOP",
    "Désabo STOP": "STOP",
    "ARRET": "ARRET",
    "Arrêt": "ARRET",
    "ARRÊT SMS svp": "ARRET SMS",
    "Stop merci": "STOP",
    "stop\n": "STOP",
    "ＳＴＯＰ": "STOP",             # full width, as some UCS-2 keyboards send it
    "🛑 STOP 🛑": "STOP",
    "Désinscrire": "DESINSCRIRE",
    "unsubscribe": "UNSUBSCRIBE",
}

NOT_STOP = ["", "   ", "!!!", "?", "36180", "au 36180", "SMS", "Don't stop the music", "STOP the spam and call me",
            "stop ça", "STOP CONTACT", "STOPΣ", "Bonjour", "STOPPER", "ST0P", "x" * 300, "STOP " * 60]


@pytest.mark.parametrize("text, keyword", IS_STOP.items(), ids=list(IS_STOP))
def test_stop_in_its_spellings(text: str, keyword: str) -> None:
    assert keyword_in(text, KEYWORDS) == keyword


@pytest.mark.parametrize("text", NOT_STOP, ids=[t[:20] or "empty" for t in NOT_STOP])
def test_what_is_not_a_stop(text: str) -> None:
    assert keyword_in(text, KEYWORDS) is None


def test_fold() -> None:
    assert fold("  Désabo,   STOP!! ") == "DESABO STOP"
    assert fold("straße") == "STRASSE"
    assert fold("\u00a0stop\u2003sms\t") == "STOP SMS"       # every kind of space
    assert fold("") == "" and fold("...") == ""


def test_the_keyword_list_is_the_settings() -> None:
    assert keyword_in("halt", ("HALT", "Fin")) == "HALT"
    assert keyword_in("FIN!", ("HALT", "Fin")) == "Fin"
    assert keyword_in("stop", ("HALT", "Fin")) is None
    assert keyword_in("Halte là", ("Halte là",)) == "Halte là"   # keywords are folded too


# --- MO text as the server reads it ----------------------------------------------------

def test_mo_text_in_every_coding() -> None:
    assert mo_text(0, b"STOP") == "STOP"
    assert mo_text(8, "Désabo STOP".encode("utf-16-be")) == "Désabo STOP"
    assert mo_text(8, b"\x00S\x00T\x00") == "ST\ufffd"                 # odd UCS-2: no exception
    assert mo_text(3, "Arrêt".encode("latin-1")) == "Arrêt"
    assert mo_text(0, "Arrêt".encode("latin-1")) == "Arrêt"             # Latin-1 under 0 (octets > 0x7F)
    assert mo_text(0, b"D\x05sabo STOP") == "Désabo STOP"                # GSM 03.38 unpacked: 0x05 is é
    assert mo_text(0, b"\x00 STOP \x1b\x65") == "@ STOP €"               # @ and an escape
    assert mo_text(0xF0, b"Arr\x05t") == "Arrét"                         # GSM with a message class
    assert mo_text(0x18, "STOP".encode("utf-16-be")) == "STOP"           # UCS-2 by the general group
    assert mo_text(0, b"") == "" and mo_text(8, b"") == ""
    assert mo_text(0, b"\x05\x00\x03\x2a\x02\x01STOP", udh=True) == "STOP"
    assert mo_text(0, b"\x09", udh=True) == ""                            # a UDH longer than the text


@pytest.mark.parametrize("octets, coding", [("Stop !".encode("utf-16-be"), 8), (b"", 0), (b"...", 0),
                                            ("D\u00e9sabo STOP".encode("latin-1"), 3), (b"\x1b", 0)])
def test_odd_mos_fold_without_error(octets: bytes, coding: int) -> None:
    text = mo_text(coding, octets)
    assert keyword_in(text, KEYWORDS) in (None, "STOP")


# --- the rule ------------------------------------------------------------------------------

def test_a_stop_opts_out_and_confirms(rule: StopRule, store: Store) -> None:
    reply = rule.mo(mo("Désabo STOP"), settings(), None)
    text = StopSettings().confirm_text
    assert reply == Reply("stop", "shop", "38000", SUBSCRIBER, text)
    assert rule.optouts() == [OptOut("shop", SUBSCRIBER, T0, "mo")]
    store.flush()
    events = store.rule_events("stop")
    assert [(e.action, e.account, e.number, e.at) for e in events] == [("optout", "shop", SUBSCRIBER, T0),
                                                                        ("confirm", "shop", SUBSCRIBER, T0)]
    assert events[0].facts == {"by": "mo", "keyword": "STOP", "short_code": "38000", "text": "Désabo STOP"}
    assert events[1].facts["text"] == text
    assert store.optouts() == [("shop", SUBSCRIBER, T0, "mo")]


def test_a_second_stop_changes_nothing(rule: StopRule, store: Store) -> None:
    assert rule.mo(mo("STOP"), settings(), None) is not None
    assert rule.mo(mo("stop", at=T0 + 5), settings(), None) is None       # no loop with an auto-replying handset
    store.flush()
    assert [e.action for e in store.rule_events("stop")] == ["optout", "confirm"]
    assert rule.optouts()[0].since == T0


def test_no_confirmation_when_switched_off_or_not_a_phone_number(rule: StopRule, store: Store) -> None:
    assert rule.mo(mo("STOP"), settings(confirm=False), None) is None
    assert rule.mo(mo("STOP", sender="ACME"), settings(), None) is None
    assert rule.is_opted_out("shop", SUBSCRIBER) and rule.is_opted_out("shop", "ACME")
    store.flush()
    assert [e.action for e in store.rule_events("stop")] == ["optout", "optout"]


def test_other_mos_do_nothing(rule: StopRule, store: Store) -> None:
    for text in ("", "Bonjour", "Don't stop the music", "CONTACT"):
        assert rule.mo(mo(text), settings(), None) is None
    assert rule.optouts() == []
    store.flush()
    assert store.rule_events() == []


def test_a_keyword_list_override(rule: StopRule) -> None:
    custom = settings(keywords=("FIN",))
    assert rule.mo(mo("STOP"), custom, None) is None
    assert rule.mo(mo("fin."), custom, None) is not None


def test_marketing_is_refused_transactional_passes(rule: StopRule) -> None:
    rule.mo(mo("STOP"), settings(), None)
    refusal = rule.check(submit(), settings())
    assert refusal is not None and refusal.rule == "stop" and refusal.status is CommandStatus.RULE_OPTED_OUT
    assert SUBSCRIBER in refusal.reason
    assert rule.check(submit(marketing=False), settings()) is None
    assert rule.check(submit(marketing=False), settings(transactional=True)) is not None
    assert rule.check(submit("+33612345679"), settings()) is None         # another number
    assert rule.check(submit(account="other"), settings()) is None        # another account's list


def test_manual_add_and_remove(rule: StopRule, store: Store) -> None:
    added = rule.add("shop", "+33699990001")
    assert added == OptOut("shop", "+33699990001", T0, "manual")
    assert rule.add("shop", "+33699990001") is None                       # already there: nothing
    assert rule.check(submit("+33699990001"), settings()) is not None
    assert rule.remove("shop", "+33699990001") == added
    assert rule.remove("shop", "+33699990001") is None
    assert rule.check(submit("+33699990001"), settings()) is None
    store.flush()
    events = store.rule_events("stop")
    assert [(e.action, dict(e.facts)) for e in events] == [
        ("optout", {"by": "manual"}), ("release", {"by": "manual", "since": T0, "how": "manual"})]
    assert store.optouts() == []


def test_a_restart_keeps_the_lists(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "s.db")
    store = Store(path)
    clock = Clock()
    clock.advance(T0)
    first = StopRule(clock, store)
    first.mo(mo("STOP"), settings(), None)
    first.add("bank", "+33699990001")
    first.add("bank", "+33699990002")
    first.remove("bank", "+33699990002")
    store.close()
    again = StopRule(clock, Store(path))
    assert again.optouts() == [OptOut("bank", "+33699990001", T0, "manual"), OptOut("shop", SUBSCRIBER, T0, "mo")]
    assert again.optouts("shop") == [OptOut("shop", SUBSCRIBER, T0, "mo")]
    assert again.check(submit(), settings()) is not None


def test_gsm_default_alphabet_decoding() -> None:
    from smsc.pdu.gsm import decode_gsm, looks_gsm
    assert decode_gsm(bytes(range(0x20, 0x40))) == " !\"#¤%&'()*+,-./0123456789:;<=>?"   # 0x24 is ¤ in GSM
    assert decode_gsm(b"\x1b\x28\x1b\x29\x1b\x3c\x1b\x3e") == "{}[]"
    assert decode_gsm(b"STOP\x1b") == "STOP "                          # a lone escape at the end
    assert decode_gsm(b"\x1b\x41") == "A"                              # an unknown escape: the basic character
    assert decode_gsm(b"\xe9") == "é"                                  # not a septet: Latin-1
    assert looks_gsm(b"D\x05sabo") and not looks_gsm(b"STOP\r\n") and not looks_gsm(b"Arr\xeat")
    assert not looks_gsm(b"\x05\xe9")                                  # an octet above 0x7F: not GSM
