"""Type stubs of rtr._enums: the members the native tables give today.

Generated from the runtime enums; mypy.stubtest (tests/test_stubs.py)
fails when the tables and this file disagree.
"""

import enum

class OpenFlag(enum.IntFlag):
    CLIENT = 1
    SERVER = 2
    NOSTANDBY = 4
    NOCONCURRENT = 8
    SHADOW = 16
    TR_CALL_OUT = 32
    BE_CALL_OUT = 64
    EXPLICIT_PREPARE = 128
    EXPLICIT_ACCEPT = 256
    FOREIGN_TM = 512
    XA_MANAGED = 1024

class SendFlag(enum.IntFlag):
    ACCEPT = 1
    EXPENDABLE = 2
    READONLY = 4
    RETURN_TO_SENDER = 8

class ReplyFlag(enum.IntFlag):
    ACCEPT = 1
    INDEPENDENT = 2
    FORGET = 4

class AcceptFlag(enum.IntFlag):
    FORGET = 1
    INDEPENDENT = 2

class RejectFlag(enum.IntFlag):
    RETRY = 1

class CloseFlag(enum.IntFlag):
    FORCE = 1

class TidFlag(enum.IntFlag):
    RTR = 1
    DDTM = 2

class MsgType(enum.IntEnum):
    MSG1 = 1
    MSGN = 2
    MSG1_UNCERTAIN = 3
    PREPARE = 4
    REPLY = 5
    RETTOSEND = 6
    ACCEPTED = 7
    REJECTED = 8
    OPENED = 9
    CLOSED = 10
    PREPARED = 11
    USER_EVENT = 12
    RTR_EVENT = 13
    REQUEST_INFO = 14
    SET_INFO = 15

class Status(enum.IntEnum):
    OK = 1
    TIMOUT = 10
    NODSTFND = 18
    JNLFULL = 26
    DLKTXRES = 34
    INVMSGFMT = 44
    INVMSGLEN = 52
    INVMSGSIZE = 58
    INVNUMSEG = 68
    INVOBJCT = 74
    INVOP4CLI = 84
    INVOP4SRV = 92
    INVPKEYSEG = 100
    INVRCPNAM = 108
    INVREASON = 116
    INVRMNAME = 122
    INVSELITM = 130
    REQDIED = 138
    REQDIEDPREP = 146
    REQDIEDVOT = 154
    ROUTERUNAVAILTMO = 162
    REPLYDIFF = 170
    INVCHANNEL = 180
    INVFLAGS = 188
    INVFACNAM = 196
    INVACCESS = 204
    INVEVTNUM = 212
    INVPEVTNUM = 220
    INVRCPSPC = 228
    INVPMSG = 236
    INVRCVCHAN = 244
    INVTIMOUTMS = 252
    INVPMSGSB = 260
    INVJOINCHAN = 268
    INSVIRMEM = 276
    TOOMANYCHN = 282
    NOTACTTX = 290
    TXALRACC = 298
    TXACTIVE = 306
    BUFTOOSMALL = 314
    CHANCLOSED = 322
    KEYOVERLAP = 330
    KEYLAYOUT = 338
    KEYMSGSHORT = 346
    NOCONCURRENT = 354
    REJECTED = 362
    UNSUPPORTED = 370
    SRVDIED = 378
    NODEUNAVAIL = 388
    INTERNAL = 396
    INVPTR = 404
    @property
    def text(self) -> str: ...
    @property
    def c_name(self) -> str: ...

class KeyType(enum.IntEnum):
    UNSIGNED = 0
    SIGNED = 1
    STRING = 2
    PARTITION = 3
    RMNAME = 4
