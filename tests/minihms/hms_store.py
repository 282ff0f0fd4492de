"""In-memory metastore state and the ThriftHiveMetastore handler of minihms.

The handler answers with the objects and the declared exceptions that a Hive
metastore returns for the calls Spark's Hive client and Trino make (see
DESIGN.md and the HMS facts).  One Store is shared by all connections and
guarded by one lock; a Handler is made per connection (set_ugi and
setMetaConf state live there).

Methods that the IDL declares but minihms does not implement answer with a
MetaException "minihms does not implement <name>" when the method declares
MetaException, else with TApplicationException INTERNAL_ERROR.
"""

import copy
import re
import threading
import time

from thrift.Thrift import TApplicationException

from hive_metastore import ThriftHiveMetastore
from hive_metastore.ttypes import (
    AddPartitionsResult, AlreadyExistsException, AlterPartitionsResponse,
    AlterTableResponse, ColumnStatistics, ColumnStatisticsDesc,
    ConfigValSecurityException, Database, DropPartitionsResult,
    GetAllFunctionsResponse, GetFieldsResponse, GetPartitionsByNamesResult,
    GetSchemaResponse, GetTableResult, GetTablesResult, InvalidInputException,
    InvalidObjectException, InvalidOperationException, MetaException,
    NoSuchObjectException, PartitionsStatsResult, PrincipalType, SerDeInfo,
    StorageDescriptor, TableMeta, TableStatsResult, UnknownDBException,
    UnknownTableException)
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
    def __init__(self, name, warehouse, version, hive4=False):
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
        self.options = {}      # fb303 options
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
            for k in tables:
                self._drop_table_locked(k)
            for k in funcs:
                del self.s.funcs[k]
            del self.s.dbs[db]

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

    def create_table(self, tbl):
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

    def create_table_with_environment_context(self, tbl, ctx):
        self.create_table(tbl)

    def create_table_req(self, req):
        self.create_table(req.table)

    def _drop_table_locked(self, key):
        del self.s.tables[key]
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
                del self.s.tables[old_key]
            self.s.tables[new_key] = nt

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
            return self._out(self._add_partition_locked(new_part))

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
                    added.append(self._out(r))
            return added

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
                self.s.parts[key][vals] = p

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
        del self.s.parts[key][vals]
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
            del self.s.funcs[key]

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
