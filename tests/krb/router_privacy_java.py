#!/usr/bin/python3
"""router_privacy_java.py: a Java client (the JDK's GSSAPI SaslClient, no
Hadoop jars) that wraps its connection context and calls, against fedrouter
at rpc.protection privacy and integrity: proof that the router unwraps what
Java clients send, and that Java reads the router's WRAP replies.

    /usr/bin/python3 tests/krb/router_privacy_java.py BUILD_DIR

java/SaslIpcClient.java is compiled with javac into BUILD_DIR at test time.
The JVM finds alice's tickets through KRB5CCNAME with
javax.security.auth.useSubjectCredsOnly=false, and the realm through
java.security.krb5.conf.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
sys.path.insert(0, HERE)
import procs  # noqa: E402
from router_kerberos import World  # noqa: E402
from router_privacy import BIG_DIR_ENTRIES, prepare, router  # noqa: E402

expect = procs.expect


def compile_client(build):
    out = os.path.join(build, "tests", "krb", "java-classes")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(HERE, "java", "SaslIpcClient.java")
    r = subprocess.run(["javac", "-d", out, src], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=180)
    if r.returncode != 0:
        raise RuntimeError("javac: %s" % r.stdout[-1000:])
    return out


def run_java(w, classes, rt, qop):
    env = w.kdc.env(w.ccache)
    host, port = rt["hdfs"].rsplit(":", 1)
    # The client names the server by the KERBEROS entry's serverId
    # (localhost), as Hadoop's SaslRpcClient does.
    r = subprocess.run(["java", "-Xmx128m", "-XX:+UseSerialGC", "-Djavax.security.auth.useSubjectCredsOnly=false",
                        "-Djava.security.krb5.conf=" + w.kdc.krb5_conf, "-cp", classes, "SaslIpcClient",
                        "localhost", port, qop, "alice@EXAMPLE.TEST", "/p", "/big"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    return r.returncode, r.stdout


def main(argv):
    if len(argv) != 2:
        print("usage: router_privacy_java.py BUILD_DIR", file=sys.stderr)
        return 2
    t = procs.Tally()
    w = None
    try:
        classes = compile_client(argv[1])
        w = World(argv[1])
        t.check("prepare /p and /big on the subcluster", lambda: prepare(w))
        for name, protection, qop in (("jconf", "privacy", "auth-conf"), ("jint", "integrity", "auth-int")):
            rt = router(w, "r-" + name, protection)

            def java(rt=rt, qop=qop):
                rc, out = run_java(w, classes, rt, qop)
                expect(rc == 0, "java client: %d %s" % (rc, out.strip()[-800:]))
                lines = out.splitlines()
                expect("qop " + qop in lines, "negotiated: %r" % lines[:1])
                expect("fileinfo /p type=1 owner=root" in lines, "getFileInfo: %r" % lines)
                listing = [x for x in lines if x.startswith("listing /big ")]
                expect(listing and listing[0].split()[2] == "entries=%d" % BIG_DIR_ENTRIES, "listing: %r" % lines)
                # Over the JDK's 64 KiB maximum buffer: Cyrus splits the
                # reply into tokens, one WRAP frame each; Java reads them
                # as one stream, as Hadoop's client does.
                size = int(listing[0].split("bytes=")[1].split()[0])
                expect(size > 64 * 1024 and "frames=2" in listing[0], "listing reply: %r" % listing)
            t.check("%s: Java (Sasl.QOP %s) wraps its context and calls, unwraps the replies" % (protection, qop),
                    java)

            def java_auth_refused(rt=rt):
                rc, out = run_java(w, classes, rt, "auth")
                expect(rc == 1 and "No common protection layer" in out, "java with QOP auth: %d %s" % (rc, out))
            t.check("%s: Java asking for QOP auth only finds no common layer" % protection, java_auth_refused)
    except Exception as e:  # set-up trouble is a failure with its reason
        t.not_ok("set-up", "%s: %s" % (type(e).__name__, e))
    finally:
        if w:
            w.close(show_logs=t.failed > 0)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
