"""ops_lib: what the operations tests share: the router and ZooKeeper
processes, the admin endpoint, a systemd notification socket."""
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import procs  # noqa: E402

ZKSERVER = os.path.join(HERE, "..", "zk", "zkserver.sh")


def http_get(addr, path, timeout=5):
    """(status, body) of GET http://addr/path; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen("http://%s%s" % (addr, path), timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError as e:
        return 0, str(e)


def accepts(addr):
    host, port = addr.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


class NotifySocket:
    """The datagram socket systemd gives a Type=notify service, as NOTIFY_SOCKET."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def next(self, timeout):
        """The next message as {KEY: value}, or None after timeout seconds."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        return dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)

    def wait_for(self, key, timeout, seen=None):
        """Messages until one holds key; returns it (None on time out).
        Every message read is appended to seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.next(max(0.01, deadline - time.monotonic()))
            if m is None:
                return None
            if seen is not None:
                seen.append(m)
            if key in m:
                return m
        return None

    def close(self):
        self.sock.close()


class ZooKeeper:
    """Debian's ZooKeeper on a loopback port (tests/zk/zkserver.sh)."""

    def __init__(self, tmp, port=None):
        self.dir = os.path.join(tmp, "zk")
        self.port = port or procs.free_port()
        self.hosts = "127.0.0.1:%d" % self.port
        self.proc = None

    def ruok(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"ruok")
                return s.recv(4) == b"imok"
        except OSError:
            return False

    def start(self, timeout=30):
        self.proc = subprocess.Popen(["/bin/sh", ZKSERVER, self.dir, str(self.port)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ruok():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("ZooKeeper on port %d did not answer ruok" % self.port)

    def stop(self):
        if self.proc:
            procs.stop(self.proc)
            self.proc = None


def start_zookeeper(tmp):
    """A started ZooKeeper in tmp/zk: (its process, "127.0.0.1:PORT")."""
    zk = ZooKeeper(tmp)
    zk.start()
    return zk.proc, zk.hosts
