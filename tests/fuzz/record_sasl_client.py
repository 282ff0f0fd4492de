#!/usr/bin/python3
"""record_sasl_client: seeds for fuzz_ipc_sasl_client from real exchanges.

    /usr/bin/python3 tests/fuzz/record_sasl_client.py BUILD_DIR [OUT_DIR]

A throwaway KDC (tests/krb/kdc.py) with nn/localhost and router/localhost;
one `minidfs --kerberos nn/_HOST@EXAMPLE.TEST` per rpc protection
(authentication, integrity, privacy). For each, the replay build of
fuzz_ipc_sasl_client logs in as router/localhost from its keytab, runs the
router's SASL exchange with that NameNode, sends the context and a
getFileInfo("/"), and writes every byte the NameNode sent as seeds
rec_<protection>_{wire,client} in OUT_DIR (default: the checked-in
corpus, tests/fuzz/corpus/fuzz_ipc_sasl_client).
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "krb"))
sys.path.insert(0, os.path.join(TESTS, "e2e"))
import procs  # noqa: E402
from kdc import Kdc  # noqa: E402


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip())
        return 2
    build = os.path.abspath(argv[1])
    out = os.path.abspath(argv[2]) if len(argv) > 2 else os.path.join(HERE, "corpus", "fuzz_ipc_sasl_client")
    os.makedirs(out, exist_ok=True)
    recorder = os.path.join(build, "tests", "fuzz", "fuzz_ipc_sasl_client")
    minidfs = os.path.join(build, "tests", "minidfs", "minidfs")
    running = []
    with tempfile.TemporaryDirectory(prefix="fr-record-sasl-") as d:
        kdc = Kdc(d)
        try:
            nn_kt = kdc.add_service("nn/localhost")
            router_kt = kdc.add_service("router/localhost")
            env = kdc.env()
            for prot in ("authentication", "integrity", "privacy"):
                data = os.path.join(d, prot + ".data")
                os.mkdir(data)
                with open(os.path.join(d, prot + ".err"), "wb") as err:
                    p = subprocess.Popen([minidfs, "--nn-port", "0", "--dn-port", "0", "--data-dir", data,
                                          "--nameservice", prot, "--kerberos", "nn/_HOST@EXAMPLE.TEST", "--keytab",
                                          nn_kt, "--rpc-protection", prot],
                                         env=env, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
                running.append(p)
                nn = procs.wait_lines(p, "minidfs " + prot, {"ready": r"^ready nn=(\S+:\d+) "})["ready"].group(1)
                r = subprocess.run([recorder, "--record=" + out, prot, nn, "nn/_HOST@EXAMPLE.TEST",
                                    "router/localhost", router_kt], env=env, timeout=60)
                if r.returncode != 0:
                    print("recording against %s (%s) failed" % (nn, prot))
                    return 1
        finally:
            for p in running:
                procs.stop(p)
            kdc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
