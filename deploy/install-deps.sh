#!/usr/bin/env bash
# Installs every Debian 12 package that fedrouter's build, tests and demo need.
# Idempotent: when everything is present it only checks, in well under a second.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
  libev-dev libjemalloc-dev libssl-dev
  protobuf-c-compiler libprotobuf-c-dev protobuf-compiler
  thrift-compiler libthrift-c-glib-dev libglib2.0-dev
  libzookeeper-mt-dev zookeeper zookeeper-bin
  python3 python3-thrift python3-kazoo python3-protobuf
  hdfs-cli golang-github-colinmarc-hdfs-dev haproxy
  # systemd readiness (sd_notify), the unit check, the manifests check
  libsystemd-dev systemd python3-yaml
  # the Debian package: dpkg-shlibdeps for its dependencies, groff to check its man pages
  dpkg-dev groff-base
  # the unit's system call filter checked against a traced router
  strace
  # Kerberos on Hadoop IPC: MIT GSS-API, Cyrus SASL with its GSSAPI plugin (minidfs, and the
  # DIGEST-MD5 to come), and a loopback MIT KDC for the tests
  libsasl2-dev libsasl2-modules libsasl2-modules-gssapi-mit sasl2-bin libkrb5-dev
  krb5-kdc krb5-admin-server krb5-user python3-gssapi
  # javac: the Java SASL client of the privacy tests (tests/krb/java)
  openjdk-17-jdk-headless
  # the status page's test renders it in a real browser (headless)
  chromium
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
