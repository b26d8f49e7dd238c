"""One session of smpplib, an independently written SMPP client from PyPI: bind as the demo
account, submit one message with a receipt asked, read until the receipt comes, unbind.

smpplib is a blocking client: call it in a worker thread while the reactor serves."""

from __future__ import annotations

import smpplib.client
import smpplib.consts


def smpplib_session(port: int, text: bytes = b"interop test", ssl_context: object | None = None
                    ) -> dict[str, object]:
    """What the client saw: "bind" (the bind_resp), "message_id", "receipt" (the deliver_sm),
    and "tls" (the protocol version) when `ssl_context` is given."""
    seen: dict[str, object] = {}
    client = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True,
                                   ssl_context=ssl_context)
    client.set_message_sent_handler(lambda pdu: seen.setdefault("message_id", pdu.message_id.decode()))

    def received(pdu: object) -> int:            # smpplib answers with the status this returns
        seen.setdefault("receipt", pdu)
        return smpplib.consts.SMPP_ESME_ROK
    client.set_message_received_handler(received)
    client.connect()
    try:
        if ssl_context is not None:
            seen["tls"] = client._socket.version()  # type: ignore[attr-defined]
        seen["bind"] = client.bind_transceiver(system_id="demo", password="demo")
        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="SMPPLIB",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL, dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr="33612345678", short_message=text, registered_delivery=True)
        for _ in range(20):                                  # resp, then the receipt (bounded)
            client.read_once()
            if "receipt" in seen:
                break
        client.unbind()
    finally:
        client.disconnect()
    return seen
