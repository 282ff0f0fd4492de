"""minihms: a small in-memory Hive metastore for tests.

    minihms --port P --name NAME [--host H] [--hive4] [--version V]
            [--warehouse URI] [--delay-ms N [--delay-methods M,...]] [--delay SECONDS]
            [--event-base N] [--txn-base N] [--lock-base N] [--strict-unlock]
            [--verbose]

Listens on H:P (port 0 picks one) and prints "ready port=N" on stdout once
it accepts connections; SIGTERM or SIGINT stop it.  One thread per
connection.  The transport is detected per connection from the first bytes:
  80 01 ..        unframed binary (strict header, what Hive clients send)
  82 ..           unframed compact
  anything else   a 4-byte frame length, then one of the two above
--hive4 answers get_table and get_table_objects_by_name with
UNKNOWN_METHOD, as Hive 4 does (they were removed there).
--delay-ms holds every answer back by N milliseconds (only the answers to
the listed methods with --delay-methods), so tests can drive timeouts.
--event-base, --txn-base and --lock-base N start the notification event,
transaction and lock ids after N (Hive starts after 0), so that two
instances hand out ids a test can tell apart.  --strict-unlock answers an
unlock of an unknown lock id with NoSuchLockException, as older Hive
releases did; 2.3 and later let it pass.  --hive4 also switches the lock
rules to Hive 4's (shared writes share, EXCL_WRITE, zero-wait reads).
--delay SECONDS is --delay-ms in seconds for every method.  set_ugi is
never held back: a slow metastore still takes the connection's user.

The metastore behaviour lives in hms_store.py.
"""

import argparse
import logging
import os
import signal
import socket
import struct
import sys
import threading

from thrift.Thrift import TApplicationException, TMessageType, TType
from thrift.protocol import TBinaryProtocol, TCompactProtocol
from thrift.protocol.TProtocol import TProtocolException
from thrift.transport import TSocket, TTransport

from hive_metastore import ThriftHiveMetastore

import hms_store

# Removed from the Hive 4 metastore (HIVE-26537), and the 2.x index calls.
HIVE4_REMOVED = {"get_table", "get_table_objects_by_name"}
INDEX_METHODS = {"add_index", "alter_index", "drop_index_by_name", "get_index_by_name",
                 "get_indexes", "get_index_names"}

log = logging.getLogger("minihms")


class CloseConnection(Exception):
    """The processor gave up on this connection (as TThreadPoolServer does
    when the processor throws)."""


def unknown_method(name, seqid, iprot, oprot):
    iprot.skip(TType.STRUCT)
    iprot.readMessageEnd()
    x = TApplicationException(TApplicationException.UNKNOWN_METHOD,
                              "Invalid method name: '%s'" % name)
    oprot.writeMessageBegin(name, TMessageType.EXCEPTION, seqid)
    x.write(oprot)
    oprot.writeMessageEnd()
    oprot.trans.flush()


class Connection:
    """Per-connection processor: the TUGIBasedProcessor part of HMS (set_ugi
    once per connection) plus the method dispatch."""

    def __init__(self, server, sock, peer):
        self.server = server
        self.sock = sock
        self.peer = peer
        self.state = {}                 # ugi, metaconf
        self.handler = hms_store.Handler(server.store, self.state)
        self.processor = ThriftHiveMetastore.Processor(self.handler)

    def detect(self):
        """Peek at the first bytes: (framed, compact) or None on EOF/garbage."""
        want = 5
        while True:
            head = self.sock.recv(want, socket.MSG_PEEK)
            if not head:
                return None
            if head[0] == 0x80:
                if len(head) >= 2 and head[1] != 0x01:
                    return None
                return (False, False)
            if head[0] == 0x82:
                return (False, True)
            if len(head) >= 5:
                if head[4] == 0x80:
                    return (True, False)
                if head[4] == 0x82:
                    return (True, True)
                return None
            # fewer than 5 bytes buffered so far: wait for more
            threading.Event().wait(0.005)

    def run(self):
        try:
            mode = self.detect()
            if mode is None:
                log.info("%s: not a thrift stream, closing", self.peer)
                return
            framed, compact = mode
            tsock = TSocket.TSocket()
            tsock.setHandle(self.sock)
            trans = (TTransport.TFramedTransport(tsock) if framed
                     else TTransport.TBufferedTransport(tsock))
            if compact:
                prot = TCompactProtocol.TCompactProtocolAccelerated(trans)
            else:
                prot = TBinaryProtocol.TBinaryProtocolAccelerated(trans, strictRead=True,
                                                                   strictWrite=True)
            log.debug("%s: %s %s", self.peer, "framed" if framed else "unframed",
                      "compact" if compact else "binary")
            while not self.server.stopping.is_set():
                self.process(prot, prot)
        except (TTransport.TTransportException, ConnectionError, OSError):
            pass
        except CloseConnection as e:
            log.warning("%s: %s", self.peer, e)
        except TProtocolException as e:
            log.warning("%s: protocol error, closing: %s", self.peer, e)
        except Exception:
            log.exception("%s: connection failed", self.peer)
        finally:
            try:
                self.sock.close()
            except OSError:
                pass
            self.server.forget(self)

    def process(self, iprot, oprot):
        name, mtype, seqid = iprot.readMessageBegin()
        if mtype not in (TMessageType.CALL, TMessageType.ONEWAY):
            raise CloseConnection("unexpected message type %d for %s" % (mtype, name))
        delay = self.server.delay_for(name)
        if delay:
            # wait on the stop event so that SIGTERM is not held up
            self.server.stopping.wait(delay)
        if name == "set_ugi":
            if "ugi" in self.state:
                iprot.skip(TType.STRUCT)
                iprot.readMessageEnd()
                raise CloseConnection("UGI is already set. Resetting is not allowed. "
                                      "Current ugi is: " + self.state["ugi"])
            args = ThriftHiveMetastore.set_ugi_args()
            args.read(iprot)
            iprot.readMessageEnd()
            result = ThriftHiveMetastore.set_ugi_result()
            result.success = self.handler.set_ugi(args.user_name, args.group_names)
            self.state["ugi"] = args.user_name or ""
            oprot.writeMessageBegin(name, TMessageType.REPLY, seqid)
            result.write(oprot)
            oprot.writeMessageEnd()
            oprot.trans.flush()
            return
        fn = self.processor._processMap.get(name)
        if (fn is None or name in INDEX_METHODS
                or (self.server.store.hive4 and name in HIVE4_REMOVED)):
            unknown_method(name, seqid, iprot, oprot)
            return
        fn(self.processor, seqid, iprot, oprot)


