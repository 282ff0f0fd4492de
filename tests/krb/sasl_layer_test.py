"""sasl_layer_test: runs test_sasl_layer (GSSAPI clients and servers, the
router's and Cyrus's, in one process) against a loopback KDC: alice's tickets for the client,
the nn/localhost keytab for the server.

    sasl_layer_test.py BUILD_DIR
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kdc import Kdc  # noqa: E402


def main(argv):
    binary = os.path.join(argv[1], "tests", "krb", "test_sasl_layer")
    with tempfile.TemporaryDirectory(prefix="fr-sasl-layer-") as d:
        kdc = Kdc(d)
        try:
            kdc.add_user("alice", "alicepw")
            keytab = kdc.add_service("nn/localhost")
            cc = os.path.join(d, "alice.cc")
            kdc.kinit("alice", "alicepw", cc)
            env = kdc.env(cc)
            env["KRB5_KTNAME"] = "FILE:" + keytab
            r = subprocess.run([binary], env=env, timeout=120)
            if r.returncode != 0:
                print("KDC log:\n" + kdc.log_tail())
            return r.returncode
        finally:
            kdc.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
