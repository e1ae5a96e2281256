#!/usr/bin/env python3
"""dns-query.py SERVER NAME: asks SERVER (UDP port 53) for NAME's A records and prints the first
address, or exits 1 saying why. The host has no dig or nslookup; this is all the smoke needs."""

import random
import socket
import struct
import sys


def query(server: str, name: str) -> str:
    qid = random.randrange(1 << 16)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(packet, (server, 53))
        reply, _ = s.recvfrom(4096)
    rid, flags, _qd, answers = struct.unpack(">HHHH", reply[:8])
    if rid != qid:
        raise ValueError("reply for another query")
    if flags & 0xF:
        raise ValueError(f"rcode {flags & 0xF}")
    pos = 12 + len(question) + 4
    for _ in range(answers):
        # Names in answers are compressed pointers (2 bytes) or labels ending in a zero byte.
        while reply[pos] and reply[pos] & 0xC0 != 0xC0:
            pos += reply[pos] + 1
        pos += 2 if reply[pos] & 0xC0 == 0xC0 else 1
        rtype, _cls, _ttl, length = struct.unpack(">HHIH", reply[pos:pos + 10])
        pos += 10
        if rtype == 1 and length == 4:
            return socket.inet_ntoa(reply[pos:pos + 4])
        pos += length
    raise ValueError("no A record")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: dns-query.py SERVER NAME")
    try:
        print(query(sys.argv[1], sys.argv[2]))
    except (OSError, ValueError) as e:
        sys.exit(f"dns-query: {sys.argv[2]} at {sys.argv[1]}: {e}")
