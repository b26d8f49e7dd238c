"""A simulated operator SMSC on its own, on the virtual network: a client binds straight to it,
as the aggregator's links do (tests/support/memstack.py `MemOperator`).

Everything is at exact simulated times: a submit is answered at START, a receipt due after
`delay` seconds arrives at START + delay and not a millisecond before, and "nothing arrived"
means nothing was due by then. The SMSC side's session timers (keepalive, inactivity, response
and bind timeouts) are off: these tests are about the operator's decisions, and the session
timers have their own tests (tests/unit/test_session.py, test_adapter.py, and the whole stack
in tests/behaviour). The clients keep their links alive with enquire_link, as the aggregator
does, through the long jumps of time.
"""

from __future__ import annotations

from typing import Iterator

import pytest
from twisted.internet import defer

from aggregator.config import load_config
from smsc.adapter import ResponseTimeout
from smsc.operators.profile import (
    Faults, Fixed, NumberRule, Outage, OutageMode, SlowResponses, SmscBehaviour, Throughput,
)
from smsc.pdu.codec import Command, Pdu, SmppMessageState, Tag
from smsc.pdu.receipt import Receipt
from smsc.pdu.smpptime import relative
from smsc.pdu.status import CommandStatus
from smsc.session import SessionConfig
from tests.support.memstack import START, Client, MemOperator

TEST_NUMBERS = load_config().test_numbers
SMSC_SESSION = SessionConfig(response_timeout=1e9, enquire_link_interval=None, inactivity_timeout=None)
CLIENT_SESSION = SessionConfig()                  # enquire_link every 30 s
OK = CommandStatus.ESME_ROK


def serve(behaviour: SmscBehaviour = SmscBehaviour(),
          test_numbers: tuple[NumberRule, ...] = TEST_NUMBERS) -> MemOperator:
    return MemOperator.start(behaviour, test_numbers, session=SMSC_SESSION, seed=1)


def client(op: MemOperator, mode: str = "transceiver", bind: bool = True,
           config: SessionConfig = CLIENT_SESSION) -> Client:
    return op.client(mode, bind, config)


@pytest.fixture
def op() -> Iterator[MemOperator]:
    running = serve()
    yield running
    running.stop()


def submit(op: MemOperator, esme: Client, number: str, **params: object) -> Pdu:
    params.setdefault("source_addr", "36180")
    params.setdefault("source_addr_ton", 3)
    return op.wait(esme.submit(number, **params), "the submit_sm_resp")  # type: ignore[arg-type, return-value]


def query(op: MemOperator, esme: Client, message_id: object) -> Pdu:
    return op.wait(esme.query(str(message_id)), "the query_sm_resp")  # type: ignore[return-value]


def receipts(esme: Client) -> list[tuple[float, Receipt]]:
    return esme.receipts_at()


# --- magic numbers -------------------------------------------------------------------------

@pytest.mark.parametrize("number, after, stat, err", [
    ("+33612345678", 0, "DELIVRD", "000"),
    ("+33699990000", 0, "DELIVRD", "000"),
    ("+33699990001", 1, "UNDELIV", "001"),
    ("+33699990002", 300, "DELIVRD", "000"),
    ("+33699990004", 1, "UNDELIV", "005"),
    ("+33699990006", 30, "DELIVRD", "000"),
])
def test_magic_number_receipts(op: MemOperator, number: str, after: float, stat: str, err: str) -> None:
    esme = client(op)
    resp = submit(op, esme, number, text=b"magic")
    assert resp.command_status == OK
    if after:
        op.run_to(START + after - 0.001)                  # a moment before: nothing yet
        assert esme.delivered == []
    op.run_to(START + after)
    assert [(at, r.message_id, r.stat, r.err) for at, r in receipts(esme)] == [
        (START + after, resp["message_id"], stat, err)]
    assert op.smsc.receipts_sent == 1 and op.smsc.submitted == 1


