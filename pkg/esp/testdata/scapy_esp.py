#!/usr/bin/python3
"""Batch ESP encryption/decryption with scapy, for pkg/esp's interop test.

Reads one JSON document from stdin:
  {"op": "encrypt" | "decrypt", "cases": [case, ...]}
where each case is
  {"suite": "<mstool suite name>", "spi": int, "enc_key": hex, "auth_key": hex,
   "mode": "transport" | "tunnel", "src": addr, "dst": addr (outer, tunnel mode),
   "encap": [sport, dport] or null, "esn": bool, "seq": int (64-bit),
   "packet": hex}
For "encrypt", packet is the inner IP packet and the result the ESP packet;
for "decrypt", packet is the ESP packet and the result the inner packet.
Writes {"results": [{"packet": hex} | {"error": str}, ...]} to stdout.
"""
import json
import struct
import sys

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation

# mstool suite -> (scapy crypt_algo, crypt_icv_size, scapy auth_algo)
SUITES = {
    "aes128-ccm8": ("AES-CCM", 8, None),
    "aes128-ccm16": ("AES-CCM", 16, None),
    "aes128-gcm16": ("AES-GCM", None, None),
    "aes128-ctr-hmac-sha256-128": ("AES-CTR", None, "SHA2-256-128"),
    "aes128-cbc-hmac-md5-96": ("AES-CBC", None, "HMAC-MD5-96"),
    "aes128-cbc-hmac-sha1-96": ("AES-CBC", None, "HMAC-SHA1-96"),
    "aes128-cbc-hmac-sha256-128": ("AES-CBC", None, "SHA2-256-128"),
    "null-hmac-sha256-128": ("NULL", None, "SHA2-256-128"),
}


def ip_class(raw):
    return IPv6 if raw[0] >> 4 == 6 else IP


def make_sa(c):
    crypt, icv, auth = SUITES[c["suite"]]
    tunnel = None
    if c["mode"] == "tunnel":
        tunnel = IPv6(src=c["src"], dst=c["dst"]) if ":" in c["src"] else IP(src=c["src"], dst=c["dst"])
    nat_t = None
    if c.get("encap"):
        nat_t = UDP(sport=c["encap"][0], dport=c["encap"][1])
    seq = c["seq"]
    return SecurityAssociation(
        ESP,
        spi=c["spi"],
        seq_num=seq & 0xFFFFFFFF,
        crypt_algo=crypt,
        crypt_key=bytes.fromhex(c["enc_key"]) or None,
        crypt_icv_size=icv,
        auth_algo=auth,
        auth_key=bytes.fromhex(c["auth_key"]) or None,
        tunnel_header=tunnel,
        nat_t_header=nat_t,
        esn_en=c["esn"],
        esn=seq >> 32,
    )


def fix_udp_length(out):
    """Work around scapy 2.5: with nat_t_header over IPv4, _encrypt_esp
    serialises the IP/UDP headers before the ESP payload is attached, so the
    UDP length field says 8. Set it to the real datagram length (the IP
    total length, which scapy gets right, is left alone)."""
    out = bytearray(out)
    if out[0] >> 4 == 4 and out[9] == 17:
        off = (out[0] & 0x0F) * 4
        struct.pack_into("!H", out, off + 4, len(out) - off)
    return bytes(out)


def run(op, c):
    sa = make_sa(c)
    raw = bytes.fromhex(c["packet"])
    pkt = ip_class(raw)(raw)
    if op == "encrypt":
        out = bytes(sa.encrypt(pkt))
        if c.get("encap"):
            out = fix_udp_length(out)
        return out
    return bytes(sa.decrypt(pkt))


def main():
    req = json.load(sys.stdin)
    results = []
    for c in req["cases"]:
        try:
            results.append({"packet": run(req["op"], c).hex()})
        except Exception as e:  # report per case; the Go test fails on it
            results.append({"error": "%s: %s" % (type(e).__name__, e)})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
