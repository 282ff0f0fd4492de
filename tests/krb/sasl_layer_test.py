"""sasl_layer_test: runs test_sasl_layer (GSSAPI clients and servers, the
router's and Cyrus's, in one process) against a loopback KDC: alice's
tickets for the client, the nn/localhost keytab for the server.

    sasl_layer_test.py BUILD_DIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kdc import run_in_realm  # noqa: E402


def main(argv):
    binary = os.path.join(argv[1], "tests", "krb", "test_sasl_layer")
    return run_in_realm([binary], "fr-sasl-layer-")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