def test_magic_number_refused_at_submit(op: MemOperator) -> None:
    esme = client(op)
    resp = submit(op, esme, "+33699990005")
    assert resp.command_status == CommandStatus.ESME_RSUBMITFAIL
    assert op.smsc.submitted == 0 and op.smsc.refused == 1


def test_magic_number_without_receipt_is_still_known_to_query_sm(op: MemOperator) -> None:
    esme = client(op)
    resp = submit(op, esme, "+33699990009")
    assert resp.command_status == OK
    op.run(3600)
    assert esme.delivered == [] and op.smsc.receipts_sent == 0
    answer = query(op, esme, resp["message_id"])
    assert answer.command_status == OK and answer["message_state"] == SmppMessageState.DELIVERED
    assert str(answer["final_date"]).endswith("000+") and len(str(answer["final_date"])) == 16


def test_a_final_message_is_forgotten_48_hours_later(op: MemOperator) -> None:
    """QUERY_RETENTION: a final message is forgotten 48 h after its final state, by the purge
    that each new final state runs (so at the first final state from then on)."""
    esme = client(op)
    first = submit(op, esme, "+33699990000")             # delivered at once: final at START
    op.run_to(START + 48 * 3600 - 0.001)
    second = submit(op, esme, "+33699990000")            # final a moment before the 48 h: purges nothing
    op.run(0)
    assert query(op, esme, first["message_id"]).command_status == OK
    op.run_to(START + 48 * 3600)
    third = submit(op, esme, "+33699990000")             # final at 48 h: the purge forgets the first
    op.run(0)
    assert query(op, esme, first["message_id"]).command_status == CommandStatus.ESME_RQUERYFAIL
    assert query(op, esme, second["message_id"]).command_status == OK and third.command_status == OK


def test_magic_number_throttled_every_other_submit(op: MemOperator) -> None:
    esme = client(op)
    statuses = [submit(op, esme, "+33699990010").command_status for _ in range(5)]
    assert statuses == [OK, CommandStatus.ESME_RTHROTTLED, OK, CommandStatus.ESME_RTHROTTLED, OK]
    assert op.smsc.throttled == 2


@pytest.mark.parametrize("number, keyword", [("+33699990007", b"STOP"), ("+33699990008", b"CONTACT")])
def test_magic_number_replies_with_an_mo(op: MemOperator, number: str, keyword: bytes) -> None:
    esme = client(op)
    resp = submit(op, esme, number, registered_delivery=1)
    op.run(1 + 4)                                         # the receipt after 1 s, the reply 1 to 4 s later
    assert [(at, r.message_id, r.stat) for at, r in receipts(esme)] == [(START + 1, resp["message_id"], "DELIVRD")]
    ((at, mo),) = [(at, p) for at, p in esme.delivered if p["esm_class"] == 0]
    assert START + 1 + 1 <= at <= START + 1 + 4           # drawn from the operator's seeded stream
    assert mo.command is Command.deliver_sm
    assert (mo["source_addr"], mo["source_addr_ton"], mo["source_addr_npi"]) == (number.lstrip("+"), 1, 1)
    assert (mo["destination_addr"], mo["dest_addr_ton"]) == ("36180", 3)
    assert mo["short_message"] == keyword
    assert op.smsc.mo_sent == 1


def test_no_reply_can_reach_an_alphanumeric_sender(op: MemOperator) -> None:
    esme = client(op)
    submit(op, esme, "+33699990007", source_addr="MyShop", source_addr_ton=5)
    op.run(1 + 4 + 10)
    assert [(at, r.stat) for at, r in receipts(esme)] == [(START + 1, "DELIVRD")]
    assert len(esme.delivered) == 1                       # the receipt, and no MO
    assert (op.smsc.mo_sent, op.smsc.mo_dropped) == (0, 1)