class Server:
    def __init__(self, host, port, store, delay_ms=0, delay_methods=None):
        self.store = store
        self.delay = max(delay_ms, 0) / 1000.0
        self.delay_methods = set(delay_methods) if delay_methods else None
        self.stopping = threading.Event()
        self.conns = set()
        self.mu = threading.Lock()
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]

    def delay_for(self, method):
        if method == "set_ugi":
            return 0
        if self.delay and (self.delay_methods is None or method in self.delay_methods):
            return self.delay
        return 0

    def forget(self, conn):
        with self.mu:
            self.conns.discard(conn)

    def serve(self):
        while not self.stopping.is_set():
            try:
                sock, peer = self.lsock.accept()
            except OSError:
                if self.stopping.is_set():
                    break
                raise
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(self, sock, "%s:%d" % peer[:2])
            with self.mu:
                self.conns.add(conn)
            threading.Thread(target=conn.run, name="hms-" + conn.peer, daemon=True).start()

    def stop(self):
        self.stopping.set()
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        with self.mu:
            conns = list(self.conns)
        for c in conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main(argv=None):
    ap = argparse.ArgumentParser(prog="minihms", description="in-memory Hive metastore for tests")
    ap.add_argument("--port", type=int, required=True, help="port; 0 picks a free one")
    ap.add_argument("--name", required=True, help="name of this metastore (fb303 getName)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--hive4", action="store_true",
                    help="answer get_table / get_table_objects_by_name with UNKNOWN_METHOD")
    ap.add_argument("--version", default=None, help="fb303 getVersion answer")
    ap.add_argument("--warehouse", default="file:/user/hive/warehouse",
                    help="location of the default database")
    ap.add_argument("--delay-ms", type=int, default=0,
                    help="hold every answer back by this many milliseconds")
    ap.add_argument("--delay-methods", default=None,
                    help="comma-separated methods that --delay-ms applies to (default: all)")
    ap.add_argument("--event-base", type=int, default=0,
                    help="notification event ids start after this number")
    ap.add_argument("--txn-base", type=int, default=0,
                    help="transaction ids start after this number")
    ap.add_argument("--lock-base", type=int, default=0,
                    help="lock ids start after this number")
    ap.add_argument("--strict-unlock", action="store_true",
                    help="unlock of an unknown lock id fails with NoSuchLockException")
    ap.add_argument("--delay", type=float, default=0.0,
                    help="seconds to hold every answer back (as --delay-ms, for every method)")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)

    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if a.verbose else logging.WARNING,
                        format="minihms[%(process)d] %(levelname)s %(message)s")
    version = a.version or ("4.0.1" if a.hive4 else "3.1.3")
    store = hms_store.Store(a.name, a.warehouse, version, hive4=a.hive4,
                            event_base=a.event_base, txn_base=a.txn_base,
                            lock_base=a.lock_base, strict_unlock=a.strict_unlock)
    delay_methods = [m for m in (a.delay_methods or "").split(",") if m]
    delay_ms = a.delay_ms or int(a.delay * 1000)
    srv = Server(a.host, a.port, store, delay_ms, delay_methods)

    def on_signal(signum, frame):
        srv.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t = threading.Thread(target=srv.serve, name="accept", daemon=True)
    t.start()
    sys.stdout.write("ready port=%d\n" % srv.port)
    sys.stdout.flush()
    while t.is_alive():
        t.join(0.2)
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
