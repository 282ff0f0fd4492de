"""listen_forms: the listener addresses the config accepts, as a router
started with them serves them.

  v6       hdfs.listen = [::1]:0 (an IPv6 literal in brackets, as --help
           writes it): the router starts, says where it listens, and
           answers getFileInfo through a mount there (skipped, and said,
           where the machine has no IPv6 loopback)
  off      admin.listen = off (--help: "off = none"): the router starts
           without an admin listener and says so on its ready line
"""
import os
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import fed as fedlib  # noqa: E402
import procs  # noqa: E402
from procs import expect  # noqa: E402

BUILD = sys.argv[1]


def have_v6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def start_router(fed, name, hdfs_listen, admin_listen):
    conf = os.path.join(fed.tmp, name + ".conf")
    with open(conf, "w") as f:
        f.write("[router]\nid = %s\nhdfs.listen = %s\nadmin.listen = %s\nhms.listen = off\nworkers = 1\n\n"
                "[statestore]\ndriver = file\n\n[nameservice ns1]\nnamenodes = %s\n\n"
                "[mount /m]\ndestinations = ns1:/\n" % (name, hdfs_listen, admin_listen, fed.nss["ns1"]["nn"]))
    p = procs.start([os.path.join(BUILD, "router", "fedrouter"), "-c", conf], fed.tmp, name, fed.procs)
    fed.logs.append(name)
    return p, procs.wait_lines(p, name, {"ready": r"^ready hdfs=(\S+) admin=(\S+)$"})["ready"]


def main():
    t = procs.Tally()
    fed = fedlib.Fed(BUILD, prefix="fedrouter-listen.")
    ok = False
    try:
        fed.minidfs("ns1")
        ops = fedlib.Ops(fed.C)

        def v6():
            if not have_v6_loopback():
                print("# no IPv6 loopback on this machine: [::1] not tried")
                return
            _, m = start_router(fed, "r6", "[::1]:0", "127.0.0.1:0")
            addr = m.group(1)
            expect(addr.startswith("[::1]:") and int(addr.rsplit(":", 1)[1]) > 0, "ready line says %s" % addr)
            st = ops.fileinfo(fed.conn(addr), "/m")
            expect(st is not None and st.fileType == fed.C.HdfsFileStatusProto.IS_DIR, "getFileInfo /m: %s" % st)
        t.check("hdfs.listen = [::1]:0 serves HDFS on the IPv6 loopback", v6)

        def admin_off():
            _, m = start_router(fed, "roff", "127.0.0.1:0", "off")
            expect(m.group(2) == "off", "ready line says admin=%s" % m.group(2))
            st = ops.fileinfo(fed.conn(m.group(1)), "/m")
            expect(st is not None and st.fileType == fed.C.HdfsFileStatusProto.IS_DIR, "getFileInfo /m: %s" % st)
        t.check("admin.listen = off starts a router without an admin listener", admin_off)
        ok = t.failed == 0
    finally:
        fed.close(show_logs=not ok)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
