"""krb_cfx_test: runs test_krb_cfx (auth/krb_cfx against MIT GSS-API in one
process) once per encryption type, each in a loopback realm whose keys and
tickets have only that type, so the context's keys have it too: alice's
tickets for the initiator, the nn/localhost keytab for the acceptor.

    krb_cfx_test.py BUILD_DIR [ENCTYPE...]   (default: 17 18 19 20)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kdc import run_in_realm  # noqa: E402

NAMES = {
    17: "aes128-cts-hmac-sha1-96",
    18: "aes256-cts-hmac-sha1-96",
    19: "aes128-cts-hmac-sha256-128",
    20: "aes256-cts-hmac-sha384-192",
}


def run_one(binary, etype):
    return run_in_realm([binary, str(etype)], "fr-krb-cfx-", enctypes=[NAMES[etype]], timeout=300,
                        banner="== %d %s ==" % (etype, NAMES[etype]))


def main(argv):
    binary = os.path.join(os.path.abspath(argv[1]), "tests", "krb", "test_krb_cfx")
    types = [int(a) for a in argv[2:]] or sorted(NAMES)
    failed = [t for t in types if run_one(binary, t) != 0]
    if failed:
        print("failed for enctypes %s" % failed)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
