#!/bin/sh
# zkserver.sh DIR PORT [TICK_MS]: runs Debian's ZooKeeper server in the
# foreground (exec: the caller's child pid is the server's), with its data in
# DIR/data, listening on 127.0.0.1:PORT only. A second run on the same DIR
# keeps the znodes. Stop it with SIGTERM.
set -e
D=$1
PORT=$2
TICK=${3:-500}
[ -n "$D" ] && [ -n "$PORT" ] || { echo "usage: $0 DIR PORT [TICK_MS]" >&2; exit 1; }
mkdir -p "$D/data"
cat > "$D/zoo.cfg" <<CFG
tickTime=$TICK
dataDir=$D/data
clientPort=$PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr
maxClientCnxns=0
minSessionTimeout=$((TICK * 2))
CFG
printf 'log4j.rootLogger=INFO,C\nlog4j.appender.C=org.apache.log4j.ConsoleAppender\nlog4j.appender.C.layout=org.apache.log4j.PatternLayout\n' > "$D/log4j.properties"
exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j.configuration="file:$D/log4j.properties" \
  -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar \
  org.apache.zookeeper.server.quorum.QuorumPeerMain "$D/zoo.cfg" >> "$D/zk.log" 2>&1 < /dev/null
