#!/usr/bin/env python3
"""espseeds.py - the seed corpus of the fuzz-esp target (tests/fuzz_esp.c).

Writes one file per seed into DIR (tests/corpus/esp), named after what it
does. The input format is fuzz_esp.c's: a selector byte (SA suites and
flags, 0 = the golden image as is), then packets
    ctl nh seq len [t] [q] [L] pt[len] [Q[q]] [off x]
which the harness seals under the inbound SA's keys. Checksums, UDP
lengths and an MSSL ClientHello's grant (key id and seal) are left to the
harness (F_FIX). Standard library only.

Usage: espseeds.py DIR
"""

import os
import struct
import sys

F_FIX, F_CLEAR, F_PADN, F_PADLEN, F_PADB, F_PATCH, F_RAWSUM, F_RAWNH = (1 << i for i in range(8))
ICMP, UDP, DUMMY = 0, 1, 2  # nh % 3 without F_RAWNH

TASK_PORT, MSSL_PORT = 7411, 7412
DEVICE_ID = 0x2A  # the golden image's (pkg/provision testConfig)
HOST = bytes([10, 0, 0, 1])  # its peer address
SERIAL_FLOOR = 7


def sel(in_suite=0, out_suite=0, in_esn=False, in_encap=False, out_encap_esn=False, clear_icmp=False):
    """Suites: 0 the image's, 1 CCM-8, 2 CTR-SHA256, 3 CBC-MD5 (all built)."""
    return bytes([in_suite | out_suite << 2 | in_esn << 4 | in_encap << 5 |
                  out_encap_esn << 6 | clear_icmp << 7])


# EEPROM trouble during a packet (nh bit 7, then a mode byte)
FAIL_WRITES = 0x00  # | n - 1: the next n writes fail (torn)
POWER_CUT = 0x40    # | n - 1: the power is cut during write n, then a reboot
REBOOT = 0x80       # a reboot after the packet


def pkt(payload, nh, ctl=F_FIX, seq=0, q=None, padlen=None, pad=None, patch=None, trouble=None):
    b = bytes([ctl | (F_PADN if q is not None else 0) | (F_PADLEN if padlen is not None else 0) |
               (F_PADB if pad is not None else 0) | (F_PATCH if patch is not None else 0),
               nh | (0x80 if trouble is not None else 0), seq & 0xFF, len(payload)])
    if trouble is not None:
        b += bytes([trouble])
    if q is not None:
        b += bytes([q])
    if padlen is not None:
        b += bytes([padlen])
    b += payload
    if pad is not None:
        assert len(pad) == q
        b += pad
    if patch is not None:
        b += bytes(patch)
    return b


def ping(ident=1, n=16):
    return bytes([8, 0, 0, 0]) + struct.pack(">HH", ident, 1) + bytes(range(0x61, 0x61 + n))


def udp(dport, data, sport=40000):
    return struct.pack(">HHHH", sport, dport, 8 + len(data), 0) + data


def task(t, args=b"", ident=1):
    return udp(TASK_PORT, bytes([1, t]) + struct.pack(">H", ident) + args)


def client_hello(serial=SERIAL_FLOOR + 1, tasks=0x7F):
    body = b"MG\x01\x02"                   # magic, version, flags: bound to an IP
    body += bytes(8)                        # issuer key id: all zero, the harness fills it
    body += struct.pack(">II", serial, DEVICE_ID)
    body += HOST + bytes(6)                 # IP, MAC
    body += struct.pack(">III", tasks, 1, 0x7FFFFFFF)  # tasks, issued, not_after
    body += bytes(range(0x30, 0x30 + 13))   # seal nonce
    body += bytes(range(0xA0, 0xB0))        # Kh (sealed by the harness)
    body += bytes(8)                        # tag (harness)
    assert len(body) == 79
    return udp(MSSL_PORT, b"\x01\x01" + bytes(range(16)) + body, sport=50000)


TASKS = [
    ("id", 0, b""),
    ("uptime", 1, b""),
    ("counters", 2, b""),
    ("led-toggle", 3, b"\x02"),
    ("adc", 4, b"\x03"),
    ("settings-read", 5, b"\x00"),
    ("settings-write", 6, b"\x01\x12\x34"),
    ("unknown", 9, b""),
]

