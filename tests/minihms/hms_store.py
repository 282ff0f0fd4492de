"""In-memory metastore state and the ThriftHiveMetastore handler of minihms.

The handler answers with the objects and the declared exceptions that a Hive
metastore returns for the calls Spark's Hive client and Trino make (see
DESIGN.md and the HMS facts).  One Store is shared by all connections and
guarded by one lock; a Handler is made per connection (set_ugi and
setMetaConf state live there).

Every change to databases, tables, partitions and functions is written to a
notification log, as a metastore with DbNotificationListener configured as
transactional listener does: event ids come from one sequence, messages are
the JSON that Hive's JSON message encoder ("json-0.2") writes, with the
metastore objects inside encoded with Thrift's JSON protocol.

Transactions, write ids and locks follow TxnHandler (DbTxnManager's calls):
txn, lock and per-table write ids come from their own sequences, lock
requests queue behind earlier conflicting locks (Hive 3's rules, or Hive 4's
with --hive4), and the errors are the ones TxnHandler raises.  Timeouts of
txns and locks (AcidHouseKeeperService) are not modelled.

Primary and foreign keys are kept as ObjectStore keeps them (constraint
names unique per referenced table, foreign keys checked against the
referenced primary key); unique, not-null, default and check constraints are
not implemented.

Methods that the IDL declares but minihms does not implement answer with a
MetaException "minihms does not implement <name>" when the method declares
MetaException, else with TApplicationException INTERNAL_ERROR.
"""

import copy
import json
import logging
import re
import threading
import time
import zlib

from thrift import TSerialization
from thrift.Thrift import TApplicationException
from thrift.protocol import TJSONProtocol

from hive_metastore import ThriftHiveMetastore
from hive_metastore.ttypes import (
    AddPartitionsResult, AllocateTableWriteIdsResponse, AlreadyExistsException,
    AlterPartitionsResponse, AlterTableResponse, ColumnStatistics, ColumnStatisticsDesc,
    ConfigValSecurityException, DataOperationType, Database, DropPartitionsResult,
    GetAllFunctionsResponse, GetFieldsResponse, GetOpenTxnsInfoResponse,
    GetOpenTxnsResponse, GetPartitionsByNamesResult, GetSchemaResponse,
    GetTableResult, GetTablesResult, GetValidWriteIdsResponse,
    HeartbeatTxnRangeResponse, InvalidInputException, LockResponse, LockState,
    LockType, NoSuchLockException, NoSuchTxnException, OpenTxnsResponse,
    ShowLocksResponse, ShowLocksResponseElement, TableValidWriteIds,
    TxnAbortedException, TxnInfo, TxnOpenException, TxnState, TxnToWriteId, TxnType,
    InvalidObjectException, InvalidOperationException, MetaException,
    CurrentNotificationEventId, NoSuchObjectException, NotificationEvent,
    NotificationEventResponse, NotificationEventsCountResponse, Partition,
    PartitionsStatsResult, PrimaryKeysResponse, ForeignKeysResponse,
    PrincipalType, HiveObjectType, SerDeInfo, SQLForeignKey, SQLPrimaryKey, StorageDescriptor,
    TableMeta, TableStatsResult, UnknownDBException, UnknownTableException)
from fb303.ttypes import fb_status

DEFAULT_DB = "default"
DEFAULT_CATALOG = "hive"
DDL_TIME = "transient_lastDdlTime"
DEFAULT_PARTITION_NAME = "__HIVE_DEFAULT_PARTITION__"
NAME_RE = re.compile(r"^[\w]+$")

# Keys a client may read with getMetaConf / change with setMetaConf, with the
# values a default-configured metastore reports.
META_CONF_DEFAULTS = {
    "hive.metastore.try.direct.sql": "true",
    "hive.metastore.try.direct.sql.ddl": "true",
    "hive.metastore.client.socket.timeout": "600s",
    "hive.metastore.partition.name.whitelist.pattern": "",
    "hive.metastore.batch.retrieve.max": "300",
    "metastore.try.direct.sql": "true",
    "metastore.try.direct.sql.ddl": "true",
    "metastore.client.socket.timeout": "600s",
    "metastore.partition.name.whitelist.pattern": "",
    "metastore.batch.retrieve.max": "300",
}


def now():
    return int(time.time())


# --- notification messages (Hive's JSON message encoder) ----------------------

MESSAGE_FORMAT = "json-0.2"
_TJSON = TJSONProtocol.TJSONProtocolFactory()


def obj_json(obj):
    """A metastore object as Hive embeds it in messages: Thrift JSON protocol."""
    return TSerialization.serialize(obj, protocol_factory=_TJSON).decode("utf-8")


# Hive fills these two from configuration keys that a default metastore does
# not set, so both are empty; callers place them where Hive's class has them.
SRV = {"server": "", "servicePrincipal": ""}


def message(**fields):
    """The message text: the fields in the order given (Hive's message classes
    serialise their fields in declaration order, nulls included)."""
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def part_key_values(t, p):
    return {k.name: v for k, v in zip(t.partitionKeys or [], p.values or [])}


# --- transactions and locks ---------------------------------------------------

log = logging.getLogger("minihms")

LONG_MAX = 2 ** 63 - 1
TXN_MAX_OPEN_BATCH = 1000          # metastore.txn.max.open.batch
OP_CHAR = {DataOperationType.INSERT: "i", DataOperationType.UPDATE: "u",
           DataOperationType.DELETE: "d"}
# order of lock types when locks are listed and compared (LockTypeComparator)
LOCK_RANK = {LockType.SHARED_READ: 0, LockType.SHARED_WRITE: 1, LockType.EXCL_WRITE: 2,
             LockType.EXCLUSIVE: 3}

# Hive 3's jump table: for the lock type wanted and the type of an earlier
# lock, what to do when that lock is (acquired, waiting).
_ACQUIRE, _WAIT, _KEEP_LOOKING = "acquire", "wait", "keep looking"
_JUMP = {
    (LockType.SHARED_READ, LockType.SHARED_READ): (_ACQUIRE, _KEEP_LOOKING),
    (LockType.SHARED_READ, LockType.SHARED_WRITE): (_ACQUIRE, _KEEP_LOOKING),
    (LockType.SHARED_READ, LockType.EXCLUSIVE): (_WAIT, _WAIT),
    (LockType.SHARED_WRITE, LockType.SHARED_READ): (_KEEP_LOOKING, _KEEP_LOOKING),
    (LockType.SHARED_WRITE, LockType.SHARED_WRITE): (_WAIT, _WAIT),
    (LockType.SHARED_WRITE, LockType.EXCLUSIVE): (_WAIT, _WAIT),
    (LockType.EXCLUSIVE, LockType.SHARED_READ): (_WAIT, _WAIT),
    (LockType.EXCLUSIVE, LockType.SHARED_WRITE): (_WAIT, _WAIT),
    (LockType.EXCLUSIVE, LockType.EXCLUSIVE): (_WAIT, _WAIT),
}


def now_ms():
    return int(time.time() * 1000)


def txn_str(tid):
    return "txnid:%d" % tid


def lock_str(ext):
    return "lockid:%d" % ext


def bitset_bytes(indices):
    """java.util.BitSet.toByteArray() for the given set bits: little-endian
    bytes, trailing zero bytes dropped (empty when no bit is set)."""
    if not indices:
        return b""
    out = bytearray(max(indices) // 8 + 1)
    for i in indices:
        out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def parse_valid_txn_list(text):
    """ValidReadTxnList's string form "hwm:minOpen:open,..:aborted,..";
    returns (hwm, invalid txns, aborted txns)."""
    if not text:
        return LONG_MAX, set(), set()
    try:
        f = text.split(":")
        hwm = int(f[0])
        opened = [int(x) for x in f[2].split(",")] if len(f) > 2 and f[2] else []
        aborted = [int(x) for x in f[3].split(",")] if len(f) > 3 and f[3] else []
    except ValueError:
        raise MetaException("Invalid validTxnList " + text)
    return hwm, set(opened) | set(aborted), set(aborted)


class Txn:
    """A TXNS row and the components the txn writes (TXN_COMPONENTS)."""

    def __init__(self, tid, rqst, ms):
        self.id = tid
        self.state = TxnState.OPEN
        self.user = rqst.user
        self.host = rqst.hostname
        self.type = rqst.txn_type if rqst.txn_type is not None else TxnType.DEFAULT
        self.started = ms
        self.heartbeat = ms
        self.components = []        # (db, table, partition, op char)


class LockPart:
    """A HIVE_LOCKS row: one component of the lock with external id ext."""

    def __init__(self, ext, int_id, txnid, lc, rqst, ms):
        self.ext = ext
        self.int_id = int_id
        self.txnid = txnid
        self.db = norm(lc.dbname)
        self.table = norm(lc.tablename)
        self.part = norm(lc.partitionname)
        self.type = lc.type
        self.state = LockState.WAITING
        # locks of a txn are kept alive through the txn's heartbeat
        self.heartbeat = 0 if txnid else ms
        self.acquired = None
        self.blocked = None         # (ext, int id) of the lock it waits for
        self.user = rqst.user
        self.host = rqst.hostname
        self.agent = rqst.agentInfo

    def level(self):
        return "db" if self.table is None else "table" if self.part is None else "partition"

    def describe(self):
        # LockInfo.toString, used in Hive's messages
        return "%s intLockId:%d %s db:%s table:%s partition:%s state:%s type:%s" % (
            lock_str(self.ext), self.int_id, txn_str(self.txnid), self.db,
            "null" if self.table is None else self.table,
            "null" if self.part is None else self.part,
            LockState._VALUES_TO_NAMES.get(self.state), LockType._VALUES_TO_NAMES.get(self.type))


def _h3_type(t):
    # Hive 3 knows no EXCL_WRITE; treat it as the exclusive lock it replaced
    return LockType.EXCLUSIVE if t == LockType.EXCL_WRITE else t


def _ignore_conflict_hive3(want, have):
    """TxnHandler.ignoreConflict (Hive 3): a db-level SHARED_READ and an
    EXCLUSIVE on a table or partition of that db do not block each other,
    nor do locks of one txn."""
    if ((want.level() == "db" and want.type == LockType.SHARED_READ
         and have.level() != "db" and _h3_type(have.type) == LockType.EXCLUSIVE)
            or (have.level() == "db" and have.type == LockType.SHARED_READ
                and want.level() != "db" and _h3_type(want.type) == LockType.EXCLUSIVE)):
        return True
    if want.txnid and want.txnid == have.txnid:
        return True
    return want.txnid == 0 and want.ext == have.ext


def _conflicts_hive4(want, have):
    """The four conditions of Hive 4's CheckLockFunction query."""
    if want.type == LockType.SHARED_READ:
        return (have.type == LockType.EXCLUSIVE
                and not (have.table is not None and want.table is None))
    if want.type == LockType.EXCLUSIVE:
        return not (have.table is None and have.type == LockType.SHARED_READ
                    and want.table is not None)
    if want.type == LockType.SHARED_WRITE:
        return have.type in (LockType.EXCL_WRITE, LockType.EXCLUSIVE)
    if want.type == LockType.EXCL_WRITE:
        return have.type != LockType.SHARED_READ
    return True


def split_catalog(name):
    """'@cat#db' (Hive 3+ clients) -> (cat, db); db None means 'all',
    '!' means the empty name.  Plain names -> (None, name)."""
    if name is not None and name.startswith("@"):
        i = name.find("#")
        if i > 0:
            cat, rest = name[1:i], name[i + 1:]
            if rest == "":
                return cat, None
            if rest == "!":
                return cat, ""
            return cat, rest
    return None, name


def norm_db(name):
    db = split_catalog(name)[1]
    return db.lower() if db is not None else None


def norm(name):
    return name.lower() if name is not None else None


def pattern_regexes(pattern):
    """Hive name patterns: '|' separates alternatives, '*' is any run of
    characters, the rest is a Java regex; matching ignores case."""
    if pattern is None or pattern == "":
        pattern = "*"
    out = []
    for p in pattern.split("|"):
        p = p.strip()
        rx = re.sub(r"(?<!\.)\*", ".*", p)
        try:
            out.append(re.compile(rx, re.IGNORECASE))
        except re.error:
            out.append(re.compile(re.escape(p), re.IGNORECASE))
    return out


def match_names(pattern, names):
    rxs = pattern_regexes(pattern)
    return [n for n in names if any(r.fullmatch(n) for r in rxs)]


# --- partition names (Hive's FileUtils.escapePathName / makePartName) -------

_ESCAPE = set(chr(c) for c in range(1, 32)) | set('"#%\'*/:=?\\\x7f{[]^')


def escape_path(s):
    if s is None or s == "":
        return DEFAULT_PARTITION_NAME
    return "".join("%%%02X" % ord(c) if c in _ESCAPE else c for c in s)


def unescape_path(s):
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), s)


