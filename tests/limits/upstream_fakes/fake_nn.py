"""fake_nn: NameNodes that misbehave, for the upstream probes of tests/limits.

    nn = FakeNameNode("hang")      # accepts, reads everything, never answers
    nn = FakeNameNode("garbage")   # answers every frame with random bytes
    nn = FakeNameNode("close")     # accepts, then closes at once
    nn.addr                        # "127.0.0.1:PORT"
    nn.accepted                    # connections accepted so far
    nn.frames                      # call frames read so far (hang, garbage)
    nn.close()

A closed port (connections refused) needs no server: closed_port() binds a
socket without listening, so nothing else takes the port while it is held.
Everything runs on one daemon thread with select(); nothing is written to
disk.
"""
import os
import select
import socket
import struct
import threading


def closed_port():
    """(socket, "127.0.0.1:PORT"): a bound socket that does not listen, so a
    connect to PORT is refused. Close the socket to free the port."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, "127.0.0.1:%d" % s.getsockname()[1]


class FakeNameNode:
    def __init__(self, mode="hang", host="127.0.0.1"):
        if mode not in ("hang", "garbage", "close"):
            raise ValueError("mode: hang, garbage or close")
        self.mode = mode
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(1024)
        self.addr = "%s:%d" % (host, self.lsock.getsockname()[1])
        self.accepted = 0
        self.frames = 0
        self._lock = threading.Lock()
        self._stop = False
        self._conns = {}
        self._wake_r, self._wake_w = os.pipe()
        self._th = threading.Thread(target=self._run, daemon=True)
        self._th.start()

    def _run(self):
        while not self._stop:
            rl = [self.lsock, self._wake_r] + list(self._conns)
            try:
                r, _, _ = select.select(rl, [], [], 0.5)
            except (OSError, ValueError):
                break
            for s in r:
                if s is self._wake_r:
                    continue
                if s is self.lsock:
                    try:
                        c, _ = self.lsock.accept()
                    except OSError:
                        continue
                    with self._lock:
                        self.accepted += 1
                    if self.mode == "close":
                        c.close()
                    else:
                        self._conns[c] = bytearray()
                    continue
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self._conns.pop(s, None)
                    s.close()
                    continue
                self._take(s, data)

    def _take(self, s, data):
        """Counts the call frames (after the 7-byte preamble and the
        context frame); garbage mode answers each with random bytes."""
        buf = self._conns[s]
        buf += data
        while True:
            if buf[:4] == b"hrpc":
                if len(buf) < 7:
                    return
                del buf[:7]
                continue
            if len(buf) < 4:
                return
            n = struct.unpack(">I", bytes(buf[:4]))[0]
            if len(buf) < 4 + n:
                return
            del buf[:4 + n]
            with self._lock:
                self.frames += 1
            if self.mode == "garbage":
                try:
                    s.sendall(struct.pack(">I", 40) + os.urandom(40))
                except OSError:
                    return

    def close(self):
        self._stop = True
        os.write(self._wake_w, b"x")
        self._th.join(5)
        for c in list(self._conns):
            c.close()
        self.lsock.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