SEEDS = {
    "ping": sel() + pkt(ping(), ICMP),
    "dummy": sel() + pkt(b"", DUMMY),
    "mssl-client-hello": sel() + pkt(client_hello(), UDP),
    "mssl-client-hello-clear": sel() + pkt(client_hello(), UDP, ctl=F_FIX | F_CLEAR),
    "mssl-hello-then-record": sel() + pkt(client_hello(), UDP) +
    pkt(udp(MSSL_PORT, b"\x14" + bytes(4) + bytes(range(24)), sport=50000), UDP),
    "ping-clear": sel(clear_icmp=True) + pkt(ping(), ICMP, ctl=F_FIX | F_CLEAR),
    "settings-write-read": sel() + pkt(task(6, b"\x00\xbe\xef"), UDP) + pkt(task(5, b"\x00", 2), UDP),
    "replay": sel() + pkt(ping(), ICMP) + pkt(ping(2), ICMP, seq=-1) + pkt(ping(3), ICMP, seq=40) +
    pkt(ping(4), ICMP, seq=-30) + pkt(ping(5), ICMP, seq=-40),
    "pad-long": sel() + pkt(ping(), ICMP, q=37),
    "pad-bad-byte": sel() + pkt(ping(), ICMP, q=3, pad=b"\x01\x02\x04"),
    "pad-length-over": sel() + pkt(ping(), ICMP, q=2, padlen=250),
    "next-header-raw": sel() + pkt(ping(), 6, ctl=F_FIX | F_RAWNH),
    "udp-no-port": sel() + pkt(udp(9, b"abcd"), UDP),
    "udp-bad-sum": sel() + pkt(udp(TASK_PORT, b"\x01\x00\x00\x01")[:6] + b"\xbe\xef\x01\x00\x00\x01", UDP, ctl=0),
    "header-patch": sel() + pkt(ping(), ICMP, patch=(6, 0x20)),
    # the EEPROM failing or the power cut, and what must survive a reboot
    "eeprom-fail-floor": sel() + pkt(ping(), ICMP, trouble=FAIL_WRITES | 3) + pkt(ping(2), ICMP),
    "eeprom-fail-settings-write": sel() + pkt(ping(), ICMP) +
    pkt(task(6, b"\x01\x55\xaa"), UDP, trouble=FAIL_WRITES | 0) + pkt(task(5, b"\x01", 2), UDP, trouble=REBOOT) +
    pkt(task(5, b"\x01", 3), UDP),
    "power-cut-settings-write": sel() + pkt(ping(), ICMP) +
    pkt(task(6, b"\x00\x12\x34"), UDP, trouble=POWER_CUT | 0) + pkt(task(5, b"\x00", 2), UDP),
    "reboot-then-replay": sel() + pkt(ping(), ICMP) + pkt(task(6, b"\x00\xbe\xef"), UDP, trouble=REBOOT) +
    pkt(ping(2), ICMP, seq=-100) + pkt(ping(3), ICMP) + pkt(task(5, b"\x00", 4), UDP),
    "mssl-hello-eeprom-fail": sel() + pkt(client_hello(), UDP, trouble=FAIL_WRITES | 1) +
    pkt(client_hello(), UDP, trouble=REBOOT) + pkt(client_hello(), UDP),
    # every suite in, every suite out, ESN and UDP encapsulation
    "ctr-in-cbc-out-encap": sel(2, 3, in_encap=True, out_encap_esn=True) + pkt(ping(), ICMP) + pkt(task(0), UDP),
    "cbc-in-ccm-out-esn": sel(3, 1, in_esn=True) + pkt(ping(), ICMP) + pkt(task(2), UDP),
    "ccm-in-ctr-out-encap-esn": sel(1, 2, in_esn=True, in_encap=True, out_encap_esn=True) +
    pkt(ping(), ICMP) + pkt(client_hello(), UDP),
}
for name, t, args in TASKS:
    SEEDS["task-" + name] = sel() + pkt(task(t, args), UDP)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(sys.argv[1], name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
