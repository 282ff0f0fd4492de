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

import krb_world  # next to this script; puts tests/e2e on the path
import procs
from router_privacy import BIG_DIR_ENTRIES, World, prepare, router

HERE = os.path.dirname(os.path.abspath(__file__))
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


def run(build, t):
    classes = compile_client(build)
    w = World(build)
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
            # Over the JDK's 64 KiB maximum buffer: the router splits the
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


if __name__ == "__main__":
    sys.exit(krb_world.main(sys.argv, run))
