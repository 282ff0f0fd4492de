#!/usr/bin/python3
"""hms_nonreader.py: a metastore client that pipelines calls and does not read
its replies holds a bounded part of the router's memory, and gets every reply
once it reads.

    /usr/bin/python3 tests/limits/hms_nonreader.py BUILD_DIR

One minihms behind a fedrouter with client.max_output = 1m. A database whose
description is 100 kB makes each get_database reply about 100 kB.

  bounded    a client sends 1,000 get_database calls at once (100 MB of
             replies) and reads nothing for 3 s: the router's resident memory
             grows by less than 32 MB (unbounded, it buffers the replies)
  no hang    the client then reads: all 1,000 replies arrive, in order
  others     another client is served while the first one is not reading
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import climits  # noqa: E402
from climits import expect  # noqa: E402

CALLS = 1000
DESC = 100 * 1024


def get_database(name, seqid):
    return climits.thrift_call("get_database", climits.thrift_string_field(1, name), seqid=seqid)


def read_replies(sock, n, timeout):
    """Reads n whole unframed binary replies; returns their seqids."""
    gen_seen = []
    buf = bytearray()
    sock.settimeout(timeout)
    deadline = time.time() + timeout
    # A reply is a message we do not parse field by field: use the Thrift
    # library's protocol on a memory buffer to find where each one ends.
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TTransport
    while len(gen_seen) < n:
        expect(time.time() < deadline, "only %d of %d replies within %d s" % (len(gen_seen), n, timeout))
        chunk = sock.recv(1 << 20)
        expect(chunk, "the router closed after %d replies" % len(gen_seen))
        buf += chunk
        while True:
            mem = TTransport.TMemoryBuffer(bytes(buf))
            proto = TBinaryProtocol.TBinaryProtocol(mem)
            try:
                _, mtype, seqid = proto.readMessageBegin()
                proto.skip(12)  # the result struct
                proto.readMessageEnd()
            except (EOFError, TTransport.TTransportException, struct.error):
                break
            used = mem.cstringio_buf.tell()
            if used == 0:
                break
            gen_seen.append(seqid)
            del buf[:used]
    return gen_seen


def run(fed, t, build):
    ms = climits.minihms(fed, "primary")
    rt = climits.router(fed, metastores=[ms], router_keys="client.max_output = 1m", workers=1)
    pid = rt["proc"].pid
    gen = os.path.join(build, "hms-thrift", "gen-py")
    sys.path.insert(0, gen)
    from hive_metastore import ttypes
    c = climits.hms_client(build, rt["hms"])
    c.create_database(ttypes.Database(name="big", description="x" * DESC, locationUri="file:/tmp/big",
                                      parameters={}))
    expect(len(c.get_database("big").description) == DESC, "the description did not round-trip")
    c._t.close()

    s = climits.connect(rt["hms"])
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    before = climits.rss_kb(pid)
    payload = b"".join(get_database(b"big", i + 1) for i in range(CALLS))
    sender = threading.Thread(target=lambda: s.sendall(payload), daemon=True)
    sender.start()

    def bounded():
        time.sleep(3)
        grown = climits.rss_kb(pid) - before
        print("# router RSS grew by %d kB while the client did not read" % grown)
        expect(grown < 32 * 1024, "the router grew by %d kB holding replies nobody reads" % grown)
    t.check("bounded: a client that does not read holds little of the router's memory", bounded)

    t.check("others: another client is served meanwhile", lambda: climits.hms_call_ok(rt["hms"]))

    def no_hang():
        seen = read_replies(s, CALLS, 120)
        expect(seen == list(range(1, CALLS + 1)), "replies out of order or missing")
    t.check("no hang: every pipelined call is answered once the client reads", no_hang)
    s.close()


if __name__ == "__main__":
    sys.exit(climits.main(run, sys.argv, "limits-hmsnr"))
