"""submit_multi from a client (SMPP 3.4 §4.5) on the memory stack: each SME destination goes
the way of a submit_sm and becomes its own message (own id, own receipt, query_sm of each);
distribution lists, unroutable destinations and duplicates (R8) are in unsuccess_sme with
their status; the campaign TLV applies to every destination."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from twisted.internet import defer

from aggregator.config import load_config
from aggregator.rules.settings import DuplicateSettings

from aggregator.server import CAMPAIGN_ID_TAG
from smsc.pdu.codec import Command, DestAddress, Pdu, SmppMessageState, Tlv, UnsuccessSme, Value, encode, make
from smsc.pdu.status import CommandStatus
from tests.support.memstack import START, Client, MemStack

DELIVERED_AT_ONCE = ("33612345678", "33699990000")
UNKNOWN = "33699990001"                 # UNDELIV err:001 after 1 s


def sme(number: str, ton: int = 1) -> DestAddress:
    return DestAddress(ton, 1 if ton == 1 else 0, number)


def multi(client: Client, dests: tuple[DestAddress, ...], text: bytes = b"hello all", tlvs: tuple[Tlv, ...] = (),
          **params: Value) -> defer.Deferred[Pdu]:
    assert client.conn is not None
    fields: dict[str, Value] = {"source_addr_ton": 5, "source_addr": "TEST", "dest_addresses": dests,
                                "registered_delivery": 1, "short_message": text}
    fields.update(params)
    return client.conn.request(Command.submit_multi, tlvs, **fields)


def resp_of(stack: MemStack, d: defer.Deferred[Pdu]) -> Pdu:
    resp = stack.wait(d, "a submit_multi_resp")  # type: ignore[arg-type]
    assert isinstance(resp, Pdu) and resp.command is Command.submit_multi_resp
    return resp


def test_mixed_destinations(stack: MemStack, client: Client) -> None:
    dests = (sme(DELIVERED_AT_ONCE[0]),
             DestAddress(dl_name="friends"),                         # a distribution list
             sme("447700900123"),                                    # no operator serves it
             sme("0699990000", ton=2),                               # national form
             sme("+33612345678"),                                    # the first one again: R8
             sme(UNKNOWN))
    resp = resp_of(stack, multi(client, dests))
    assert resp.command_status == CommandStatus.ESME_ROK
    assert resp["unsuccess_smes"] == (
        UnsuccessSme(0, 0, "friends", CommandStatus.ESME_RINVDESTFLAG),
        UnsuccessSme(1, 1, "447700900123", CommandStatus.ESME_RINVDSTADR),
        UnsuccessSme(1, 1, "+33612345678", CommandStatus.RULE_DUPLICATE),
    )
    first = int(str(resp["message_id"]), 16)
    ids = [f"{first + i:016x}" for i in range(3)]                    # consecutive, in dest_address order
    records = [stack.store.message(i) for i in ids]
    assert [(r.destination_addr, r.client_destination_addr) for r in records if r is not None] == [
        ("+33612345678", "33612345678"), ("+33699990000", "0699990000"), ("+33699990001", UNKNOWN)]
    # Each message its own receipt, with its own id.
    stack.run(2)
    assert sorted((r.message_id, r.stat) for r in client.receipts()) == [
        (ids[0], "DELIVRD"), (ids[1], "DELIVRD"), (ids[2], "UNDELIV")]
    # query_sm of each id answers that message's state.
    states = []
    for message_id in ids:
        answer = stack.wait(client.query(message_id), "a query_sm_resp")
        assert isinstance(answer, Pdu) and answer.command_status == CommandStatus.ESME_ROK
        states.append(answer["message_state"])
    assert states == [SmppMessageState.DELIVERED, SmppMessageState.DELIVERED, SmppMessageState.UNDELIVERABLE]
    # The refusals are kept, one per refused destination; only the accepted ones are billed.
    assert [(r.destination_addr, r.status, r.rule) for r in stack.store.refusals()] == [
        ("friends", CommandStatus.ESME_RINVDESTFLAG, None),
        ("447700900123", CommandStatus.ESME_RINVDSTADR, None),
        ("+33612345678", CommandStatus.RULE_DUPLICATE, "duplicate"),
    ]
    assert stack.store.count_ledger("demo") == 3
    assert stack.store.count_rule_events("duplicate", "refuse", "demo", "+33612345678") == 1


def test_no_destination_accepted(stack: MemStack, client: Client) -> None:
    dests = (DestAddress(dl_name="all"), sme("447700900123"))
    resp = resp_of(stack, multi(client, dests))
    assert resp.command_status == CommandStatus.ESME_RSUBMITFAIL
    assert resp["message_id"] == ""
    assert [u.error_status_code for u in resp["unsuccess_smes"]] == [  # type: ignore[union-attr]
        CommandStatus.ESME_RINVDESTFLAG, CommandStatus.ESME_RINVDSTADR]
    assert stack.store.count_messages() == 0 and stack.store.count_ledger() == 0


def test_number_of_dests_must_be_1_to_254(stack: MemStack, client: Client) -> None:
    none = resp_of(stack, multi(client, ()))
    too_many = resp_of(stack, multi(client, tuple(sme(f"336{n:08d}") for n in range(255))))
    assert none.command_status == too_many.command_status == CommandStatus.ESME_RINVNUMDESTS
    assert stack.store.count_messages() == 0
    ok = resp_of(stack, multi(client, tuple(sme(f"3361{n:07d}") for n in range(254)), registered_delivery=0))
    assert ok.command_status == CommandStatus.ESME_ROK
    assert stack.store.count_messages() == 254 - len(ok["unsuccess_smes"])  # type: ignore[arg-type]


def test_the_campaign_applies_to_every_destination(stack: MemStack, client: Client) -> None:
    campaign = (Tlv(CAMPAIGN_ID_TAG, b"spring"),)
    first = resp_of(stack, multi(client, (sme(DELIVERED_AT_ONCE[0]),), tlvs=campaign))
    assert first.command_status == CommandStatus.ESME_ROK
    # A later submit_multi of the same campaign: the number already sent is a duplicate.
    second = resp_of(stack, multi(client, (sme(DELIVERED_AT_ONCE[0]), sme(DELIVERED_AT_ONCE[1])), tlvs=campaign))
    assert second.command_status == CommandStatus.ESME_ROK
    assert second["unsuccess_smes"] == (UnsuccessSme(1, 1, DELIVERED_AT_ONCE[0], CommandStatus.RULE_DUPLICATE),)
    # ... and a submit_sm of that campaign too.
    again = stack.wait(client.submit(DELIVERED_AT_ONCE[1], tlvs=campaign))
    assert isinstance(again, Pdu) and again.command_status == CommandStatus.RULE_DUPLICATE
    records = stack.store.messages()
    assert [(r.destination_addr, r.campaign) for r in records] == [
        ("+33612345678", "spring"), ("+33699990000", "spring")]
    # The TLV is ours: never forwarded to the operator.
    assert all(r.tlvs == b"" for r in records)


def test_a_malformed_campaign_refuses_the_whole_submit_multi(stack: MemStack, client: Client) -> None:
    resp = resp_of(stack, multi(client, (sme(DELIVERED_AT_ONCE[0]), sme(DELIVERED_AT_ONCE[1])),
                                tlvs=(Tlv(CAMPAIGN_ID_TAG, b"bad id"),)))
    assert resp.command_status == CommandStatus.ESME_RINVOPTPARAMVAL
    assert stack.store.count_refusals("demo", CommandStatus.ESME_RINVOPTPARAMVAL) == 2
    assert stack.store.count_messages() == 0


def test_duplicates_switched_off(tmp_path: Path) -> None:
    config = load_config()
    config = replace(config, rules=replace(config.rules, duplicate=DuplicateSettings(enabled=False)))
    stack = MemStack.start(tmp_path / "off.db", config)
    try:
        client = stack.client()
        resp = resp_of(stack, multi(client, (sme(DELIVERED_AT_ONCE[0]), sme(DELIVERED_AT_ONCE[0]))))
        assert resp.command_status == CommandStatus.ESME_ROK and resp["unsuccess_smes"] == ()
        assert stack.store.count_messages() == 2
    finally:
        stack.stop()


def test_the_resp_comes_at_once_and_receipts_after(stack: MemStack, client: Client) -> None:
    resp = resp_of(stack, multi(client, (sme(DELIVERED_AT_ONCE[0]), sme(DELIVERED_AT_ONCE[1]))))
    assert resp.command_status == CommandStatus.ESME_ROK
    stack.run(1)
    frames = [pdu for _, pdu in client.received() if isinstance(pdu, Pdu)]
    commands = [p.command for p in frames if p.command in (Command.submit_multi_resp, Command.deliver_sm)]
    assert commands[0] is Command.submit_multi_resp and commands.count(Command.deliver_sm) == 2
    records = stack.store.messages()
    assert [r.created_at for r in records] == [START, START]


def test_a_receiver_bind_may_not_submit_multi(stack: MemStack) -> None:
    receiver = stack.client("receiver")           # our own session would not send it: raw bytes
    frame = encode(make(Command.submit_multi, 99, source_addr="TEST", dest_addresses=(sme(DELIVERED_AT_ONCE[0]),),
                        short_message=b"no"))
    resp = resp_of(stack, receiver.raw(frame))
    assert resp.command_status == CommandStatus.ESME_RINVBNDSTS
    assert stack.store.count_messages() == 0


def test_a_campaign_is_remembered_across_a_restart(tmp_path: Path) -> None:
    stack = MemStack.start(tmp_path / "restart.db")
    campaign = (Tlv(CAMPAIGN_ID_TAG, b"spring"),)
    client = stack.client()
    first = resp_of(stack, multi(client, (sme(DELIVERED_AT_ONCE[0]),), tlvs=campaign))
    assert first.command_status == CommandStatus.ESME_ROK
    stack.run(3600)
    stack = stack.restart()
    try:
        client = stack.client()
        again = stack.wait(client.submit(DELIVERED_AT_ONCE[0], tlvs=campaign))
        assert isinstance(again, Pdu) and again.command_status == CommandStatus.RULE_DUPLICATE
        refusal = stack.store.refusals()[-1]
        assert str(first["message_id"]) in refusal.reason
    finally:
        stack.stop()


def test_a_submit_multi_takes_a_token_per_destination_up_to_the_burst(tmp_path: Path) -> None:
    config = load_config()
    config = replace(config, accounts=tuple(replace(a, rate=1.0, burst=3) for a in config.accounts))
    stack = MemStack.start(tmp_path / "rate.db", config)
    try:
        client = stack.client()
        five = tuple(sme(f"3361234000{n}") for n in range(5))
        assert resp_of(stack, multi(client, five, registered_delivery=0)).command_status == CommandStatus.ESME_ROK
        # The bucket is empty (3 tokens taken, at most the burst): the next is throttled, whole.
        throttled = resp_of(stack, multi(client, (sme(DELIVERED_AT_ONCE[0]),)))
        assert throttled.command_status == CommandStatus.ESME_RTHROTTLED
        assert stack.store.count_refusals() == 0                 # flow control is not a refusal
        stack.run(1)
        assert resp_of(stack, multi(client, (sme(DELIVERED_AT_ONCE[0]),))).command_status == CommandStatus.ESME_ROK
    finally:
        stack.stop()
