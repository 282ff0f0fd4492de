#!/usr/bin/python3
"""hms_max_message.py: hms.max_message bounds what one metastore client
message may hold, framed or not, and the router says so when it closes one.

    /usr/bin/python3 tests/limits/hms_max_message.py BUILD_DIR

One minihms behind a fedrouter with hms.max_message = 1m:

  under       an unframed get_database whose name is 900 kB is answered
  unframed    a call of eight 512 kB strings (4 MiB) is closed before the client
              has sent it all, and the router's memory does not grow by it
  announced   a string length field of 512 MiB is closed at once
  framed      a frame header announcing 2 MiB is closed at once
  others      a client already connected is served throughout

Each close has a log line naming hms.max_message. Prints `ok - NAME` /
`not ok - NAME: why`, then a count.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import climits  # noqa: E402
from climits import expect  # noqa: E402


def get_database(name):
    return climits.thrift_call("get_database", climits.thrift_string_field(1, name))


def run(fed, t, build):
    ms = climits.minihms(fed, "primary")
    rt = climits.router(fed, metastores=[ms], router_keys="hms.max_message = 1m")
    pid = rt["proc"].pid
    other = climits.connect(rt["hms"])
    get_dbs = climits.thrift_call("get_all_databases")

    def other_served():
        other.sendall(get_dbs)
        other.settimeout(5)
        expect(len(other.recv(65536)) > 12, "the other client got no answer")

    def under():
        s = climits.connect(rt["hms"])
        s.sendall(get_database(b"d" * 900000))
        s.settimeout(10)
        data = s.recv(65536)
        expect(len(data) > 12 and data[:4] == b"\x80\x01\x00\x02", "no answer to a 900 kB call: %r" % data[:20])
        s.close()
    t.check("under: a 900 kB call is answered", under)

    def unframed():
        before = climits.rss_kb(pid)
        s = climits.connect(rt["hms"])
        # eight string fields of 512 kB: each under the limit, the message over it
        msg = climits.thrift_call("get_database", b"".join(climits.thrift_string_field(i, b"d" * (512 << 10))
                                                            for i in range(1, 9)))
        sent, closed = 0, False
        s.settimeout(5)
        try:
            while sent < len(msg):
                sent += s.send(msg[sent:sent + 65536])
        except OSError:
            closed = True
        closed = closed or climits.closed_by_peer(s, 3)
        s.close()
        grown = climits.rss_kb(pid) - before
        print("# unframed 4 MiB call of 512 kB strings: %d bytes sent before the close; router RSS +%d kB" % (sent, grown))
        expect(closed, "a 4 MiB unframed call was not closed")
        expect(grown < 3 * 1024, "the router grew by %d kB" % grown)
    t.check("unframed: a 4 MiB call is closed", unframed)

    def announced():
        s = climits.connect(rt["hms"])
        nb = b"get_database"
        s.sendall(struct.pack(">II", 0x80010001, len(nb)) + nb + struct.pack(">i", 1) +
                  struct.pack(">bhI", 11, 1, 512 << 20) + b"d" * 100)
        expect(climits.closed_by_peer(s, 1.0), "a 512 MiB string length was not closed within 1 s")
        s.close()
    t.check("announced: a string announced at 512 MiB is closed at once", announced)

    def framed():
        s = climits.connect(rt["hms"])
        s.sendall(struct.pack(">I", 2 << 20) + get_dbs[:40])
        expect(climits.closed_by_peer(s, 1.0), "a frame announcing 2 MiB was not closed within 1 s")
        s.close()
        small = climits.connect(rt["hms"])  # framed calls under the limit still work
        small.sendall(struct.pack(">I", len(get_dbs)) + get_dbs)
        small.settimeout(5)
        data = small.recv(65536)
        expect(len(data) > 16 and data[4:8] == b"\x80\x01\x00\x02", "no framed answer: %r" % data[:20])
        small.close()
    t.check("framed: a frame announcing 2 MiB is closed at once; a small one is answered", framed)

    t.check("others: a connected client is still served", other_served)

    def logged():
        log = climits.log_text(fed)
        n = log.count("hms.max_message")
        expect(n >= 3, "%d log lines name hms.max_message:\n%s" % (n, log[-800:]))
    t.check("each close is logged naming hms.max_message", logged)
    other.close()


if __name__ == "__main__":
    sys.exit(climits.main(run, sys.argv, "fedrouter-limits-hmsmsg."))