def test_absent_subscriber_expires_at_the_end_of_a_one_hour_validity(op: MemOperator) -> None:
    esme = client(op)
    resp = submit(op, esme, "+33699990003", validity_period=relative(3600))
    assert resp.command_status == OK
    op.run_to(START + 3600 - 0.001)
    assert esme.delivered == []
    answer = query(op, esme, resp["message_id"])
    assert answer["message_state"] == SmppMessageState.ENROUTE and answer["final_date"] == ""
    op.run_to(START + 3600)
    assert [(at, r.message_id, r.stat, r.err) for at, r in receipts(esme)] == [
        (START + 3600, resp["message_id"], "EXPIRED", "027")]
    answer = query(op, esme, resp["message_id"])
    assert (answer["message_state"], answer["error_code"]) == (SmppMessageState.EXPIRED, 27)


def test_query_sm_for_an_unknown_id(op: MemOperator) -> None:
    esme = client(op)
    assert query(op, esme, "nope").command_status == CommandStatus.ESME_RQUERYFAIL


def test_bad_validity_period_is_refused(op: MemOperator) -> None:
    esme = client(op)
    assert submit(op, esme, "+33612345678", validity_period="soon").command_status == CommandStatus.ESME_RINVEXPIRY


# --- throughput caps ----------------------------------------------------------------------

def test_operator_cap_throttles_beyond_the_burst() -> None:
    operator = serve(SmscBehaviour(throughput=Throughput(rate=1.0, burst=3)))
    esme = client(operator)
    resps = operator.wait(defer.gatherResults([esme.submit("33612000000") for _ in range(5)]))
    assert [r.command_status for r in resps] == [OK] * 3 + [CommandStatus.ESME_RTHROTTLED] * 2  # type: ignore[attr-defined]
    operator.run(1.0)                                      # one token back
    assert submit(operator, esme, "+33612000000").command_status == OK
    assert submit(operator, esme, "+33612000000").command_status == CommandStatus.ESME_RTHROTTLED
    operator.smsc.set_throughput(100.0, 10)               # the operator lifts its cap
    operator.run(1.0)
    assert submit(operator, esme, "+33612000000").command_status == OK
    operator.stop()


def test_per_bind_cap_and_max_binds() -> None:
    behaviour = SmscBehaviour(per_bind=Throughput(rate=1.0, burst=2), max_binds=2,
                              throttled_status=CommandStatus.ESME_RMSGQFUL)
    operator = serve(behaviour)
    first, second = client(operator), client(operator)
    third = client(operator, bind=False)
    assert operator.wait(operator.bind(third)).command_status == CommandStatus.ESME_RBINDFAIL  # type: ignore[attr-defined]
    statuses = [submit(operator, first, "+33612000000").command_status for _ in range(3)]
    assert statuses == [OK, OK, CommandStatus.ESME_RMSGQFUL]
    assert submit(operator, second, "+33612000000").command_status == OK      # its own bucket
    operator.stop()


def test_slow_responses_fill_the_window_and_the_resp_still_comes_first() -> None:
    behaviour = SmscBehaviour(window=2, receipt_delay=Fixed(0.0),
                              faults=Faults(slow_responses=SlowResponses(100.0, Fixed(10.0))))
    operator = serve(behaviour)
    esme = client(operator)
    slow = [esme.submit("33612000000"), esme.submit("33612000001")]
    assert submit(operator, esme, "+33612000002").command_status == CommandStatus.ESME_RMSGQFUL
    operator.run_to(START + 10 - 0.001)
    assert not any(d.called for d in slow) and esme.delivered == []
    operator.run_to(START + 10)                           # both resps leave; the receipts are due at once
    assert [r.command_status for r in operator.wait(defer.gatherResults(slow))] == [OK, OK]  # type: ignore[attr-defined]
    order = [(at, pdu.command) for at, pdu in esme.received()
             if isinstance(pdu, Pdu) and pdu.command in (Command.submit_sm_resp, Command.deliver_sm)]
    assert order[1:] == [(START + 10, Command.submit_sm_resp)] * 2 + [(START + 10, Command.deliver_sm)] * 2
    assert order[0] == (START, Command.submit_sm_resp)     # the refused third one, at once
    operator.stop()


