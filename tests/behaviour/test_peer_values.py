"""Values a client may put in a PDU that decodes, however odd (smsc/pdu/views.py, rule 2): the
server, the operator connectors and the simulated SMSCs read them through typed views, and
answer each with the status it always had; nothing raises. On the in-memory stack, a virtual
clock, exact statuses.

The statuses were recorded on the code before the views (main fe97165) and must not move.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from smsc.pdu.codec import Command, Pdu, Value
from smsc.pdu.status import CommandStatus as S
from tests.support.memstack import Client, MemStack

TO = "+33612345678"                 # a magic number: delivered at once


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemStack]:
    stack = MemStack.start(Path(tmp_path_factory.mktemp("peer")) / "s.db")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def client(stack: MemStack) -> Client:
    return stack.client()


SUBMITS: list[tuple[str, dict[str, Value], int, str | None]] = [
    # (case, submit_sm fields, submit_sm_resp status, state of the message once settled)
    ("plain", {}, S.ESME_ROK, "delivered"),
    ("validity not a time", {"validity_period": "soon"}, S.ESME_RINVEXPIRY, None),
    ("validity latin-1 garbage", {"validity_period": "\xff" * 16}, S.ESME_RINVEXPIRY, None),
    ("validity in the past", {"validity_period": "000101000000000+"}, S.ESME_RINVEXPIRY, None),
    ("relative validity", {"validity_period": "000000010000000R"}, S.ESME_ROK, "delivered"),
    ("dest_addr_ton 255", {"dest_addr_ton": 255}, S.ESME_RINVDSTADR, None),
    ("dest_addr_ton 2, national", {"dest_addr_ton": 2, "destination_addr": "0612345678"}, S.ESME_ROK, "delivered"),
    ("destination of control octets", {"destination_addr": "\x01\xfe"}, S.ESME_RINVDSTADR, None),
    ("empty destination", {"destination_addr": ""}, S.ESME_RINVDSTADR, None),
    ("esm_class 255", {"esm_class": 255}, S.ESME_RINVESMCLASS, None),
    ("data_coding 255", {"data_coding": 255}, S.ESME_ROK, "delivered"),
    ("source_addr latin-1", {"source_addr": "\xe9t\xe9", "source_addr_ton": 5}, S.ESME_ROK, "delivered"),
    ("source_addr_ton 255", {"source_addr_ton": 255}, S.ESME_ROK, "delivered"),
    ("registered_delivery 255", {"registered_delivery": 255}, S.ESME_ROK, "delivered"),
    ("priority and protocol 255", {"priority_flag": 255, "protocol_id": 255}, S.ESME_ROK, "delivered"),
]


@pytest.mark.parametrize("fields, status, state", [case[1:] for case in SUBMITS], ids=[case[0] for case in SUBMITS])
def test_odd_submit_sm_values_get_the_same_status(stack: MemStack, client: Client, fields: dict[str, Value],
                                                  status: int, state: str | None) -> None:
    resp = stack.wait(client.submit(TO, **fields), "the submit_sm_resp")
    assert isinstance(resp, Pdu) and resp.command is Command.submit_sm_resp
    assert resp.command_status == status, S(resp.command_status).name
    if state is not None:
        message_id = resp["message_id"]
        assert isinstance(message_id, str)
        stack.until(lambda: stack.store.message(message_id).state.value == state,  # type: ignore[union-attr]
                    f"the message {state}")


@pytest.mark.parametrize("message_id", ["", "\xff" * 64, "0" * 16])
def test_query_sm_for_an_id_nobody_gave_is_rqueryfail(stack: MemStack, client: Client, message_id: str) -> None:
    assert client.conn is not None
    resp = stack.wait(client.conn.request(Command.query_sm, message_id=message_id, source_addr="TEST"), "the answer")
    assert isinstance(resp, Pdu) and resp.command_status == S.ESME_RQUERYFAIL


@pytest.mark.parametrize("system_id, password, status", [
    ("\xe9\xff", "demo", S.ESME_RINVSYSID), ("", "", S.ESME_RINVSYSID), ("demo", "\xff" * 8, S.ESME_RINVPASWD),
])
def test_odd_bind_values_get_the_same_status(stack: MemStack, system_id: str, password: str, status: int) -> None:
    client = stack.connect()
    resp = stack.wait(client.bind(system_id, password), "the bind_resp")
    assert isinstance(resp, Pdu) and resp.command_status == status
