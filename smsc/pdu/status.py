"""command_status values, SMPP 3.4 §5.1.3 (Table 5-2), by their spec names.

Checked against smpp.pdu's table in tests/unit/test_codec_oracle.py.
"""

from __future__ import annotations

import enum


class CommandStatus(enum.IntEnum):
    ESME_ROK = 0x00000000
    ESME_RINVMSGLEN = 0x00000001
    ESME_RINVCMDLEN = 0x00000002
    ESME_RINVCMDID = 0x00000003
    ESME_RINVBNDSTS = 0x00000004
    ESME_RALYBND = 0x00000005
    ESME_RINVPRTFLG = 0x00000006
    ESME_RINVREGDLVFLG = 0x00000007
    ESME_RSYSERR = 0x00000008
    ESME_RINVSRCADR = 0x0000000A
    ESME_RINVDSTADR = 0x0000000B
    ESME_RINVMSGID = 0x0000000C
    ESME_RBINDFAIL = 0x0000000D
    ESME_RINVPASWD = 0x0000000E
    ESME_RINVSYSID = 0x0000000F
    ESME_RCANCELFAIL = 0x00000011
    ESME_RREPLACEFAIL = 0x00000013
    ESME_RMSGQFUL = 0x00000014
    ESME_RINVSERTYP = 0x00000015
    ESME_RINVNUMDESTS = 0x00000033
    ESME_RINVDLNAME = 0x00000034
    ESME_RINVDESTFLAG = 0x00000040
    ESME_RINVSUBREP = 0x00000042
    ESME_RINVESMCLASS = 0x00000043
    ESME_RCNTSUBDL = 0x00000044
    ESME_RSUBMITFAIL = 0x00000045
    ESME_RINVSRCTON = 0x00000048
    ESME_RINVSRCNPI = 0x00000049
    ESME_RINVDSTTON = 0x00000050
    ESME_RINVDSTNPI = 0x00000051
    ESME_RINVSYSTYP = 0x00000053
    ESME_RINVREPFLAG = 0x00000054
    ESME_RINVNUMMSGS = 0x00000055
    ESME_RTHROTTLED = 0x00000058
    ESME_RINVSCHED = 0x00000061
    ESME_RINVEXPIRY = 0x00000062
    ESME_RINVDFTMSGID = 0x00000063
    ESME_RX_T_APPN = 0x00000064
    ESME_RX_P_APPN = 0x00000065
    ESME_RX_R_APPN = 0x00000066
    ESME_RQUERYFAIL = 0x00000067
    ESME_RINVOPTPARSTREAM = 0x000000C0
    ESME_ROPTPARNOTALLWD = 0x000000C1
    ESME_RINVPARLEN = 0x000000C2
    ESME_RMISSINGOPTPARAM = 0x000000C3
    ESME_RINVOPTPARAMVAL = 0x000000C4
    ESME_RDELIVERYFAILURE = 0x000000FE
    ESME_RUNKNOWNERR = 0x000000FF
    # smsc-harness's own, in the range §5.1.3 leaves to SMSC vendors (0x0400-0x04FF): a submit
    # one of the aggregator's operator rules refused (aggregator/rules, README "Operator rules").
    # Not forwarded, not billed; permanent for that destination until the rule says otherwise.
    RULE_OPTED_OUT = 0x00000400  # R1 stop: the number opted out of this account's marketing
    RULE_PURGED = 0x00000401  # R2 purge: the number was purged (unknown subscriber, terminated line)
    RULE_SKEW_SUSPENDED = 0x00000402  # R3 skew: this bulk send is suspended until released
    RULE_DUPLICATE = 0x00000403  # R8 duplicate: this destination already had this campaign's message
    RULE_NO_CREDIT = 0x00000404  # R10 credit: exhausted or lapsed


def status_name(code: int) -> str:
    """'ESME_RTHROTTLED' for 0x58, 'RULE_OPTED_OUT' for 0x400 (ours); '0x00000500' for a code
    neither SMPP nor this harness names."""
    try:
        return CommandStatus(code).name
    except ValueError:
        return f"0x{code:08x}"