# --- outages ------------------------------------------------------------------------------

def test_scheduled_refuse_binds_outage_drops_then_refuses_and_receipts_wait() -> None:
    behaviour = SmscBehaviour(faults=Faults(outages=(Outage(10.0, 50.0, OutageMode.REFUSE_BINDS),)))
    operator = serve(behaviour)
    esme = client(operator)
    resp = submit(operator, esme, "+33699990006")         # receipt due 30 s later, during the outage
    operator.run_to(START + 10)
    assert esme.closed is not None                          # the outage began: every link dropped
    late = client(operator, bind=False)
    assert operator.wait(operator.bind(late)).command_status == CommandStatus.ESME_RBINDFAIL  # type: ignore[attr-defined]
    operator.run_to(START + 60)                             # the outage ends
    assert operator.wait(operator.bind(late)).command_status == OK  # type: ignore[attr-defined]
    operator.run(0)
    assert esme.delivered == []
    assert [(at, r.message_id, r.stat) for at, r in receipts(late)] == [(START + 60, resp["message_id"], "DELIVRD")]
    operator.stop()


def test_drop_outage_closes_every_connection_at_once(op: MemOperator) -> None:
    esme = client(op)
    op.smsc.start_outage(OutageMode.DROP)
    op.run(0)
    assert esme.closed is not None
    newcomer = client(op, bind=False)
    op.run(0)
    assert newcomer.closed is not None
    op.smsc.end_outage()
    again = client(op)
    assert submit(op, again, "+33612345678").command_status == OK


def test_silent_outage_answers_nothing(op: MemOperator) -> None:
    esme = client(op, config=SessionConfig(enquire_link_interval=None, response_timeout=0.3))
    op.smsc.start_outage(OutageMode.SILENT)
    with pytest.raises(ResponseTimeout):
        submit(op, esme, "+33612345678")                  # the client's response timer fires
    assert op.clock.seconds() == START + 0.3
    assert esme.conn is not None                          # enquire_link is still answered
    assert op.wait(esme.conn.request(Command.enquire_link)).command is Command.enquire_link_resp  # type: ignore[attr-defined]
    op.smsc.end_outage()
    resp = submit(op, esme, "+33612345678")
    assert resp.command_status == OK and op.smsc.submitted == 1


# --- MO injection ---------------------------------------------------------------------------

def test_inject_mo_reaches_a_bound_transceiver(op: MemOperator) -> None:
    esme = client(op)
    op.smsc.inject_mo("+33612345678", "36180", "STOP")
    op.run(0)
    ((at, mo),) = esme.delivered
    assert at == START and mo.command is Command.deliver_sm and mo["esm_class"] == 0 and mo["short_message"] == b"STOP"
    assert (mo["source_addr"], mo["source_addr_ton"]) == ("33612345678", 1)
    assert (mo["destination_addr"], mo["dest_addr_ton"]) == ("36180", 0)


def test_inject_mo_waits_for_a_receiver_bind(op: MemOperator) -> None:
    sender = client(op, mode="transmitter")
    op.smsc.inject_mo("33612345678", "+33700000000", "Désabo", destination_ton=1)
    op.run(5)
    assert sender.delivered == []
    receiver = client(op, mode="receiver")
    op.run(0)
    ((at, mo),) = receiver.delivered
    assert at == START + 5                                  # at the bind
    assert (mo["destination_addr"], mo["dest_addr_ton"], mo["data_coding"]) == ("33700000000", 1, 3)
    assert mo["short_message"] == "Désabo".encode("latin-1") and mo.tlv(Tag.message_payload) is None


def test_restart_forgets_everything() -> None:
    operator = serve()
    esme = client(operator)
    resp = submit(operator, esme, "+33699990006")
    operator.stop()
    fresh = serve()
    esme = client(fresh)
    assert query(fresh, esme, resp["message_id"]).command_status == CommandStatus.ESME_RQUERYFAIL
    fresh.stop()