def make_part_name(keys, values):
    if len(keys) != len(values):
        raise MetaException(
            "Invalid partition key & values; keys [%s], values [%s]"
            % (", ".join(k.name for k in keys) + ", " if keys else "",
               ", ".join(values) + ", " if values else ""))
    return "/".join("%s=%s" % (escape_path(k.name.lower()), escape_path(v))
                    for k, v in zip(keys, values))


def parse_part_name(name):
    """'a=1/b=x' -> [('a','1'), ('b','x')]"""
    out = []
    for comp in name.split("/"):
        if "=" not in comp:
            raise MetaException("Invalid partition name " + name)
        k, v = comp.split("=", 1)
        out.append((unescape_path(k), unescape_path(v)))
    return out


# --- partition filter (the subset of Hive's filter grammar Spark sends) -----

class _Filter:
    TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|
                           (?P<num>-?\d+(?:\.\d+)?)|
                           (?P<op><>|!=|<=|>=|=|<|>)|
                           (?P<par>[()])|
                           (?P<word>[A-Za-z_][\w.]*))""", re.X)

    def __init__(self, text, keys):
        self.toks = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = self.TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise MetaException("Error parsing partition filter: " + text)
            pos = m.end()
            kind = m.lastgroup
            val = m.group(kind)
            if kind == "str":
                val = re.sub(r"\\(.)", r"\1", val[1:-1])
            self.toks.append((kind, val))
        self.i = 0
        self.keys = {k.name.lower(): k.type.lower() for k in keys}
        self.text = text
        self.tree = self.parse_or()
        if self.i != len(self.toks):
            raise MetaException("Error parsing partition filter: " + text)

    def peek_word(self, *words):
        if self.i < len(self.toks) and self.toks[self.i][0] == "word" \
                and self.toks[self.i][1].lower() in words:
            return True
        return False

    def parse_or(self):
        node = self.parse_and()
        while self.peek_word("or"):
            self.i += 1
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self):
        node = self.parse_not()
        while self.peek_word("and"):
            self.i += 1
            node = ("and", node, self.parse_not())
        return node

    def parse_not(self):
        if self.peek_word("not"):
            self.i += 1
            return ("not", self.parse_not())
        return self.parse_atom()

    def take(self):
        if self.i >= len(self.toks):
            raise MetaException("Error parsing partition filter: " + self.text)
        t = self.toks[self.i]
        self.i += 1
        return t

    def parse_atom(self):
        kind, val = self.take()
        if kind == "par" and val == "(":
            node = self.parse_or()
            if self.take() != ("par", ")"):
                raise MetaException("Error parsing partition filter: " + self.text)
            return node
        lhs = (kind, val)
        kind2, op = self.take()
        if kind2 == "word" and op.lower() == "like":
            op = "like"
        elif kind2 != "op":
            raise MetaException("Error parsing partition filter: " + self.text)
        rhs = self.take()
        if lhs[0] != "word":            # value op key: swap
            flip = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}
            lhs, rhs, op = rhs, lhs, flip.get(op, op)
        key = lhs[1].lower()
        if key not in self.keys:
            raise MetaException("Filtering is supported only on partition keys"
                                " of type string, integral types; " + key
                                + " is not a partition key")
        return ("cmp", key, op, rhs[1])

    def eval(self, values, node=None):
        node = self.tree if node is None else node
        if node[0] == "or":
            return self.eval(values, node[1]) or self.eval(values, node[2])
        if node[0] == "and":
            return self.eval(values, node[1]) and self.eval(values, node[2])
        if node[0] == "not":
            return not self.eval(values, node[1])
        _, key, op, lit = node
        have = values[key]
        if op == "like":
            return re.fullmatch(lit, have) is not None
        if self.keys[key] in ("tinyint", "smallint", "int", "bigint"):
            try:
                a, b = int(have), int(lit)
            except ValueError:
                a, b = have, lit
        else:
            a, b = have, lit
        return {"=": a == b, "<>": a != b, "!=": a != b, "<": a < b,
                "<=": a <= b, ">": a > b, ">=": a >= b}[op]


# --- the store --------------------------------------------------------------

class Store:
    def __init__(self, name, warehouse, version, hive4=False, event_base=0,
                 txn_base=0, lock_base=0, strict_unlock=False):
        self.name = name
        self.version = version
        self.hive4 = hive4
        self.warehouse = warehouse.rstrip("/")
        self.started = now()
        self.lock = threading.RLock()
        self.dbs = {}          # name -> Database
        self.tables = {}       # (db, table) -> Table
        self.parts = {}        # (db, table) -> {tuple(values): Partition}
        self.tstats = {}       # (db, table) -> {col: ColumnStatisticsObj}
        self.tstats_time = {}  # (db, table) -> lastAnalyzed
        self.pstats = {}       # (db, table, partname) -> {col: ColumnStatisticsObj}
        self.funcs = {}        # (db, name) -> Function
        # primary and foreign key columns (MConstraint rows): dicts with kind
        # "pk" or "fk", name, parent (the table a pk is on, the table an fk
        # refers to), child (the table an fk is on) and the SQL* object
        self.cons = []
        self.options = {}      # fb303 options
        self.privs = []        # HiveObjectPrivilege on databases (DB_PRIVS)
        # notification log; ids follow event_base (0 on a fresh Hive metastore)
        self.events = []       # NotificationEvent, ascending ids
        self.next_event = event_base + 1
        # transactions, write ids, locks; the id sequences start after the
        # bases (0 on a fresh Hive metastore)
        self.next_txn = txn_base + 1
        self.txns = {}         # id -> Txn, open and aborted ones (TXNS)
        self.committed = set() # committed txns that wrote (COMPLETED_TXN_COMPONENTS)
        self.write_set = []    # (db, table, partition, txnid, commit id, op) (WRITE_SET)
        self.next_write = {}   # (db, table) -> next write id (NEXT_WRITE_ID)
        self.txn_writes = {}   # (db, table) -> {txnid: write id} (TXN_TO_WRITE_ID)
        self.next_lock = lock_base + 1
        self.locks = {}        # external lock id -> [LockPart] (HIVE_LOCKS)
        # Hive >= 2.3 lets unlock of an unknown lock id pass; older ones threw
        self.strict_unlock = strict_unlock
        self.dbs[DEFAULT_DB] = Database(
            name=DEFAULT_DB, description="Default Hive database",
            locationUri=self.warehouse, parameters={}, ownerName="public",
            ownerType=PrincipalType.ROLE, catalogName=DEFAULT_CATALOG,
            createTime=self.started)


def _throws_meta(method):
    spec = getattr(ThriftHiveMetastore, method + "_result", None)
    if spec is None:
        return False
    # thrift_spec rows: (id, ttype, name, (class, spec) for structs, default)
    return any(f and isinstance(f[3], (list, tuple)) and f[3][0] is MetaException
               for f in spec.thrift_spec or ())


class Handler:
    """One per connection; all state is in the shared Store."""

    def __init__(self, store, conn):
        self.s = store
        self.conn = conn          # per-connection dict: ugi, metaconf

    # Unimplemented methods of the IDL.
    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)

        def unimplemented(*args):
            msg = "minihms does not implement %s" % method
            if _throws_meta(method):
                raise MetaException(msg)
            raise TApplicationException(TApplicationException.INTERNAL_ERROR, msg)
        return unimplemented

    # --- helpers (call with the lock held) ---------------------------------

    def _db(self, name):
        db = norm_db(name)
        d = self.s.dbs.get(db)
        if d is None:
            raise NoSuchObjectException("database %s.%s" % (DEFAULT_CATALOG, db))
        return d

    def _table(self, db, tbl, exc=NoSuchObjectException):
        key = (norm_db(db), norm(tbl))
        t = self.s.tables.get(key)
        if t is None:
            raise exc("%s.%s table not found" % key)
        return key, t

    def _part_values(self, t, vals):
        if vals is None or len(vals) != len(t.partitionKeys or []):
            make_part_name(t.partitionKeys or [], vals or [])
        return tuple(vals)

    def _part_name_values(self, t, name):
        kv = parse_part_name(name)
        keys = [k.name.lower() for k in t.partitionKeys or []]
        if [k.lower() for k, _ in kv] != keys:
            raise MetaException("Invalid partition name %s for table %s" % (name, t.tableName))
        return tuple(v for _, v in kv)

    def _pname(self, t, values):
        return make_part_name(t.partitionKeys or [], list(values))

    def _check_whitelist(self, vals):
        # The session's whitelist (setMetaConf on this connection) applies to
        # the partitions it adds, as the metastore's own setting would.
        conf = self.conn.get("metaconf", {})
        pat = (conf.get("metastore.partition.name.whitelist.pattern")
               or conf.get("hive.metastore.partition.name.whitelist.pattern"))
        if not pat:
            return
        for v in vals:
            if v is not None and not re.fullmatch(pat, v):
                raise MetaException("Partition value '%s' contains a character not matched by "
                                    "whitelist pattern '%s'" % (v, pat))

    def _sorted_parts(self, key, t):
        ps = self.s.parts.get(key, {})
        return [ps[v] for v in sorted(ps, key=lambda v: self._pname(t, v))]

    def _limit(self, items, max_parts):
        if max_parts is not None and max_parts >= 0:
            return items[:max_parts]
        return items

    @staticmethod
    def _out(obj):
        return copy.deepcopy(obj)

    # --- notification log (call with the lock held) ---------------------------

    def _event(self, etype, msg, db=None, table=None, cat=DEFAULT_CATALOG):
        self.s.events.append(NotificationEvent(
            eventId=self.s.next_event, eventTime=now(), eventType=etype, dbName=db,
            tableName=table, message=msg, messageFormat=MESSAGE_FORMAT, catName=cat))
        self.s.next_event += 1

    def _ev_database(self, etype, d):
        # CREATE_DATABASE and DROP_DATABASE carry the same fields
        self._event(etype, message(**SRV, cat=d.catalogName, db=d.name, dbJson=obj_json(d),
                                   timestamp=now()), db=d.name)

    def _ev_alter_database(self, old, new):
        self._event("ALTER_DATABASE", message(
            **SRV, db=old.name, dbObjBeforeJson=obj_json(old), dbObjAfterJson=obj_json(new),
            timestamp=now()), db=old.name)

    def _ev_create_table(self, t):
        self._event("CREATE_TABLE", message(
            **SRV, db=t.dbName, table=t.tableName, tableType=t.tableType,
            tableObjJson=obj_json(t), timestamp=now(), files=[]), t.dbName, t.tableName)

    def _ev_drop_table(self, t):
        self._event("DROP_TABLE", message(
            **SRV, db=t.dbName, table=t.tableName, tableType=t.tableType,
            tableObjJson=obj_json(t), timestamp=now()), t.dbName, t.tableName)

    def _ev_alter_table(self, old, new):
        self._event("ALTER_TABLE", message(
            **SRV, db=old.dbName, table=old.tableName, tableType=old.tableType,
            tableObjBeforeJson=obj_json(old), tableObjAfterJson=obj_json(new),
            isTruncateOp="false", timestamp=now(),
            writeId=new.writeId if new.writeId is not None else -1), old.dbName, old.tableName)

    def _ev_add_partitions(self, t, parts):
        # one event for all partitions added by one call
        self._event("ADD_PARTITION", message(
            **SRV, db=t.dbName, table=t.tableName, tableType=t.tableType,
            tableObjJson=obj_json(t), timestamp=now(),
            partitions=[part_key_values(t, p) for p in parts],
            partitionListJson=[obj_json(p) for p in parts], partitionFiles=[]),
            t.dbName, t.tableName)

    def _ev_drop_partition(self, t, p):
        # one event per dropped partition
        self._event("DROP_PARTITION", message(
            **SRV, cat=t.catName, db=t.dbName, table=t.tableName, tableType=t.tableType,
            tableObjJson=obj_json(t), timestamp=now(), partitions=[part_key_values(t, p)]),
            t.dbName, t.tableName)

    def _ev_alter_partition(self, t, old, new):
        self._event("ALTER_PARTITION", message(
            **SRV, cat=t.catName, db=t.dbName, table=t.tableName, tableType=t.tableType,
            tableObjJson=obj_json(t), isTruncateOp="false", timestamp=now(),
            writeId=new.writeId if new.writeId is not None else -1,
            keyValues=part_key_values(t, old), partitionObjBeforeJson=obj_json(old),
            partitionObjAfterJson=obj_json(new)), t.dbName, t.tableName)

    def _ev_function(self, etype, f):
        if etype == "CREATE_FUNCTION":
            msg = message(**SRV, db=f.dbName, functionObjJson=obj_json(f), timestamp=now())
        else:
            msg = message(**SRV, db=f.dbName, functionName=f.functionName, timestamp=now())
        self._event(etype, msg, db=f.dbName)

    # --- notification calls ---------------------------------------------------

    def get_current_notificationEventId(self):
        with self.s.lock:
            return CurrentNotificationEventId(eventId=self.s.next_event - 1)

    def get_next_notification(self, rqst):
        """Events after lastEvent in id order, filtered as ObjectStore does;
        with a db or table filter, events without one (txn events) drop out."""
        limit = rqst.maxEvents if rqst.maxEvents is not None and rqst.maxEvents > 0 else None
        cat = norm(rqst.catName)
        db = norm_db(rqst.dbName)
        tables = {norm(x) for x in rqst.tableNames or []}
        skip = set(rqst.eventTypeSkipList or [])
        out = []
        with self.s.lock:
            for ev in self.s.events:
                if ev.eventId <= rqst.lastEvent:
                    continue
                if ((cat is not None and ev.catName != cat)
                        or (db is not None and ev.dbName != db)
                        or (tables and ev.tableName not in tables)
                        or ev.eventType in skip):
                    continue
                out.append(self._out(ev))
                if limit is not None and len(out) >= limit:
                    break
        return NotificationEventResponse(events=out)

    # --- transactions (TxnHandler) ------------------------------------------------

    def _txn_state(self, tid):
        t = self.s.txns.get(tid)
        if t is not None:
            return "open" if t.state == TxnState.OPEN else "aborted"
        # a committed txn is known only if it wrote something
        return "committed" if tid in self.s.committed else "unknown"

    @staticmethod
    def _txn_error(tid, state):
        # TxnHandler.ensureValidTxn / raiseTxnUnexpectedState
        if state == "aborted":
            raise TxnAbortedException("Transaction %s already aborted" % txn_str(tid))
        if state == "committed":
            raise NoSuchTxnException("Transaction %s is already committed." % txn_str(tid))
        raise NoSuchTxnException("No such transaction %s" % txn_str(tid))

    def _open_txn(self, tid):
        state = self._txn_state(tid)
        if state != "open":
            self._txn_error(tid, state)
        return self.s.txns[tid]

    def _drop_txn_locks(self, tid):
        for ext in [e for e, parts in self.s.locks.items() if parts[0].txnid == tid]:
            del self.s.locks[ext]

    def _abort(self, tid, event=True):
        self.s.txns[tid].state = TxnState.ABORTED
        self._drop_txn_locks(tid)
        if event:
            dbs = sorted({c[0] for c in self.s.txns[tid].components})
            self._event("ABORT_TXN", message(txnid=tid, timestamp=now(), **SRV,
                                             dbsUpdated=dbs), cat=None)

    def _skipped_types(self):
        # Hive 4 leaves read-only txns out of the snapshot
        return (TxnType.READ_ONLY,) if self.s.hive4 else ()

    def _open_txns_locked(self, exclude):
        ids, aborted, min_open = [], [], None
        for tid in sorted(self.s.txns):
            t = self.s.txns[tid]
            if t.type in exclude:
                continue
            ids.append(tid)
            if t.state == TxnState.ABORTED:
                aborted.append(len(ids) - 1)
            elif min_open is None:
                min_open = tid
        return GetOpenTxnsResponse(txn_high_water_mark=self.s.next_txn - 1, open_txns=ids,
                                   min_open_txn=min_open, abortedBits=bitset_bytes(aborted))

    def open_txns(self, rqst):
        n = rqst.num_txns
        if n is None or n <= 0:
            # MetaException, which open_txns does not declare
            raise TApplicationException(TApplicationException.INTERNAL_ERROR,
                                        "Internal error processing open_txns")
        n = min(n, TXN_MAX_OPEN_BATCH)
        with self.s.lock:
            first = self.s.next_txn
            self.s.next_txn += n
            ms = now_ms()
            ids = list(range(first, first + n))
            for tid in ids:
                self.s.txns[tid] = Txn(tid, rqst, ms)
            self._event("OPEN_TXN", message(txnIds=None, timestamp=now(), fromTxnId=first,
                                            toTxnId=ids[-1], **SRV), cat=None)
            return OpenTxnsResponse(txn_ids=ids)

    def get_open_txns(self):
        with self.s.lock:
            return self._open_txns_locked(self._skipped_types())

    def get_open_txns_req(self, req):
        with self.s.lock:
            return self._open_txns_locked(tuple(req.excludeTxnTypes or ()))

    def get_open_txns_info(self):
        with self.s.lock:
            infos = [TxnInfo(id=t.id, state=t.state, user=t.user, hostname=t.host,
                             startedTime=t.started, lastHeartbeatTime=t.heartbeat)
                     for t in (self.s.txns[k] for k in sorted(self.s.txns))]
            return GetOpenTxnsInfoResponse(txn_high_water_mark=self.s.next_txn - 1,
                                           open_txns=infos)

    def abort_txn(self, rqst):
        with self.s.lock:
            state = self._txn_state(rqst.txnid)
            if state == "aborted":
                return                  # aborting twice is allowed
            if state != "open":
                self._txn_error(rqst.txnid, state)
            self._abort(rqst.txnid)

    def abort_txns(self, rqst):
        # best effort: ids that are not open are passed over silently
        with self.s.lock:
            for tid in rqst.txn_ids or []:
                if self._txn_state(tid) == "open":
                    self._abort(tid)

    def commit_txn(self, rqst):
        tid = rqst.txnid
        with self.s.lock:
            state = self._txn_state(tid)
            if state == "committed":
                return                  # a repeated commit is a no-op
            if state != "open":
                self._txn_error(tid, state)
            t = self.s.txns[tid]
            writes = sorted(set(c for c in t.components if c[3] in ("u", "d")),
                            key=lambda c: tuple("" if x is None else x for x in c))
            if writes:
                # first committer wins: an update/delete that overlaps one
                # committed by a txn running at the same time aborts
                commit_id = self.s.next_txn - 1
                for db, tbl, part, op in writes:
                    for w in self.s.write_set:
                        if (w[:3] == (db, tbl, part) and w[3] != tid and tid <= w[4]
                                and "u" in (w[5], op)):
                            what = "%s/%s" % (db, tbl) + ("/" + part if part else "")
                            msg = ("Aborting [%s,%d] due to a write conflict on %s committed by "
                                   "[%s,%d] %s/%s" % (txn_str(tid), commit_id, what,
                                                     txn_str(w[3]), w[4], op, w[5]))
                            self._abort(tid, event=False)
                            raise TxnAbortedException(msg)
                for db, tbl, part, op in writes:
                    self.s.write_set.append((db, tbl, part, tid, commit_id, op))
            del self.s.txns[tid]
            self._drop_txn_locks(tid)
            if t.components:
                self.s.committed.add(tid)
            self._event("COMMIT_TXN", message(
                txnid=tid, timestamp=now(), **SRV, writeIds=None, databases=None, tables=None,
                partitions=None, tableObjs=None, partitionObjs=None, files=None), cat=None)

    def heartbeat_txn_range(self, txns):
        aborted, nosuch = set(), set()
        with self.s.lock:
            for tid in range(txns.min, txns.max + 1):
                state = self._txn_state(tid)
                if state == "open":
                    self.s.txns[tid].heartbeat = now_ms()
                elif state == "aborted":
                    aborted.add(tid)
                else:
                    nosuch.add(tid)
        return HeartbeatTxnRangeResponse(aborted=aborted, nosuch=nosuch)

    def add_dynamic_partitions(self, rqst):
        with self.s.lock:
            t = self._open_txn(rqst.txnid)
            op = OP_CHAR.get(rqst.operationType, "u")
            for name in rqst.partitionnames or []:
                t.components.append((norm_db(rqst.dbname), norm(rqst.tablename), name, op))

    # --- write ids -----------------------------------------------------------

    def allocate_table_write_ids(self, rqst):
        key = (norm_db(rqst.dbName), norm(rqst.tableName))
        if rqst.txnIds is None:
            raise MetaException("minihms allocates write ids for txnIds only")
        tids = sorted(rqst.txnIds)
        with self.s.lock:
            bad = [tid for tid in tids if self._txn_state(tid) != "open"
                   or self.s.txns[tid].type in self._skipped_types()]
            if bad:
                # Hive throws IllegalStateException here, which reaches the
                # client as an internal error and not as NoSuchTxnException
                log.warning("Write ID allocation failed on %s.%s as not all input txns in open "
                            "state: %s", key[0], key[1], bad)
                raise TApplicationException(TApplicationException.INTERNAL_ERROR,
                                            "Internal error processing allocate_table_write_ids")
            have = self.s.txn_writes.setdefault(key, {})
            if rqst.reallocate:
                for tid in tids:
                    have.pop(tid, None)
            kept = [TxnToWriteId(tid, have[tid]) for tid in tids if tid in have]
            if len(kept) == len(tids):
                return AllocateTableWriteIdsResponse(txnToWriteIds=kept)
            new = []
            nxt = self.s.next_write.get(key, 1)
            for tid in tids:
                if tid not in have:
                    have[tid] = nxt
                    new.append(TxnToWriteId(tid, nxt))
                    nxt += 1
            self.s.next_write[key] = nxt
            self._event("ALLOC_WRITE_ID_EVENT", message(
                **SRV, catName=DEFAULT_CATALOG, dbName=key[0], tableName=key[1],
                txnIdList=[x.txnId for x in new],
                writeIdList=[x.writeId for x in new], timestamp=now()), key[0], key[1])
            return AllocateTableWriteIdsResponse(txnToWriteIds=kept + new)

    def _snapshot(self, current=0):
        """The txn snapshot of TxnCommonUtils.createValidReadTxnList: (high
        water mark, invalid txns, aborted txns) as seen by txn current."""
        r = self._open_txns_locked(self._skipped_types())
        hwm = min(current, r.txn_high_water_mark) if current > 0 else r.txn_high_water_mark
        invalid = {tid for tid in r.open_txns if not (current > 0 and tid >= current)}
        aborted = {tid for tid in invalid if self.s.txns[tid].state == TxnState.ABORTED}
        return hwm, invalid, aborted

    def get_valid_write_ids(self, rqst):
        names = rqst.fullTableNames or []
        with self.s.lock:
            if rqst.validTxnList:
                hwm, invalid, aborted = parse_valid_txn_list(rqst.validTxnList)
            else:
                current = 0
                if rqst.writeId is not None and names:
                    first = tuple(norm(x) for x in names[0].split(".", 1))
                    current = next((tid for tid, w in self.s.txn_writes.get(first, {}).items()
                                    if w == rqst.writeId), 0)
                hwm, invalid, aborted = self._snapshot(current)
            out = []
            for full in names:
                if "." not in full:
                    raise MetaException("Invalid fullTableName " + full)
                key = tuple(norm(x) for x in full.split(".", 1))
                writes = self.s.txn_writes.get(key, {})
                # the highest write id of a txn inside the snapshot, else the
                # highest ever allocated
                mark = max([w for tid, w in writes.items() if tid <= hwm] or [0])
                if mark <= 0:
                    mark = max(self.s.next_write.get(key, 1) - 1, 0)
                exceptions, bits, min_open = [], [], None
                for tid, w in sorted(writes.items(), key=lambda x: x[1]):
                    if w > mark or (tid <= hwm and tid not in invalid):
                        continue        # beyond the mark, or committed in the snapshot
                    exceptions.append(w)
                    if tid in aborted:
                        bits.append(len(exceptions) - 1)
                    elif min_open is None:
                        min_open = w
                out.append(TableValidWriteIds(
                    fullTableName=full, writeIdHighWaterMark=mark, invalidWriteIds=exceptions,
                    minOpenWriteId=min_open, abortedBits=bitset_bytes(bits)))
            return GetValidWriteIdsResponse(tblValidWriteIds=out)

    # --- locks -----------------------------------------------------------------

    def _blocker_hive3(self, mine, earlier):
        """Hive 3's checkLock: each waiting component looks at the earlier
        locks, most restrictive last-in-order first, through the jump table."""
        order = sorted(earlier, key=lambda p: (p.state != LockState.ACQUIRED,
                                               LOCK_RANK[_h3_type(p.type)], p.ext, p.int_id))
        for want in mine:
            if want.state == LockState.ACQUIRED:
                continue
            for have in reversed(order):
                if (want.db != have.db
                        or (want.table and have.table and want.table != have.table)
                        or (want.part and have.part and want.part != have.part)):
                    continue
                act = _JUMP[(_h3_type(want.type), _h3_type(have.type))]
                act = act[0] if have.state == LockState.ACQUIRED else act[1]
                if act == _WAIT:
                    if not _ignore_conflict_hive3(want, have):
                        return want, have
                    break
                if act == _ACQUIRE:
                    break
        return None

    def _blocker_hive4(self, mine, earlier):
        """Hive 4's checkLock: any earlier lock on an overlapping object that
        conflicts blocks, whatever its state; locks of one txn never do."""
        order = sorted(earlier, key=lambda p: (p.ext, p.int_id))
        for kind in (LockType.SHARED_READ, LockType.EXCLUSIVE, LockType.SHARED_WRITE,
                     LockType.EXCL_WRITE):
            for want in mine:
                if want.type != kind:
                    continue
                for have in order:
                    if want.db != have.db:
                        continue
                    if not (have.table is None or want.table is None
                            or (have.table == want.table
                                and (have.part is None or want.part is None
                                     or have.part == want.part))):
                        continue
                    if want.txnid and have.txnid == want.txnid:
                        continue
                    if _conflicts_hive4(want, have):
                        return want, have
        return None

    def _check_lock(self, ext, zero_wait=False):
        mine = self.s.locks[ext]
        earlier = [p for e, ps in self.s.locks.items() if e < ext for p in ps]
        pick = self._blocker_hive4 if self.s.hive4 else self._blocker_hive3
        blocker = pick(mine, earlier)
        if blocker is None:
            ms = now_ms()
            for p in mine:
                p.state = LockState.ACQUIRED
                p.acquired = ms
                p.heartbeat = 0 if p.txnid else ms
                p.blocked = None
            return LockResponse(lockid=ext, state=LockState.ACQUIRED)
        want, have = blocker
        if zero_wait and self.s.hive4 and want.type == LockType.SHARED_READ and want.txnid:
            # Hive 4's zero-wait reads give up at once instead of queueing
            del self.s.locks[ext]
            return LockResponse(lockid=ext, state=LockState.NOT_ACQUIRED,
                                errorMessage="Unable to acquire read lock due to an existing "
                                             "exclusive lock {%s}" % have.describe())
        want.blocked = (have.ext, have.int_id)
        return LockResponse(lockid=ext, state=LockState.WAITING)

    def lock(self, rqst):
        comps = rqst.component or []
        tid = rqst.txnid or 0
        with self.s.lock:
            if tid:
                txn = self._open_txn(tid)
            if not comps:
                raise TApplicationException(TApplicationException.INTERNAL_ERROR,
                                            "Internal error processing lock")
            ext = self.s.next_lock
            self.s.next_lock += 1
            ms = now_ms()
            parts = [LockPart(ext, i, tid, lc, rqst, ms) for i, lc in enumerate(comps, 1)]
            if tid:
                # what the txn writes (TXN_COMPONENTS): acid inserts, updates
                # and deletes, except dynamic-partition writes, whose
                # partitions come with add_dynamic_partitions
                for lc, p in zip(comps, parts):
                    if lc.isTransactional and lc.operationType in OP_CHAR \
                            and not lc.isDynamicPartitionWrite:
                        txn.components.append((p.db, p.table, p.part,
                                               OP_CHAR[lc.operationType]))
            self.s.locks[ext] = parts
            return self._check_lock(ext, zero_wait=bool(rqst.zeroWaitReadEnabled))

    def _heartbeat_lock(self, ext):
        parts = self.s.locks.get(ext)
        if not parts:
            raise NoSuchLockException("No such lock: " + lock_str(ext))
        ms = now_ms()
        for p in parts:
            p.heartbeat = ms

    def check_lock(self, rqst):
        with self.s.lock:
            parts = self.s.locks.get(rqst.lockid)
            if not parts:
                raise NoSuchLockException("No such lock " + lock_str(rqst.lockid))
            if parts[0].txnid:
                self._open_txn(parts[0].txnid).heartbeat = now_ms()
            else:
                self._heartbeat_lock(rqst.lockid)
            return self._check_lock(rqst.lockid)

    def unlock(self, rqst):
        ext = rqst.lockid
        with self.s.lock:
            parts = self.s.locks.get(ext)
            if not parts:
                if self.s.strict_unlock:
                    raise NoSuchLockException("No such lock " + lock_str(ext))
                return
            # a txn's locks go with the txn; only a request still waiting
            # may be withdrawn
            left = [p for p in parts if p.txnid and p.state != LockState.WAITING]
            if len(left) == len(parts):
                raise TxnOpenException("Unlocking locks associated with transaction not "
                                       "permitted.  " + parts[0].describe())
            if left:
                self.s.locks[ext] = left
            else:
                del self.s.locks[ext]

    def heartbeat(self, ids):
        with self.s.lock:
            if ids.lockid:
                self._heartbeat_lock(ids.lockid)
            if ids.txnid:
                self._open_txn(ids.txnid).heartbeat = now_ms()

    def show_locks(self, rqst):
        with self.s.lock:
            rows = [p for ps in self.s.locks.values() for p in ps
                    if (not rqst.dbname or p.db == rqst.dbname)
                    and (not rqst.tablename or p.table == rqst.tablename)
                    and (not rqst.partname or p.part == rqst.partname)
                    and (not rqst.txnid or p.txnid == rqst.txnid)]
            # in the order checkLock looks at them
            rows.sort(key=lambda p: (p.state != LockState.ACQUIRED, LOCK_RANK[p.type], p.ext,
                                     p.int_id))
            return ShowLocksResponse(locks=[ShowLocksResponseElement(
                lockid=p.ext, dbname=p.db, tablename=p.table, partname=p.part, state=p.state,
                type=p.type, txnid=p.txnid, lastheartbeat=p.heartbeat, acquiredat=p.acquired,
                user=p.user, hostname=p.host, agentInfo=p.agent,
                blockedByExtId=p.blocked[0] if p.blocked else None,
                blockedByIntId=p.blocked[1] if p.blocked else None,
                lockIdInternal=p.int_id) for p in rows])

    def get_notification_events_count(self, rqst):
        """Counts as ObjectStore does: dbName "*" means every database, and
        events without a database or catalog (txn events) always count."""
        cat = norm(rqst.catName) if rqst.catName else DEFAULT_CATALOG
        db = None if rqst.dbName == "*" else norm_db(rqst.dbName)
        tables = {norm(x) for x in rqst.tableNames or []}
        n = 0
        with self.s.lock:
            for ev in self.s.events:
                if ev.eventId <= rqst.fromEventId:
                    continue
                if rqst.toEventId is not None and ev.eventId > rqst.toEventId:
                    continue
                if db is not None and ev.dbName not in (db, None):
                    continue
                if ev.catName not in (cat, None):
                    continue
                if tables and ev.tableName not in tables:
                    continue
                n += 1
        if rqst.limit is not None and n > rqst.limit:
            n = rqst.limit
        return NotificationEventsCountResponse(eventsCount=n)

    # --- fb303 ----------------------------------------------------------------

    def getName(self):
        return self.s.name

    def getVersion(self):
        return self.s.version

    def getStatus(self):
        return fb_status.ALIVE

    def getStatusDetails(self):
        return ""

    def getCounters(self):
        return {}

    def getCounter(self, key):
        return 0

    def setOption(self, key, value):
        with self.s.lock:
            self.s.options[key] = value

    def getOption(self, key):
        with self.s.lock:
            return self.s.options.get(key, "")

    def getOptions(self):
        with self.s.lock:
            return dict(self.s.options)

    def getCpuProfile(self, seconds):
        return ""

    def aliveSince(self):
        return self.s.started

    def reinitialize(self):
        pass

    def shutdown(self):
        # HMS only cleans up the handler thread's state here.
        pass

    # --- session --------------------------------------------------------------

    def set_ugi(self, user_name, group_names):
        # The processor stores the user on the connection (see minihms.py).
        return list(group_names or [])

    def getMetaConf(self, key):
        if key not in META_CONF_DEFAULTS:
            raise MetaException("Invalid configuration key " + str(key))
        return self.conn.setdefault("metaconf", {}).get(key, META_CONF_DEFAULTS[key])

    def setMetaConf(self, key, value):
        if key not in META_CONF_DEFAULTS:
            raise MetaException("Invalid configuration key " + str(key))
        self.conn.setdefault("metaconf", {})[key] = value

    def get_config_value(self, name, defaultValue):
        if not re.match(r"^(hive|hdfs|mapred|metastore)", name or ""):
            raise ConfigValSecurityException(
                "For security reasons, the config key %s cannot be accessed" % name)
        known = {"hive.metastore.warehouse.dir": self.s.warehouse,
                 "metastore.warehouse.dir": self.s.warehouse}
        return known.get(name, defaultValue)

    # --- databases --------------------------------------------------------------

    def get_all_databases(self):
        with self.s.lock:
            return sorted(self.s.dbs)

    def get_databases(self, pattern):
        _, pat = split_catalog(pattern)
        with self.s.lock:
            return sorted(match_names(pat, list(self.s.dbs)))

    def get_database(self, name):
        with self.s.lock:
            return self._out(self._db(name))

    # ---- privileges on databases (DB_PRIVS): grant, revoke, list ----

    @staticmethod
    def _priv_db(ref):
        """The database a DATABASE HiveObjectRef names: dbName, else objectName
        (clients that fill only the object name)."""
        return norm_db(ref.dbName or ref.objectName or "")

    def _priv_key(self, p):
        g = p.grantInfo
        return (self._priv_db(p.hiveObject), p.principalName, p.principalType, g.privilege if g else None)

    def grant_privileges(self, privileges):
        with self.s.lock:
            for p in privileges.privileges or []:
                ref = p.hiveObject
                if ref is None or ref.objectType != HiveObjectType.DATABASE:
                    raise MetaException("minihms keeps privileges on databases only")
                self._db(self._priv_db(ref))
                if any(self._priv_key(q) == self._priv_key(p) for q in self.s.privs):
                    raise InvalidObjectException("%s is already granted by %s" % (
                        p.grantInfo.privilege, p.grantInfo.grantor))
                q = copy.deepcopy(p)
                q.hiveObject.dbName = self._priv_db(ref)
                q.hiveObject.objectName = None
                self.s.privs.append(q)
            return True

    def revoke_privileges(self, privileges):
        with self.s.lock:
            for p in privileges.privileges or []:
                k = self._priv_key(p)
                left = [q for q in self.s.privs if self._priv_key(q) != k]
                if len(left) == len(self.s.privs):
                    raise InvalidObjectException("No user grant found in privileges")
                self.s.privs = left
            return True

    def list_privileges(self, principal_name, principal_type, hiveObject):
        with self.s.lock:
            db = self._priv_db(hiveObject)
            return [copy.deepcopy(q) for q in self.s.privs
                    if self._priv_db(q.hiveObject) == db and q.principalName == principal_name
                    and q.principalType == principal_type]

    def get_database_req(self, req):
        with self.s.lock:
            return self._out(self._db(req.name))

    def create_database(self, database):
        db = copy.deepcopy(database)
        if db.name is None or not NAME_RE.match(split_catalog(db.name)[1] or ""):
            raise InvalidObjectException("%s is not a valid database name" % db.name)
        db.name = norm_db(db.name)
        with self.s.lock:
            if db.name in self.s.dbs:
                raise AlreadyExistsException("Database %s already exists" % db.name)
            if not db.locationUri:
                db.locationUri = "%s/%s.db" % (self.s.warehouse, db.name)
            if db.parameters is None:
                db.parameters = {}
            db.catalogName = DEFAULT_CATALOG
            if not db.createTime:
                db.createTime = now()
            self.s.dbs[db.name] = db
            self._ev_database("CREATE_DATABASE", db)

    def drop_database(self, name, deleteData, cascade):
        db = norm_db(name)
        with self.s.lock:
            self._db(db)
            if db == DEFAULT_DB:
                raise MetaException("Can not drop default database")
            tables = [k for k in self.s.tables if k[0] == db]
            funcs = [k for k in self.s.funcs if k[0] == db]
            if (tables or funcs) and not cascade:
                raise InvalidOperationException(
                    "Database %s is not empty. One or more %s exist."
                    % (db, "tables" if tables else "functions"))
            # HMSHandler drops the functions, then the tables, one by one
            for k in funcs:
                self._ev_function("DROP_FUNCTION", self.s.funcs.pop(k))
            for k in tables:
                self._drop_table_locked(k)
            self._ev_database("DROP_DATABASE", self.s.dbs.pop(db))

    def alter_database(self, dbname, db):
        with self.s.lock:
            old = self.s.dbs.get(norm_db(dbname))
            if old is None:
                raise NoSuchObjectException("There is no database named " + str(dbname))
            new = copy.deepcopy(old)
            for f in ("description", "locationUri", "parameters", "ownerName",
                      "ownerType", "managedLocationUri", "privileges"):
                v = getattr(db, f, None)
                if v is not None:
                    setattr(new, f, copy.deepcopy(v))
            self.s.dbs[old.name] = new
            self._ev_alter_database(old, new)

    # --- tables ----------------------------------------------------------------

    def get_all_tables(self, db_name):
        db = norm_db(db_name)
        with self.s.lock:
            return sorted(t for d, t in self.s.tables if d == db)

    def get_tables(self, db_name, pattern):
        return match_names(pattern, self.get_all_tables(db_name))

    def get_tables_by_type(self, db_name, pattern, tableType):
        db = norm_db(db_name)
        with self.s.lock:
            names = match_names(pattern, self.get_all_tables(db))
            return [n for n in names
                    if tableType is None or self.s.tables[(db, n)].tableType == tableType]

    def get_table_meta(self, db_patterns, tbl_patterns, tbl_types):
        _, dpat = split_catalog(db_patterns)
        out = []
        with self.s.lock:
            for db in sorted(match_names(dpat, list(self.s.dbs))):
                for tn in match_names(tbl_patterns, self.get_all_tables(db)):
                    t = self.s.tables[(db, tn)]
                    if tbl_types and t.tableType not in tbl_types:
                        continue
                    out.append(TableMeta(dbName=db, tableName=tn, tableType=t.tableType,
                                         comments=(t.parameters or {}).get("comment"),
                                         catName=DEFAULT_CATALOG))
        return out

    def get_table(self, dbname, tbl_name):
        with self.s.lock:
            return self._out(self._table(dbname, tbl_name)[1])

    def get_table_req(self, req):
        with self.s.lock:
            return GetTableResult(table=self._out(self._table(req.dbName, req.tblName)[1]))

    def get_table_objects_by_name(self, dbname, tbl_names):
        db = norm_db(dbname)
        with self.s.lock:
            return [self._out(self.s.tables[(db, norm(n))]) for n in tbl_names or []
                    if (db, norm(n)) in self.s.tables]

    def get_table_objects_by_name_req(self, req):
        db = norm_db(req.dbName)
        with self.s.lock:
            if db not in self.s.dbs:
                raise UnknownDBException("Could not find database " + str(req.dbName))
            names = req.tblNames
            if names is None:
                names = match_names(req.tablesPattern, self.get_all_tables(db))
        return GetTablesResult(tables=self.get_table_objects_by_name(db, names))

    def get_fields(self, db_name, table_name):
        with self.s.lock:
            if norm_db(db_name) not in self.s.dbs:
                raise UnknownDBException("Could not find database " + str(db_name))
            t = self._table(db_name, table_name, UnknownTableException)[1]
            return self._out(t.sd.cols or [])

    def get_fields_with_environment_context(self, db_name, table_name, ctx):
        return self.get_fields(db_name, table_name)

    def get_fields_req(self, req):
        return GetFieldsResponse(fields=self.get_fields(req.dbName, req.tblName))

    def get_schema(self, db_name, table_name):
        with self.s.lock:
            cols = self.get_fields(db_name, table_name)
            t = self._table(db_name, table_name, UnknownTableException)[1]
            return cols + self._out(t.partitionKeys or [])

    def get_schema_with_environment_context(self, db_name, table_name, ctx):
        return self.get_schema(db_name, table_name)

    def get_schema_req(self, req):
        return GetSchemaResponse(fields=self.get_schema(req.dbName, req.tblName))

    def create_table(self, tbl, pks=None, fks=None):
        t = copy.deepcopy(tbl)
        if not t.tableName or not NAME_RE.match(t.tableName):
            raise InvalidObjectException("%s is not a valid object name" % t.tableName)
        t.dbName = norm_db(t.dbName)
        t.tableName = norm(t.tableName)
        with self.s.lock:
            if t.dbName not in self.s.dbs:
                raise NoSuchObjectException("The database %s does not exist" % t.dbName)
            key = (t.dbName, t.tableName)
            if key in self.s.tables:
                raise AlreadyExistsException("Table %s.%s already exists" % key)
            if t.sd is None:
                t.sd = StorageDescriptor(cols=[], parameters={}, serdeInfo=SerDeInfo(parameters={}))
            t.partitionKeys = t.partitionKeys or []
            for k in t.partitionKeys:
                k.name = norm(k.name)
            if not t.tableType:
                ext = (t.parameters or {}).get("EXTERNAL", "").upper() == "TRUE"
                t.tableType = "EXTERNAL_TABLE" if ext else "MANAGED_TABLE"
            if t.tableType != "VIRTUAL_VIEW" and not t.sd.location:
                t.sd.location = "%s/%s" % (self.s.dbs[t.dbName].locationUri.rstrip("/"),
                                           t.tableName)
            if not t.createTime:
                t.createTime = now()
            if t.parameters is None:
                t.parameters = {}
            if not t.parameters.get(DDL_TIME):
                t.parameters[DDL_TIME] = str(now())
            t.catName = DEFAULT_CATALOG
            self.s.tables[key] = t
            self.s.parts[key] = {}
            # the table and its keys are created together or not at all
            try:
                pk_recs = self._new_pks(pks or [])
                fk_recs = self._new_fks(fks or [], pk_recs)
            except Exception:
                del self.s.tables[key]
                del self.s.parts[key]
                raise
            self._ev_create_table(t)
            self._add_constraints(pk_recs, fk_recs)

    def create_table_with_constraints(self, tbl, primaryKeys, foreignKeys, uniqueConstraints,
                                      notNullConstraints, defaultConstraints, checkConstraints):
        if uniqueConstraints or notNullConstraints or defaultConstraints or checkConstraints:
            raise MetaException("minihms does not implement unique, not null, default and "
                                "check constraints")
        self.create_table(tbl, primaryKeys, foreignKeys)

    def create_table_with_environment_context(self, tbl, ctx):
        self.create_table(tbl)

    def create_table_req(self, req):
        self.create_table_with_constraints(
            req.table, req.primaryKeys, req.foreignKeys, req.uniqueConstraints,
            req.notNullConstraints, req.defaultConstraints, req.checkConstraints)

    def _drop_table_locked(self, key):
        self._ev_drop_table(self.s.tables.pop(key))
        # its keys, and the foreign keys that refer to it, go with it
        self.s.cons = [r for r in self.s.cons if key not in (r["parent"], r["child"])]
        self.s.parts.pop(key, None)
        self.s.tstats.pop(key, None)
        self.s.tstats_time.pop(key, None)
        for k in [k for k in self.s.pstats if k[:2] == key]:
            del self.s.pstats[k]

    def drop_table(self, dbname, name, deleteData):
        with self.s.lock:
            key = (norm_db(dbname), norm(name))
            if key not in self.s.tables:
                raise NoSuchObjectException("%s.%s table not found" % key)
            self._drop_table_locked(key)

    def drop_table_with_environment_context(self, dbname, name, deleteData, ctx):
        self.drop_table(dbname, name, deleteData)

    def drop_table_req(self, req):
        self.drop_table(req.dbName, req.tableName, req.deleteData)

    def alter_table(self, dbname, tbl_name, new_tbl):
        old_key = (norm_db(dbname), norm(tbl_name))
        nt = copy.deepcopy(new_tbl)
        if nt.tableName is None or not NAME_RE.match(nt.tableName):
            raise InvalidOperationException("%s is not a valid object name" % nt.tableName)
        nt.dbName = norm_db(nt.dbName) if nt.dbName else old_key[0]
        nt.tableName = norm(nt.tableName)
        new_key = (nt.dbName, nt.tableName)
        with self.s.lock:
            old = self.s.tables.get(old_key)
            if old is None:
                raise InvalidOperationException(
                    "table %s.%s.%s doesn't exist" % ((DEFAULT_CATALOG,) + old_key))
            old_keys = [(k.name.lower(), k.type) for k in old.partitionKeys or []]
            new_keys = [(k.name.lower(), k.type) for k in nt.partitionKeys or []]
            if old_keys != new_keys:
                raise InvalidOperationException("partition keys can not be changed.")
            if new_key != old_key:
                if nt.dbName not in self.s.dbs:
                    raise InvalidOperationException(
                        "Unable to change partition or table. Database %s does not exist"
                        % nt.dbName)
                if new_key in self.s.tables:
                    raise InvalidOperationException(
                        "new table %s.%s already exists" % new_key)
            if nt.sd is None:
                nt.sd = copy.deepcopy(old.sd)
            if (new_key != old_key and old.tableType == "MANAGED_TABLE"
                    and nt.sd.location == old.sd.location):
                nt.sd.location = "%s/%s" % (
                    self.s.dbs[nt.dbName].locationUri.rstrip("/"), nt.tableName)
            if nt.parameters is None:
                nt.parameters = {}
            if not nt.parameters.get(DDL_TIME) or nt.parameters.get(DDL_TIME) == "0":
                nt.parameters[DDL_TIME] = str(now())
            nt.createTime = nt.createTime or old.createTime
            nt.tableType = nt.tableType or old.tableType
            nt.catName = DEFAULT_CATALOG
            if new_key != old_key:
                parts = self.s.parts.pop(old_key, {})
                for p in parts.values():
                    p.dbName, p.tableName = new_key
                self.s.parts[new_key] = parts
                if old_key in self.s.tstats:
                    self.s.tstats[new_key] = self.s.tstats.pop(old_key)
                    self.s.tstats_time[new_key] = self.s.tstats_time.pop(old_key, None)
                for k in [k for k in self.s.pstats if k[:2] == old_key]:
                    self.s.pstats[new_key + (k[2],)] = self.s.pstats.pop(k)
                for r in self.s.cons:
                    o = r["obj"]
                    if r["parent"] == old_key:
                        r["parent"] = new_key
                        if r["kind"] == "pk":
                            o.table_db, o.table_name = new_key
                        else:
                            o.pktable_db, o.pktable_name = new_key
                    if r["child"] == old_key:
                        r["child"] = new_key
                        o.fktable_db, o.fktable_name = new_key
                del self.s.tables[old_key]
            self.s.tables[new_key] = nt
            self._ev_alter_table(old, nt)

    def alter_table_with_environment_context(self, dbname, tbl_name, new_tbl, ctx):
        self.alter_table(dbname, tbl_name, new_tbl)

    def alter_table_with_cascade(self, dbname, tbl_name, new_tbl, cascade):
        self.alter_table(dbname, tbl_name, new_tbl)

    def alter_table_req(self, req):
        self.alter_table(req.dbName, req.tableName, req.table)
        return AlterTableResponse()

    # --- partitions --------------------------------------------------------------

    def _add_partition_locked(self, part, if_not_exists=False):
        p = copy.deepcopy(part)
        key = (norm_db(p.dbName), norm(p.tableName))
        t = self.s.tables.get(key)
        if t is None:
            raise InvalidObjectException(
                "Unable to add partition because table or database do not exist")
        if not t.partitionKeys:
            raise MetaException("Table %s.%s is not partitioned" % key)
        vals = self._part_values(t, p.values)
        self._check_whitelist(vals)
        if vals in self.s.parts[key]:
            if if_not_exists:
                return None
            raise AlreadyExistsException("Partition already exists: %s.%s %s"
                                         % (key + (self._pname(t, vals),)))
        p.dbName, p.tableName = key
        p.values = list(vals)
        if p.sd is None:
            p.sd = copy.deepcopy(t.sd)
            p.sd.location = None
        if not p.sd.location and t.sd.location:
            p.sd.location = "%s/%s" % (t.sd.location.rstrip("/"), self._pname(t, vals))
        if not p.createTime:
            p.createTime = now()
        if p.parameters is None:
            p.parameters = {}
        if not p.parameters.get(DDL_TIME):
            p.parameters[DDL_TIME] = str(now())
        p.catName = DEFAULT_CATALOG
        self.s.parts[key][vals] = p
        return p

    def add_partition(self, new_part):
        with self.s.lock:
            p = self._add_partition_locked(new_part)
            self._ev_add_partitions(self.s.tables[(p.dbName, p.tableName)], [p])
            return self._out(p)

    def add_partition_with_environment_context(self, new_part, ctx):
        return self.add_partition(new_part)

    def _add_many(self, parts, if_not_exists):
        with self.s.lock:
            # all-or-nothing: check first
            seen = set()
            for p in parts:
                key = (norm_db(p.dbName), norm(p.tableName))
                t = self.s.tables.get(key)
                if t is None:
                    raise InvalidObjectException(
                        "Unable to add partition because table or database do not exist")
                vals = self._part_values(t, p.values)
                self._check_whitelist(vals)
                if (key, vals) in seen:
                    raise MetaException("Duplicate partitions in the list: %s"
                                        % self._pname(t, vals))
                seen.add((key, vals))
                if vals in self.s.parts[key] and not if_not_exists:
                    raise AlreadyExistsException("Partition already exists: %s.%s %s"
                                                 % (key + (self._pname(t, vals),)))
            added = []
            for p in parts:
                r = self._add_partition_locked(p, if_not_exists)
                if r is not None:
                    added.append(r)
            by_table = {}
            for p in added:
                by_table.setdefault((p.dbName, p.tableName), []).append(p)
            for key, ps in by_table.items():
                self._ev_add_partitions(self.s.tables[key], ps)
            return [self._out(p) for p in added]

    def add_partitions(self, new_parts):
        return len(self._add_many(new_parts or [], False))

    def add_partitions_req(self, request):
        parts = request.parts or []
        for p in parts:
            p.dbName = p.dbName or request.dbName
            p.tableName = p.tableName or request.tblName
            if (norm_db(p.dbName), norm(p.tableName)) != (norm_db(request.dbName),
                                                           norm(request.tblName)):
                raise MetaException("Partition does not belong to target table %s.%s"
                                    % (request.dbName, request.tblName))
        added = self._add_many(parts, request.ifNotExists)
        if request.needResult is False:
            return AddPartitionsResult()
        return AddPartitionsResult(partitions=added)

    def _get_parts(self, db_name, tbl_name):
        key, t = self._table(db_name, tbl_name)
        return key, t, self._sorted_parts(key, t)

    def get_partitions(self, db_name, tbl_name, max_parts):
        with self.s.lock:
            _, _, parts = self._get_parts(db_name, tbl_name)
            return self._out(self._limit(parts, max_parts))

    def get_partitions_with_auth(self, db_name, tbl_name, max_parts, user, groups):
        return self.get_partitions(db_name, tbl_name, max_parts)

    def get_partition_names(self, db_name, tbl_name, max_parts):
        with self.s.lock:
            _, t, parts = self._get_parts(db_name, tbl_name)
            return [self._pname(t, p.values) for p in self._limit(parts, max_parts)]

    def _ps_match(self, t, parts, part_vals):
        part_vals = part_vals or []
        if len(part_vals) > len(t.partitionKeys or []):
            raise MetaException("Incorrect number of partition values. numPartKeys=%d, "
                                "part_val=%s" % (len(t.partitionKeys), part_vals))
        return [p for p in parts
                if all(v == "" or v is None or v == pv
                       for v, pv in zip(part_vals, p.values))]

    def get_partitions_ps(self, db_name, tbl_name, part_vals, max_parts):
        with self.s.lock:
            _, t, parts = self._get_parts(db_name, tbl_name)
            return self._out(self._limit(self._ps_match(t, parts, part_vals), max_parts))

    def get_partitions_ps_with_auth(self, db_name, tbl_name, part_vals, max_parts, user, groups):
        return self.get_partitions_ps(db_name, tbl_name, part_vals, max_parts)

    def get_partition_names_ps(self, db_name, tbl_name, part_vals, max_parts):
        with self.s.lock:
            _, t, parts = self._get_parts(db_name, tbl_name)
            return [self._pname(t, p.values)
                    for p in self._limit(self._ps_match(t, parts, part_vals), max_parts)]

    def get_partitions_by_filter(self, db_name, tbl_name, filter, max_parts):
        with self.s.lock:
            _, t, parts = self._get_parts(db_name, tbl_name)
            if not filter or not filter.strip():
                return self._out(self._limit(parts, max_parts))
            f = _Filter(filter, t.partitionKeys or [])
            names = [k.name.lower() for k in t.partitionKeys]
            hit = [p for p in parts if f.eval(dict(zip(names, p.values)))]
            return self._out(self._limit(hit, max_parts))

    def get_partitions_by_names(self, db_name, tbl_name, names):
        with self.s.lock:
            key, t = self._table(db_name, tbl_name)
            out = []
            for n in names or []:
                p = self.s.parts[key].get(self._part_name_values(t, n))
                if p is not None:
                    out.append(self._out(p))
            return out

    def get_partitions_by_names_req(self, req):
        return GetPartitionsByNamesResult(
            partitions=self.get_partitions_by_names(req.db_name, req.tbl_name, req.names))

    def _get_part_locked(self, db_name, tbl_name, vals):
        key, t = self._table(db_name, tbl_name)
        vals = self._part_values(t, vals)
        p = self.s.parts[key].get(vals)
        if p is None:
            raise NoSuchObjectException("partition values=%s" % list(vals))
        return key, t, p

    def get_partition(self, db_name, tbl_name, part_vals):
        with self.s.lock:
            return self._out(self._get_part_locked(db_name, tbl_name, part_vals)[2])

    def get_partition_with_auth(self, db_name, tbl_name, part_vals, user, groups):
        return self.get_partition(db_name, tbl_name, part_vals)

    def get_partition_by_name(self, db_name, tbl_name, part_name):
        with self.s.lock:
            _, t = self._table(db_name, tbl_name)
            return self.get_partition(db_name, tbl_name, self._part_name_values(t, part_name))

    def _alter_parts(self, db_name, tbl_name, new_parts):
        with self.s.lock:
            key = (norm_db(db_name), norm(tbl_name))
            t = self.s.tables.get(key)
            if t is None:
                raise InvalidOperationException(
                    "Unable to alter partition because table or database does not exist.")
            todo = []
            for np in new_parts:
                vals = tuple(np.values or [])
                old = self.s.parts[key].get(vals)
                if old is None:
                    raise InvalidOperationException("alter is not possible")
                p = copy.deepcopy(np)
                p.dbName, p.tableName = key
                p.createTime = p.createTime or old.createTime
                if p.sd is None:
                    p.sd = copy.deepcopy(old.sd)
                if p.parameters is None:
                    p.parameters = {}
                if not p.parameters.get(DDL_TIME) or p.parameters.get(DDL_TIME) == "0":
                    p.parameters[DDL_TIME] = str(now())
                p.catName = DEFAULT_CATALOG
                todo.append((vals, p))
            for vals, p in todo:
                old = self.s.parts[key][vals]
                self.s.parts[key][vals] = p
                self._ev_alter_partition(t, old, p)

    def alter_partition(self, db_name, tbl_name, new_part):
        self._alter_parts(db_name, tbl_name, [new_part])

    def alter_partition_with_environment_context(self, db_name, tbl_name, new_part, ctx):
        self._alter_parts(db_name, tbl_name, [new_part])

    def alter_partitions(self, db_name, tbl_name, new_parts):
        self._alter_parts(db_name, tbl_name, new_parts or [])

    def alter_partitions_with_environment_context(self, db_name, tbl_name, new_parts, ctx):
        self._alter_parts(db_name, tbl_name, new_parts or [])

    def alter_partitions_req(self, req):
        self._alter_parts(req.dbName, req.tableName, req.partitions or [])
        return AlterPartitionsResponse()

    def _drop_part_locked(self, key, t, vals):
        self._ev_drop_partition(t, self.s.parts[key].pop(vals))
        self.s.pstats.pop(key + (self._pname(t, vals),), None)

    def drop_partition(self, db_name, tbl_name, part_vals, deleteData):
        with self.s.lock:
            key, t, p = self._get_part_locked(db_name, tbl_name, part_vals)
            self._drop_part_locked(key, t, tuple(p.values))
            return True

    def drop_partition_with_environment_context(self, db_name, tbl_name, part_vals,
                                                deleteData, ctx):
        return self.drop_partition(db_name, tbl_name, part_vals, deleteData)

    def drop_partition_by_name(self, db_name, tbl_name, part_name, deleteData):
        with self.s.lock:
            _, t = self._table(db_name, tbl_name)
            return self.drop_partition(db_name, tbl_name,
                                       self._part_name_values(t, part_name), deleteData)

    def drop_partition_by_name_with_environment_context(self, db_name, tbl_name, part_name,
                                                        deleteData, ctx):
        return self.drop_partition_by_name(db_name, tbl_name, part_name, deleteData)

    def drop_partitions_req(self, req):
        if req.parts is None or req.parts.names is None:
            raise MetaException("minihms drops partitions by name only")
        with self.s.lock:
            key, t = self._table(req.dbName, req.tblName)
            vals = [self._part_name_values(t, n) for n in req.parts.names]
            missing = [n for n, v in zip(req.parts.names, vals) if v not in self.s.parts[key]]
            if missing and req.ifExists is False:
                raise NoSuchObjectException("Partition doesn't exist: " + missing[0])
            dropped = []
            for v in vals:
                p = self.s.parts[key].get(v)
                if p is not None:
                    dropped.append(self._out(p))
                    self._drop_part_locked(key, t, v)
            if req.needResult is False:
                return DropPartitionsResult()
            return DropPartitionsResult(partitions=dropped)

    # --- exchange partitions -------------------------------------------------------

    def exchange_partitions(self, partitionSpecs, source_db, source_table_name, dest_db,
                            dest_table_name):
        """Moves the partitions of the source table that match the (partial)
        spec to the destination table, with HMSHandler's checks and messages."""
        if (partitionSpecs is None or source_db is None or source_table_name is None
                or dest_db is None or dest_table_name is None):
            raise MetaException("The DB and table name for the source and destination tables,"
                                " and the partition specs must not be null.")
        scat, sdb = split_catalog(source_db)
        dcat, ddb = split_catalog(dest_db)
        if (scat or DEFAULT_CATALOG) != (dcat or DEFAULT_CATALOG):
            raise MetaException("You cannot move a partition across catalogs")
        skey, dkey = (norm(sdb), norm(source_table_name)), (norm(ddb), norm(dest_table_name))
        with self.s.lock:
            dt = self.s.tables.get(dkey)
            if dt is None:
                raise MetaException("The destination table %s.%s.%s not found"
                                    % (dcat or DEFAULT_CATALOG, ddb, dest_table_name))
            st = self.s.tables.get(skey)
            if st is None:
                raise MetaException("The source table %s.%s.%s not found"
                                    % (scat or DEFAULT_CATALOG, sdb, source_table_name))
            # keys missing from the spec match any value
            want = [partitionSpecs.get(k.name) or "" for k in st.partitionKeys or []]
            parts = [p for p in self._sorted_parts(skey, st)
                     if all(v == "" or v == pv for v, pv in zip(want, p.values))]
            if not parts:
                raise MetaException("No partition is found with the values {%s} for the table %s"
                                    % (", ".join("%s=%s" % kv for kv in partitionSpecs.items()),
                                       source_table_name))

            def same(a, b):
                return len(a or []) == len(b or []) and all(
                    x.name == y.name and x.type == y.type for x, y in zip(a or [], b or []))
            if not (same(st.sd.cols, dt.sd.cols) and same(st.partitionKeys, dt.partitionKeys)):
                raise MetaException("The tables have different schemas."
                                    " Their partitions cannot be exchanged.")
            taken = {self._pname(dt, v) for v in self.s.parts[dkey]}
            for p in parts:
                name = self._pname(dt, p.values)
                if name in taken:
                    raise MetaException("The partition %s already exists in the table %s"
                                        % (name, dest_table_name))
            moved = []
            for p in parts:
                vals = tuple(p.values)
                q = copy.deepcopy(p)
                q.dbName, q.tableName = dkey
                q.sd.location = "%s/%s" % ((dt.sd.location or "").rstrip("/"),
                                           self._pname(dt, vals))
                self.s.parts[dkey][vals] = q
                del self.s.parts[skey][vals]
                self.s.pstats.pop(skey + (self._pname(st, vals),), None)
                moved.append(q)
            self._ev_add_partitions(dt, moved)
            for p in parts:
                self._ev_drop_partition(st, p)
            return self._out(moved)

    def exchange_partition(self, partitionSpecs, source_db, source_table_name, dest_db,
                           dest_table_name):
        self.exchange_partitions(partitionSpecs, source_db, source_table_name, dest_db,
                                 dest_table_name)
        # HMSHandler answers a new, empty Partition here, not the one it moved;
        # the Java object puts its two plain ints on the wire
        return Partition(createTime=0, lastAccessTime=0, writeId=None)

    # --- primary and foreign keys --------------------------------------------------

    @staticmethod
    def _col_type(t, col):
        for f in (t.sd.cols or []) + (t.partitionKeys or []):
            if f.name.lower() == col:
                return f.type
        return None

    def _pk_name(self, key):
        return next((r["name"] for r in self.s.cons
                     if r["kind"] == "pk" and r["parent"] == key), None)

    def _name_taken(self, key, name):
        # ObjectStore.constraintNameAlreadyExists: per referenced table
        return any(r["parent"] == key and r["name"] == name for r in self.s.cons)

    @staticmethod
    def _gen_name(kind, *parts):
        # ObjectStore.generateConstraintName: <kind>_<hash>_<millis>_<n>
        h = zlib.crc32(repr(parts).encode()) & 0xfffffff
        return "%s_%d_%d_0" % (kind, h, now_ms())

    def _new_pks(self, pks):
        """Checks primary key columns as ObjectStore.addPrimaryKeys does and
        returns the records to store (nothing is stored yet)."""
        recs, name = [], None
        for pk in pks:
            key = (norm_db(pk.table_db), norm(pk.table_name))
            col = norm(pk.column_name)
            t = self.s.tables.get(key)
            if t is None:
                raise InvalidObjectException("Parent table not found: %s" % key[1])
            if self._col_type(t, col) is None:
                raise InvalidObjectException("Parent column not found: %s" % col)
            if self._pk_name(key) is not None:
                raise MetaException(" Primary key already exists for: %s.%s.%s"
                                    % ((DEFAULT_CATALOG,) + key))
            if pk.pk_name is None:
                if pk.key_seq == 1:
                    name = self._gen_name("pk", key, col)
            else:
                name = norm(pk.pk_name)
                if self._name_taken(key, name):
                    raise InvalidObjectException("Constraint name already exists: %s.%s.%s"
                                                 % (key + (name,)))
            recs.append({"kind": "pk", "name": name, "parent": key, "child": None,
                         "obj": SQLPrimaryKey(
                             table_db=key[0], table_name=key[1], column_name=col,
                             key_seq=pk.key_seq, pk_name=name, enable_cstr=bool(pk.enable_cstr),
                             validate_cstr=bool(pk.validate_cstr),
                             rely_cstr=bool(pk.rely_cstr), catName=DEFAULT_CATALOG)})
        return recs

    def _new_fks(self, fks, pending_pks=()):
        """Checks foreign keys as ObjectStore.addForeignKeys does: both
        tables and columns exist and the referenced columns are the primary
        key of the referenced table.  A key spans the entries up to the next
        key_seq 1."""
        recs, i = [], 0
        while i < len(fks):
            first = fks[i]
            ckey = (norm_db(first.fktable_db), norm(first.fktable_name))
            pkey = (norm_db(first.pktable_db), norm(first.pktable_name))
            ct = self.s.tables.get(ckey)
            if ct is None:
                raise InvalidObjectException("Child table not found: %s" % ckey[1])
            pt = self.s.tables.get(pkey)
            if pt is None:
                raise InvalidObjectException("Parent table not found: %s" % pkey[1])
            pk_cols = [r["obj"] for r in list(self.s.cons) + list(pending_pks)
                       if r["kind"] == "pk" and r["parent"] == pkey]
            if not pk_cols:
                raise MetaException("Trying to define foreign key but there are no primary keys"
                                    " or unique keys for referenced table")
            pk_cols.sort(key=lambda o: (o.pk_name, o.key_seq))
            valid = "".join("%s:%s;" % (o.column_name, self._col_type(pt, o.column_name))
                            for o in pk_cols)
            mine, referenced, name = "", "", None
            while True:
                fk = fks[i]
                fcol, pcol = norm(fk.fkcolumn_name), norm(fk.pkcolumn_name)
                ftype = self._col_type(ct, fcol)
                if ftype is None:
                    raise InvalidObjectException("Child column not found: %s" % fcol)
                if self._col_type(pt, pcol) is None:
                    raise InvalidObjectException("Parent column not found: %s" % pcol)
                if fk.fk_name is None:
                    if fk.key_seq == 1:
                        name = self._gen_name("fk", ckey, pkey, pcol, fcol)
                else:
                    name = norm(fk.fk_name)
                    if self._name_taken(pkey, name):
                        raise InvalidObjectException("Constraint name already exists: %s.%s.%s"
                                                     % (pkey + (name,)))
                recs.append({"kind": "fk", "name": name, "parent": pkey, "child": ckey,
                             "obj": SQLForeignKey(
                                 pktable_db=pkey[0], pktable_name=pkey[1], pkcolumn_name=pcol,
                                 fktable_db=ckey[0], fktable_name=ckey[1], fkcolumn_name=fcol,
                                 key_seq=fk.key_seq, update_rule=fk.update_rule or 0,
                                 delete_rule=fk.delete_rule or 0, fk_name=name,
                                 enable_cstr=bool(fk.enable_cstr),
                                 validate_cstr=bool(fk.validate_cstr),
                                 rely_cstr=bool(fk.rely_cstr), catName=DEFAULT_CATALOG)})
                # both signatures use the type of the referring column
                mine += "%s:%s;" % (fcol, ftype)
                referenced += "%s:%s;" % (pcol, ftype)
                i += 1
                if i >= len(fks) or fks[i].key_seq == 1:
                    break
            if referenced != valid:
                raise MetaException("Foreign key references %s but no corresponding primary key"
                                    " or unique key exists. Possible keys: [%s]"
                                    % (referenced, valid))
            if ckey == pkey and mine == referenced:
                raise MetaException("Cannot be both foreign key and primary/unique key on same "
                                    "table: " + referenced)
        return recs

    def _add_constraints(self, pk_recs, fk_recs):
        self.s.cons.extend(pk_recs)
        self.s.cons.extend(fk_recs)
        if pk_recs:
            o = pk_recs[0]["obj"]
            self._event("ADD_PRIMARYKEY", message(
                **SRV, timestamp=now(),
                primaryKeyListJson=[obj_json(r["obj"]) for r in pk_recs]),
                o.table_db, o.table_name)
        if fk_recs:
            o = fk_recs[0]["obj"]
            self._event("ADD_FOREIGNKEY", message(
                **SRV, timestamp=now(),
                foreignKeyListJson=[obj_json(r["obj"]) for r in fk_recs]),
                o.pktable_db, o.pktable_name)

    @staticmethod
    def _undeclared(method, e):
        # ObjectStore's InvalidObjectException is not declared by these
        # methods, so the Java server answers an internal error
        log.warning("%s: %s", method, e.message)
        return TApplicationException(TApplicationException.INTERNAL_ERROR,
                                     "Internal error processing " + method)

    def add_primary_key(self, req):
        with self.s.lock:
            try:
                recs = self._new_pks(req.primaryKeyCols or [])
            except InvalidObjectException as e:
                raise self._undeclared("add_primary_key", e)
            self._add_constraints(recs, [])

    def add_foreign_key(self, req):
        with self.s.lock:
            try:
                recs = self._new_fks(req.foreignKeyCols or [])
            except InvalidObjectException as e:
                raise self._undeclared("add_foreign_key", e)
            self._add_constraints([], recs)

    def get_primary_keys(self, request):
        key = (norm_db(request.db_name), norm(request.tbl_name))
        with self.s.lock:
            return PrimaryKeysResponse(primaryKeys=[
                self._out(r["obj"]) for r in self.s.cons
                if r["kind"] == "pk" and r["parent"] == key])

    def get_foreign_keys(self, request):
        """Foreign keys by referenced (parent) and referring (foreign) table;
        a name left out matches any."""
        want = (norm_db(request.parent_db_name), norm(request.parent_tbl_name),
                norm_db(request.foreign_db_name), norm(request.foreign_tbl_name))
        out = []
        with self.s.lock:
            for r in self.s.cons:
                if r["kind"] != "fk":
                    continue
                have = r["parent"] + r["child"]
                if all(w is None or w == h for w, h in zip(want, have)):
                    o = self._out(r["obj"])
                    o.pk_name = self._pk_name(r["parent"])
                    out.append(o)
        return ForeignKeysResponse(foreignKeys=out)

    def drop_constraint(self, req):
        key = (norm_db(req.dbname), norm(req.tablename))
        name = norm(req.constraintname)
        with self.s.lock:
            hit = [r for r in self.s.cons
                   if r["name"] == name and key in (r["parent"], r["child"])]
            if not hit:
                raise NoSuchObjectException(
                    "The constraint: %s does not exist for the associated table: %s.%s"
                    % ((name,) + key))
            self.s.cons = [r for r in self.s.cons if not any(r is h for h in hit)]
            self._event("DROP_CONSTRAINT", message(
                **SRV, catName=DEFAULT_CATALOG, dbName=key[0], tableName=key[1],
                constraintName=name, timestamp=now()), key[0], key[1])

    # --- column statistics -------------------------------------------------------

    def _stats_target(self, desc, part):
        key = (norm_db(desc.dbName), norm(desc.tableName))
        t = self.s.tables.get(key)
        if t is None:
            raise NoSuchObjectException("Table %s.%s for which stats is gathered doesn't exist"
                                        % key)
        cols = {c.name.lower(): c for c in t.sd.cols or []}
        if part:
            if desc.partName is None:
                raise InvalidInputException("partition name is missing")
            vals = self._part_name_values(t, desc.partName)
            if vals not in self.s.parts[key]:
                raise NoSuchObjectException("Partition for which stats is gathered doesn't exist")
            return key, t, cols, self._pname(t, vals)
        return key, t, cols, None

    def _update_stats(self, stats_obj, part):
        with self.s.lock:
            key, t, cols, pname = self._stats_target(stats_obj.statsDesc, part)
            objs = []
            for o in stats_obj.statsObj or []:
                o = copy.deepcopy(o)
                o.colName = norm(o.colName)
                if o.colName not in cols:
                    raise MetaException("Column %s doesn't exist in table %s in database %s"
                                        % (o.colName, key[1], key[0]))
                objs.append(o)
            if part:
                d = self.s.pstats.setdefault(key + (pname,), {})
            else:
                d = self.s.tstats.setdefault(key, {})
                self.s.tstats_time[key] = stats_obj.statsDesc.lastAnalyzed or now()
            for o in objs:
                d[o.colName] = o
            return True

    def update_table_column_statistics(self, stats_obj):
        return self._update_stats(stats_obj, False)

    def update_partition_column_statistics(self, stats_obj):
        return self._update_stats(stats_obj, True)

    def get_table_column_statistics(self, db_name, tbl_name, col_name):
        with self.s.lock:
            key, t = self._table(db_name, tbl_name)
            o = self.s.tstats.get(key, {}).get(norm(col_name))
            if o is None:
                return None     # Hive answers MISSING_RESULT here
            desc = ColumnStatisticsDesc(isTblLevel=True, dbName=key[0], tableName=key[1],
                                        lastAnalyzed=self.s.tstats_time.get(key),
                                        catName=DEFAULT_CATALOG)
            return ColumnStatistics(statsDesc=desc, statsObj=[self._out(o)])

    def get_partition_column_statistics(self, db_name, tbl_name, part_name, col_name):
        with self.s.lock:
            key, t = self._table(db_name, tbl_name)
            pname = self._pname(t, self._part_name_values(t, part_name))
            o = self.s.pstats.get(key + (pname,), {}).get(norm(col_name))
            if o is None:
                return None
            desc = ColumnStatisticsDesc(isTblLevel=False, dbName=key[0], tableName=key[1],
                                        partName=pname, catName=DEFAULT_CATALOG)
            return ColumnStatistics(statsDesc=desc, statsObj=[self._out(o)])

    def get_table_statistics_req(self, request):
        with self.s.lock:
            key, t = self._table(request.dbName, request.tblName)
            d = self.s.tstats.get(key, {})
            objs = [self._out(d[norm(c)]) for c in request.colNames or [] if norm(c) in d]
            return TableStatsResult(tableStats=objs)

    def get_partitions_statistics_req(self, request):
        with self.s.lock:
            key, t = self._table(request.dbName, request.tblName)
            out = {}
            cols = [norm(c) for c in request.colNames or []]
            for n in request.partNames or []:
                pname = self._pname(t, self._part_name_values(t, n))
                d = self.s.pstats.get(key + (pname,), {})
                objs = [self._out(d[c]) for c in cols if c in d]
                if objs:
                    out[n] = objs
            return PartitionsStatsResult(partStats=out)

    def _delete_stats(self, d, col, what):
        if col is None:
            if not d:
                raise NoSuchObjectException("Column stats doesn't exist for " + what)
            d.clear()
        else:
            if norm(col) not in d:
                raise NoSuchObjectException("Column stats doesn't exist for %s col=%s"
                                            % (what, col))
            del d[norm(col)]
        return True

    def delete_table_column_statistics(self, db_name, tbl_name, col_name, engine=None):
        with self.s.lock:
            key, t = self._table(db_name, tbl_name)
            return self._delete_stats(self.s.tstats.setdefault(key, {}), col_name,
                                      "table=%s.%s" % key)

    def delete_partition_column_statistics(self, db_name, tbl_name, part_name, col_name,
                                           engine=None):
        with self.s.lock:
            key, t = self._table(db_name, tbl_name)
            pname = self._pname(t, self._part_name_values(t, part_name))
            return self._delete_stats(self.s.pstats.setdefault(key + (pname,), {}), col_name,
                                      "table=%s.%s partition=%s" % (key + (pname,)))

    # --- functions ---------------------------------------------------------------

    def create_function(self, func):
        f = copy.deepcopy(func)
        if not f.functionName or not NAME_RE.match(f.functionName):
            raise InvalidObjectException("%s is not a valid object name" % f.functionName)
        f.dbName = norm_db(f.dbName)
        f.functionName = norm(f.functionName)
        with self.s.lock:
            if f.dbName not in self.s.dbs:
                raise NoSuchObjectException("The database %s does not exist" % f.dbName)
            key = (f.dbName, f.functionName)
            if key in self.s.funcs:
                raise AlreadyExistsException("Function %s already exists" % f.functionName)
            if not f.createTime:
                f.createTime = now()
            f.catName = DEFAULT_CATALOG
            self.s.funcs[key] = f
            self._ev_function("CREATE_FUNCTION", f)

    def get_function(self, dbName, funcName):
        key = (norm_db(dbName), norm(funcName))
        with self.s.lock:
            f = self.s.funcs.get(key)
            if f is None:
                raise NoSuchObjectException("Function %s.%s does not exist" % key)
            return self._out(f)

    def get_functions(self, dbName, pattern):
        db = norm_db(dbName)
        with self.s.lock:
            return sorted(match_names(pattern, [n for d, n in self.s.funcs if d == db]))

    def get_all_functions(self):
        with self.s.lock:
            return GetAllFunctionsResponse(
                functions=[self._out(self.s.funcs[k]) for k in sorted(self.s.funcs)])

    def drop_function(self, dbName, funcName):
        key = (norm_db(dbName), norm(funcName))
        with self.s.lock:
            if key not in self.s.funcs:
                raise NoSuchObjectException("Function %s.%s does not exist" % key)
            self._ev_function("DROP_FUNCTION", self.s.funcs.pop(key))

    def alter_function(self, dbName, funcName, newFunc):
        key = (norm_db(dbName), norm(funcName))
        with self.s.lock:
            if key not in self.s.funcs:
                raise InvalidOperationException("Function %s.%s does not exist" % key)
            f = copy.deepcopy(newFunc)
            f.dbName = norm_db(f.dbName) if f.dbName else key[0]
            f.functionName = norm(f.functionName) if f.functionName else key[1]
            del self.s.funcs[key]
            self.s.funcs[(f.dbName, f.functionName)] = f
