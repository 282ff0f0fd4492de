#!/usr/bin/python3
"""kazoo_put.py HOSTS PATH DATA: writes DATA into znode PATH (created with its
parents when missing) with python3-kazoo, a ZooKeeper client other than ours.
DATA may use \\n for newlines. With DATA '-delete-' the znode is deleted."""
import sys

from kazoo.client import KazooClient


def main():
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__ + "\n")
        return 1
    hosts, path, data = sys.argv[1:]
    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(timeout=10)
    try:
        if data == "-delete-":
            zk.delete(path)
        else:
            raw = data.replace("\\n", "\n").encode()
            if zk.exists(path):
                zk.set(path, raw)
            else:
                zk.create(path, raw, makepath=True)
    finally:
        zk.stop()
        zk.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
