"""kdc: a throwaway MIT Kerberos realm on loopback for the security tests.

    kdc = Kdc(tmpdir)                      # realm EXAMPLE.TEST, KDC on a free port
    kdc.add_user("alice", "alicepw")
    keytab = kdc.add_service("nn/localhost")   # random key, exported to a keytab
    kdc.kinit("alice", "alicepw", ccache)  # FILE: ccache for clients
    env = kdc.env(ccache)                  # KRB5_CONFIG & co. for child processes
    ...
    kdc.stop()

enctypes= (a list of MIT enctype names) sets the types of the realm's keys
and tickets; the default is the two aes*-cts-hmac-sha1-96 types.

Everything lives in the directory given: krb5.conf, kdc.conf, the database,
the keytabs, the replay caches, the log. The processes this module starts
read only that krb5.conf (KRB5_CONFIG, KRB5_KDC_PROFILE), so the machine's
own Kerberos set-up is never touched. The KDC runs in the foreground of its
own process and stop() kills it.
"""
import os
import shutil
import socket
import subprocess
import time

REALM = "EXAMPLE.TEST"
ENCTYPES = ("aes256-cts-hmac-sha1-96", "aes128-cts-hmac-sha1-96")
SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


def tool(name):
    for d in SBIN:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    p = shutil.which(name)
    if not p:
        raise RuntimeError("%s not found (deploy/install-deps.sh installs the Kerberos packages)" % name)
    return p


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


KRB5_CONF = """[libdefaults]
  default_realm = {realm}
  dns_lookup_kdc = false
  dns_lookup_realm = false
  rdns = false
  udp_preference_limit = 1
  default_tkt_enctypes = {enctypes}
  default_tgs_enctypes = {enctypes}
  permitted_enctypes = {enctypes}
[realms]
  {realm} = {{
    kdc = 127.0.0.1:{port}
  }}
[domain_realm]
  localhost = {realm}
  127.0.0.1 = {realm}
"""

KDC_CONF = """[kdcdefaults]
  kdc_listen = 127.0.0.1:{port}
  kdc_tcp_listen = 127.0.0.1:{port}
[realms]
  {realm} = {{
    database_name = {d}/principal
    key_stash_file = {d}/stash
    acl_file = {d}/kadm5.acl
    admin_keytab = {d}/kadm5.keytab
    supported_enctypes = {supported}
    max_life = 1d
  }}
[logging]
  kdc = FILE:{d}/kdc.log
  default = FILE:{d}/kdc.log
"""


class Kdc:
    def __init__(self, parent, realm=REALM, enctypes=ENCTYPES):
        self.enctypes = tuple(enctypes)
        self.dir = os.path.join(parent, "krb")
        os.makedirs(self.dir, exist_ok=True)
        self.realm = realm
        self.proc = None
        self.krb5_conf = os.path.join(self.dir, "krb5.conf")
        self.kdc_conf = os.path.join(self.dir, "kdc.conf")
        with open(os.path.join(self.dir, "kadm5.acl"), "w"):
            pass
        self.port = None
        last = None
        for _ in range(3):  # a port taken in between: another one
            self.port = free_port()
            self._write_conf()
            if not os.path.exists(os.path.join(self.dir, "principal")):
                self._run([tool("kdb5_util"), "create", "-s", "-r", realm, "-P", "masterpw"])
            try:
                self._start()
                return
            except RuntimeError as e:
                last = e
        raise last

    def _write_conf(self):
        with open(self.krb5_conf, "w") as f:
            f.write(KRB5_CONF.format(realm=self.realm, port=self.port, enctypes=" ".join(self.enctypes)))
        with open(self.kdc_conf, "w") as f:
            f.write(KDC_CONF.format(realm=self.realm, port=self.port, d=self.dir,
                                    supported=" ".join(e + ":normal" for e in self.enctypes)))

    def env(self, ccache=None):
        """The environment a process of this realm needs (a copy of ours)."""
        e = dict(os.environ)
        e["KRB5_CONFIG"] = self.krb5_conf
        e["KRB5_KDC_PROFILE"] = self.kdc_conf
        e["KRB5RCACHEDIR"] = self.dir
        e.pop("KRB5_KTNAME", None)
        e.pop("KRB5_CLIENT_KTNAME", None)
        if ccache:
            e["KRB5CCNAME"] = "FILE:" + ccache
        return e

    def _run(self, args, stdin=None):
        r = subprocess.run(args, env=self.env(), input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (" ".join(args[:3]), r.returncode, (r.stderr or r.stdout)[-400:]))
        return r.stdout

    def _start(self):
        self.proc = subprocess.Popen([tool("krb5kdc"), "-n", "-P", os.path.join(self.dir, "kdc.pid")],
                                     env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "kdc.err"), "wb"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("krb5kdc exited %d: %s" % (self.proc.returncode, self.log_tail()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("krb5kdc did not listen on %d: %s" % (self.port, self.log_tail()))

    def kadmin(self, query):
        return self._run([tool("kadmin.local"), "-r", self.realm, "-q", query])

    def add_user(self, name, password):
        self.kadmin("addprinc -pw %s %s" % (password, name))

    def add_service(self, name, keytab=None):
        """A principal with a random key, exported to keytab (default
        DIR/<first component>.keytab); returns the keytab's path."""
        keytab = keytab or os.path.join(self.dir, name.split("/")[0] + ".keytab")
        self.kadmin("addprinc -randkey %s" % name)
        self.kadmin("ktadd -k %s %s" % (keytab, name))
        return keytab

    def kinit_keytab(self, name, keytab, ccache):
        """A TGT for name from its keytab into the FILE: ccache."""
        r = subprocess.run([tool("kinit"), "-k", "-t", keytab, name], env=self.env(ccache), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("kinit -k %s failed: %s" % (name, r.stderr.strip()))

    def set_max_life(self, name, seconds):
        """Tickets for principal name (krbtgt/REALM for TGTs) last at most this long."""
        self.kadmin("modprinc -maxlife \"%d seconds\" %s" % (seconds, name))

    def kinit(self, name, password, ccache):
        r = subprocess.run([tool("kinit"), name], env=self.env(ccache), input=password + "\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("kinit %s failed: %s" % (name, r.stderr.strip()))

    def log_tail(self, n=20):
        p = os.path.join(self.dir, "kdc.log")
        if not os.path.exists(p):
            return ""
        with open(p, errors="replace") as f:
            return "\n".join(f.read().splitlines()[-n:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def run_in_realm(argv, prefix, enctypes=ENCTYPES, timeout=120, banner=None):
    """Runs argv in a fresh loopback realm with alice's tickets
    (KRB5CCNAME) and the nn/localhost keytab (KRB5_KTNAME), as in-process
    GSS-API client/server tests need; its exit status, with the KDC's log
    after a failure."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        kdc = Kdc(d, enctypes=enctypes)
        try:
            kdc.add_user("alice", "alicepw")
            keytab = kdc.add_service("nn/localhost")
            cc = os.path.join(d, "alice.cc")
            kdc.kinit("alice", "alicepw", cc)
            env = kdc.env(cc)
            env["KRB5_KTNAME"] = "FILE:" + keytab
            if banner:
                print(banner, flush=True)
            r = subprocess.run(argv, env=env, timeout=timeout)
            if r.returncode != 0:
                print("KDC log:\n" + kdc.log_tail())
            return r.returncode
        finally:
            kdc.stop()
