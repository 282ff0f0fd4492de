/* hms_cglib_client: fedrouter's metastore side seen by a C client generated
 * with Thrift's c_glib generator from our IDL (hms-thrift/hive_metastore.thrift).
 *
 *     hms_cglib_client ROUTER PRIMARY SALES        (each HOST:PORT)
 *
 * ROUTER is fedrouter's hms.listen address; PRIMARY and SALES are the two
 * minihms behind it, reached directly to compare answers.  The router has
 * `primary` as its primary metastore (no prefix) and `sales` with the prefix
 * sales_ (read-only).  The caller seeds them first: a database `web` on
 * primary; a database `orders` with a table `daily` partitioned by `ds` on
 * sales.
 *
 * The checks follow what a Hive client (Spark's, Trino's) does: set_ugi,
 * listing databases, get_database, get_table, get_partitions, create_table,
 * and the exceptions it has to tell apart.  They run once per client stack:
 * ThriftSocket under ThriftBufferedTransport or ThriftFramedTransport, with
 * ThriftBinaryProtocol or ThriftCompactProtocol, each stack on fresh
 * connections.  The direct connections to the minihms use buffered binary.
 * A transport or protocol error ends the stack's run (its remaining checks
 * are reported as not run); each socket read or write times out after 20 s.
 *
 * Prints `ok - NAME` or `not ok - NAME: why` per check, then
 * `N passed, N failed`; exits 1 when a check failed, 2 on bad usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <glib-object.h>
#include <thrift/c_glib/thrift.h>
#include <thrift/c_glib/protocol/thrift_binary_protocol.h>
#include <thrift/c_glib/protocol/thrift_compact_protocol.h>
#include <thrift/c_glib/transport/thrift_buffered_transport.h>
#include <thrift/c_glib/transport/thrift_framed_transport.h>
#include <thrift/c_glib/transport/thrift_socket.h>

#include "hms_thrift_hive_metastore.h"

#define CALL_TIMEOUT_S 20    /* per socket read/write, like the Python suite */

static int passed, failed;

/* Set when a call failed below the Thrift message level (transport or
 * protocol error): the stream may be out of step, so the stack's
 * remaining checks are reported as not run instead of waiting on it. */
static gboolean broken;

static void report(const char *stack, const char *name, char *why)
{
  if (why == NULL) {
    passed++;
    printf("ok - %s: %s\n", stack, name);
  } else {
    failed++;
    printf("not ok - %s: %s: %s\n", stack, name, why);
    g_free(why);
  }
  fflush(stdout);
}

static void unref0(gpointer p)
{
  if (p != NULL)
    g_object_unref(p);
}

/* --- connections -------------------------------------------------------- */

typedef struct {
  char *host;
  int port;
} Addr;

typedef struct {
  ThriftSocket *sock;
  ThriftTransport *trans;      /* buffered or framed, over sock */
  ThriftProtocol *proto;
  HmsThriftHiveMetastoreIf *iface;
} Conn;

static gboolean parse_addr(const char *s, Addr *a)
{
  const char *colon = strrchr(s, ':');
  char *end;
  long port;

  if (colon == NULL || colon == s)
    return FALSE;
  errno = 0;
  port = strtol(colon + 1, &end, 10);
  if (errno != 0 || *end != '\0' || end == colon + 1 || port <= 0 || port > 65535)
    return FALSE;
  a->host = g_strndup(s, (gsize)(colon - s));
  a->port = (int)port;
  return TRUE;
}

static void conn_close(Conn *c)
{
  /* The c_glib objects keep plain pointers to what they wrap: the client
   * to its protocol, the protocol to its transport, the transport to the
   * socket.  Release from the top down. */
  if (c->trans != NULL && thrift_transport_is_open(c->trans))
    thrift_transport_close(c->trans, NULL);
  unref0(c->iface);
  unref0(c->proto);
  unref0(c->trans);
  unref0(c->sock);
  memset(c, 0, sizeof *c);
}

static gboolean conn_open(Conn *c, const Addr *a, gboolean framed, gboolean compact, GError **error)
{
  struct timeval tv = { .tv_sec = CALL_TIMEOUT_S, .tv_usec = 0 };

  memset(c, 0, sizeof *c);
  c->sock = g_object_new(THRIFT_TYPE_SOCKET, "hostname", a->host, "port", (guint)a->port, NULL);
  if (framed)
    c->trans = g_object_new(THRIFT_TYPE_FRAMED_TRANSPORT, "transport", c->sock, NULL);
  else
    c->trans = g_object_new(THRIFT_TYPE_BUFFERED_TRANSPORT, "transport", c->sock, NULL);
  if (compact)
    c->proto = g_object_new(THRIFT_TYPE_COMPACT_PROTOCOL, "transport", c->trans, NULL);
  else
    c->proto = g_object_new(THRIFT_TYPE_BINARY_PROTOCOL, "transport", c->trans, NULL);
  if (!thrift_transport_open(c->trans, error)) {
    conn_close(c);
    return FALSE;
  }
  /* ThriftSocket has no timeouts of its own: a router that stops
   * answering should fail a check, not hang the test. */
  setsockopt(c->sock->sd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c->sock->sd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  c->iface = HMS_THRIFT_HIVE_METASTORE_IF(g_object_new(HMS_TYPE_THRIFT_HIVE_METASTORE_CLIENT,
                                                       "input_protocol", c->proto,
                                                       "output_protocol", c->proto, NULL));
  return TRUE;
}

/* --- describing failures ------------------------------------------------ */

/* "CALL failed: <exception type>: <message>" for the first exception
 * the call filled in, else the GError (transport, protocol, application). */
static char *describe(const char *call, GError *err, gpointer *excs, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (excs[i] != NULL) {
      const char *type = G_OBJECT_TYPE_NAME(excs[i]);   /* HmsMetaExceptionType */
      size_t len = strlen(type);
      gchar *msg = NULL;
      char *why;

      if (g_str_has_prefix(type, "Hms"))
        type += 3, len -= 3;
      if (g_str_has_suffix(type, "Type"))
        len -= 4;
      if (g_object_class_find_property(G_OBJECT_GET_CLASS(excs[i]), "message") != NULL)
        g_object_get(excs[i], "message", &msg, NULL);
      why = g_strdup_printf("%s failed: %.*s: %s", call, (int)len, type, msg != NULL ? msg : "(no message)");
      g_free(msg);
      return why;
    }
  }
  if (err != NULL && (err->domain == THRIFT_TRANSPORT_ERROR || err->domain == THRIFT_PROTOCOL_ERROR))
    broken = TRUE;
  return g_strdup_printf("%s failed: %s", call, err != NULL ? err->message : "(no error)");
}

#define DESCRIBE(call, err, ...) \
  describe((call), (err), (gpointer[]){ __VA_ARGS__ }, \
           sizeof((gpointer[]){ __VA_ARGS__ }) / sizeof(gpointer))

static char *join(const GPtrArray *a)
{
  GString *s = g_string_new("[");

  for (guint i = 0; i < a->len; i++)
    g_string_append_printf(s, "%s%s", i ? ", " : "", (const char *)g_ptr_array_index(a, i));
  g_string_append_c(s, ']');
  return g_string_free(s, FALSE);
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static gboolean same_strings(const GPtrArray *a, const GPtrArray *b)
{
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    if (strcmp(g_ptr_array_index(a, i), g_ptr_array_index(b, i)) != 0)
      return FALSE;
  return TRUE;
}

static gboolean str_eq(const char *a, const char *b)
{
  return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* --- model objects -------------------------------------------------------- */

static HmsFieldSchema *field(const char *name, const char *type)
{
  return g_object_new(HMS_TYPE_FIELD_SCHEMA, "name", name, "type", type, "comment", "", NULL);
}

/* A text table like the seeded one: columns id int, v string; partitioned
 * by ds string.  The caller unrefs it. */
static HmsTable *new_table(const char *db, const char *name)
{
  HmsTable *t = g_object_new(HMS_TYPE_TABLE, "tableName", name, "dbName", db, "owner", "alice",
                             "tableType", "MANAGED_TABLE", NULL);
  HmsStorageDescriptor *sd = t->sd;
  gchar *loc = g_strdup_printf("file:/warehouse/%s/%s", db, name);

  g_ptr_array_add(sd->cols, field("id", "int"));
  g_ptr_array_add(sd->cols, field("v", "string"));
  sd->__isset_cols = TRUE;
  g_object_set(sd, "location", loc,
               "inputFormat", "org.apache.hadoop.mapred.TextInputFormat",
               "outputFormat", "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat", NULL);
  g_object_set(sd->serdeInfo, "name", "s",
               "serializationLib", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", NULL);
  sd->serdeInfo->__isset_parameters = TRUE;
  sd->__isset_serdeInfo = TRUE;
  sd->__isset_parameters = TRUE;
  t->__isset_sd = TRUE;
  g_ptr_array_add(t->partitionKeys, field("ds", "string"));
  t->__isset_partitionKeys = TRUE;
  t->__isset_parameters = TRUE;
  g_free(loc);
  return t;
}

/* --- direct reads from one minihms (buffered binary) ---------------------- */

static GPtrArray *direct_databases(Conn *c, char **why)
{
  GPtrArray *dbs = g_ptr_array_new_with_free_func(g_free);
  HmsMetaException *o1 = NULL;
  GError *err = NULL;

  if (!hms_thrift_hive_metastore_if_get_all_databases(c->iface, &dbs, &o1, &err)) {
    *why = DESCRIBE("direct get_all_databases", err, o1);
    g_ptr_array_unref(dbs);
    dbs = NULL;
  }
  unref0(o1);
  g_clear_error(&err);
  return dbs;
}

static GPtrArray *direct_tables(Conn *c, const char *db, char **why)
{
  GPtrArray *tables = g_ptr_array_new_with_free_func(g_free);
  HmsMetaException *o1 = NULL;
  GError *err = NULL;

  if (!hms_thrift_hive_metastore_if_get_all_tables(c->iface, &tables, db, &o1, &err)) {
    *why = DESCRIBE("direct get_all_tables", err, o1);
    g_ptr_array_unref(tables);
    tables = NULL;
  }
  unref0(o1);
  g_clear_error(&err);
  return tables;
}

static gboolean has_string(const GPtrArray *a, const char *s)
{
  for (guint i = 0; i < a->len; i++)
    if (strcmp(g_ptr_array_index(a, i), s) == 0)
      return TRUE;
  return FALSE;
}

/* --- the checks -------------------------------------------------------------- */

typedef struct {
  Conn *r;           /* through the router, with the stack under test */
  Conn *p, *s;       /* primary and sales, directly */
  const char *slug;  /* the stack in a table name: buffered_binary, ... */
} Ctx;

static char *check_set_ugi(Ctx *x)
{
  GPtrArray *groups = g_ptr_array_new();
  GPtrArray *got = g_ptr_array_new_with_free_func(g_free);
  HmsMetaException *o1 = NULL;
  GError *err = NULL;
  char *why = NULL;

  g_ptr_array_add(groups, "staff");
  if (!hms_thrift_hive_metastore_if_set_ugi(x->r->iface, &got, "alice", groups, &o1, &err)) {
    why = DESCRIBE("set_ugi", err, o1);
  } else if (!same_strings(got, groups)) {
    char *j = join(got);
    why = g_strdup_printf("set_ugi answered %s, not [staff]", j);
    g_free(j);
  }
  g_ptr_array_unref(groups);
  g_ptr_array_unref(got);
  unref0(o1);
  g_clear_error(&err);
  return why;
}

static char *check_all_databases(Ctx *x)
{
  GPtrArray *got = g_ptr_array_new_with_free_func(g_free);
  GPtrArray *want = g_ptr_array_new_with_free_func(g_free);
  GPtrArray *pdbs = NULL, *sdbs = NULL;
  HmsMetaException *o1 = NULL;
  GError *err = NULL;
  char *why = NULL;

  if (!hms_thrift_hive_metastore_if_get_all_databases(x->r->iface, &got, &o1, &err)) {
    why = DESCRIBE("get_all_databases", err, o1);
    goto out;
  }
  if ((pdbs = direct_databases(x->p, &why)) == NULL || (sdbs = direct_databases(x->s, &why)) == NULL)
    goto out;
  for (guint i = 0; i < pdbs->len; i++)
    g_ptr_array_add(want, g_strdup(g_ptr_array_index(pdbs, i)));
  for (guint i = 0; i < sdbs->len; i++)
    g_ptr_array_add(want, g_strconcat("sales_", (const char *)g_ptr_array_index(sdbs, i), NULL));
  g_ptr_array_sort(want, cmp_str);
  g_ptr_array_sort(got, cmp_str);
  if (!same_strings(got, want) || !has_string(got, "sales_orders") || !has_string(got, "web")) {
    char *g = join(got), *w = join(want);
    why = g_strdup_printf("got %s, want %s", g, w);
    g_free(g);
    g_free(w);
  }
out:
  if (pdbs != NULL)
    g_ptr_array_unref(pdbs);
  if (sdbs != NULL)
    g_ptr_array_unref(sdbs);
  g_ptr_array_unref(got);
  g_ptr_array_unref(want);
  unref0(o1);
  g_clear_error(&err);
  return why;
}

static char *check_get_database(Ctx *x)
{
  HmsDatabase *d = g_object_new(HMS_TYPE_DATABASE, NULL);
  HmsDatabase *direct = g_object_new(HMS_TYPE_DATABASE, NULL);
  HmsNoSuchObjectException *o1 = NULL;
  HmsMetaException *o2 = NULL;
  GError *err = NULL;
  char *why = NULL;

  if (!hms_thrift_hive_metastore_if_get_database(x->r->iface, &d, "sales_orders", &o1, &o2, &err)) {
    why = DESCRIBE("get_database(sales_orders)", err, o1, o2);
    goto out;
  }
  if (!str_eq(d->name, "sales_orders")) {
    why = g_strdup_printf("the name came back as %s", d->name ? d->name : "(null)");
    goto out;
  }
  if (!hms_thrift_hive_metastore_if_get_database(x->s->iface, &direct, "orders", &o1, &o2, &err)) {
    why = DESCRIBE("direct get_database(orders)", err, o1, o2);
    goto out;
  }
  if (!str_eq(d->locationUri, direct->locationUri))
    why = g_strdup_printf("locationUri %s, sales has %s", d->locationUri ? d->locationUri : "(null)",
                          direct->locationUri ? direct->locationUri : "(null)");
out:
  unref0(d);
  unref0(direct);
  unref0(o1);
  unref0(o2);
  g_clear_error(&err);
  return why;
}

static char *check_get_table(Ctx *x)
{
  HmsTable *t = g_object_new(HMS_TYPE_TABLE, NULL);
  HmsTable *direct = g_object_new(HMS_TYPE_TABLE, NULL);
  HmsMetaException *o1 = NULL;
  HmsNoSuchObjectException *o2 = NULL;
  GError *err = NULL;
  char *why = NULL;

  if (!hms_thrift_hive_metastore_if_get_table(x->r->iface, &t, "sales_orders", "daily", &o1, &o2, &err)) {
    why = DESCRIBE("get_table(sales_orders, daily)", err, o1, o2);
    goto out;
  }
  if (!str_eq(t->dbName, "sales_orders") || !str_eq(t->tableName, "daily")) {
    why = g_strdup_printf("dbName %s tableName %s", t->dbName ? t->dbName : "(null)",
                          t->tableName ? t->tableName : "(null)");
    goto out;
  }
  if (t->partitionKeys->len != 1 ||
      !str_eq(((HmsFieldSchema *)g_ptr_array_index(t->partitionKeys, 0))->name, "ds")) {
    why = g_strdup_printf("%u partition keys, want ds", t->partitionKeys->len);
    goto out;
  }
  if (!hms_thrift_hive_metastore_if_get_table(x->s->iface, &direct, "orders", "daily", &o1, &o2, &err)) {
    why = DESCRIBE("direct get_table(orders, daily)", err, o1, o2);
    goto out;
  }
  if (t->sd->cols->len != direct->sd->cols->len || !str_eq(t->sd->location, direct->sd->location))
    why = g_strdup_printf("sd differs: %u columns at %s, sales has %u at %s", t->sd->cols->len,
                          t->sd->location ? t->sd->location : "(null)", direct->sd->cols->len,
                          direct->sd->location ? direct->sd->location : "(null)");
out:
  unref0(t);
  unref0(direct);
  unref0(o1);
  unref0(o2);
  g_clear_error(&err);
  return why;
}

static GPtrArray *partition_values(const GPtrArray *parts)
{
  GPtrArray *v = g_ptr_array_new_with_free_func(g_free);

  for (guint i = 0; i < parts->len; i++) {
    HmsPartition *p = g_ptr_array_index(parts, i);
    g_ptr_array_add(v, g_strdup(p->values->len == 1 ? (const char *)g_ptr_array_index(p->values, 0)
                                                    : "(not one value)"));
  }
  g_ptr_array_sort(v, cmp_str);
  return v;
}

static char *check_get_partitions(Ctx *x)
{
  GPtrArray *got = g_ptr_array_new_with_free_func(g_object_unref);
  GPtrArray *direct = g_ptr_array_new_with_free_func(g_object_unref);
  GPtrArray *gv = NULL, *dv = NULL;
  HmsNoSuchObjectException *o1 = NULL;
  HmsMetaException *o2 = NULL;
  GError *err = NULL;
  char *why = NULL;

  if (!hms_thrift_hive_metastore_if_get_partitions(x->r->iface, &got, "sales_orders", "daily", -1,
                                                   &o1, &o2, &err)) {
    why = DESCRIBE("get_partitions(sales_orders, daily)", err, o1, o2);
    goto out;
  }
  if (!hms_thrift_hive_metastore_if_get_partitions(x->s->iface, &direct, "orders", "daily", -1,
                                                   &o1, &o2, &err)) {
    why = DESCRIBE("direct get_partitions(orders, daily)", err, o1, o2);
    goto out;
  }
  for (guint i = 0; i < got->len; i++) {
    HmsPartition *p = g_ptr_array_index(got, i);
    if (!str_eq(p->dbName, "sales_orders") || !str_eq(p->tableName, "daily")) {
      why = g_strdup_printf("partition %u has dbName %s tableName %s", i, p->dbName ? p->dbName : "(null)",
                            p->tableName ? p->tableName : "(null)");
      goto out;
    }
  }
  gv = partition_values(got);
  dv = partition_values(direct);
  if (got->len < 3 || !same_strings(gv, dv)) {
    char *g = join(gv), *d = join(dv);
    why = g_strdup_printf("partition values %s, sales has %s", g, d);
    g_free(g);
    g_free(d);
  }
out:
  if (gv != NULL)
    g_ptr_array_unref(gv);
  if (dv != NULL)
    g_ptr_array_unref(dv);
  g_ptr_array_unref(got);
  g_ptr_array_unref(direct);
  unref0(o1);
  unref0(o2);
  g_clear_error(&err);
  return why;
}

static char *check_create_primary(Ctx *x)
{
  gchar *name = g_strdup_printf("cglib_%s", x->slug);
  HmsTable *t = new_table("web", name);
  HmsTable *direct = g_object_new(HMS_TYPE_TABLE, NULL);
  HmsAlreadyExistsException *a1 = NULL;
  HmsInvalidObjectException *a2 = NULL;
  HmsMetaException *a3 = NULL;
  HmsNoSuchObjectException *a4 = NULL;
  HmsMetaException *g1 = NULL;
  HmsNoSuchObjectException *g2 = NULL;
  GPtrArray *tables = NULL;
  GError *err = NULL;
  char *why = NULL;

  if (!hms_thrift_hive_metastore_if_create_table(x->r->iface, t, &a1, &a2, &a3, &a4, &err)) {
    why = DESCRIBE("create_table(web)", err, a1, a2, a3, a4);
    goto out;
  }
  if ((tables = direct_tables(x->p, "web", &why)) == NULL)
    goto out;
  if (!has_string(tables, name)) {
    char *j = join(tables);
    why = g_strdup_printf("%s is not on the primary; web has %s", name, j);
    g_free(j);
    goto out;
  }
  if (!hms_thrift_hive_metastore_if_get_table(x->p->iface, &direct, "web", name, &g1, &g2, &err)) {
    why = DESCRIBE("direct get_table(web)", err, g1, g2);
    goto out;
  }
  if (!str_eq(direct->dbName, "web") || direct->sd->cols->len != 2 || direct->partitionKeys->len != 1)
    why = g_strdup_printf("the primary holds dbName %s with %u columns, %u partition keys",
                          direct->dbName ? direct->dbName : "(null)", direct->sd->cols->len,
                          direct->partitionKeys->len);
out:
  if (tables != NULL)
    g_ptr_array_unref(tables);
  unref0(t);
  unref0(direct);
  unref0(a1);
  unref0(a2);
  unref0(a3);
  unref0(a4);
  unref0(g1);
  unref0(g2);
  g_clear_error(&err);
  g_free(name);
  return why;
}

static char *check_create_readonly(Ctx *x)
{
  gchar *name = g_strdup_printf("cglib_nope_%s", x->slug);
  HmsTable *t = new_table("sales_orders", name);
  HmsAlreadyExistsException *a1 = NULL;
  HmsInvalidObjectException *a2 = NULL;
  HmsMetaException *a3 = NULL;
  HmsNoSuchObjectException *a4 = NULL;
  GPtrArray *tables = NULL;
  GError *err = NULL;
  char *why = NULL;

  if (hms_thrift_hive_metastore_if_create_table(x->r->iface, t, &a1, &a2, &a3, &a4, &err)) {
    why = g_strdup("create_table in the read-only sales metastore was not refused");
    goto out;
  }
  if (a3 == NULL) {
    why = DESCRIBE("create_table(sales_orders) was refused without MetaException; it", err, a1, a2, a4);
    goto out;
  }
  if (a3->message == NULL || strstr(a3->message, "read-only") == NULL || strstr(a3->message, "sales") == NULL) {
    why = g_strdup_printf("the MetaException does not say read-only sales: %s",
                          a3->message ? a3->message : "(null)");
    goto out;
  }
  if ((tables = direct_tables(x->s, "orders", &why)) == NULL)
    goto out;
  if (has_string(tables, name))
    why = g_strdup_printf("%s was made on sales anyway", name);
out:
  if (tables != NULL)
    g_ptr_array_unref(tables);
  unref0(t);
  unref0(a1);
  unref0(a2);
  unref0(a3);
  unref0(a4);
  g_clear_error(&err);
  g_free(name);
  return why;
}

static char *check_missing_table(Ctx *x)
{
  HmsTable *t = g_object_new(HMS_TYPE_TABLE, NULL);
  HmsDatabase *d = g_object_new(HMS_TYPE_DATABASE, NULL);
  HmsMetaException *o1 = NULL;
  HmsNoSuchObjectException *o2 = NULL;
  HmsNoSuchObjectException *d1 = NULL;
  HmsMetaException *d2 = NULL;
  GError *err = NULL;
  char *why = NULL;

  if (hms_thrift_hive_metastore_if_get_table(x->r->iface, &t, "sales_orders", "missing", &o1, &o2, &err)) {
    why = g_strdup("get_table(sales_orders, missing) answered a table");
    goto out;
  }
  if (o2 == NULL) {
    why = DESCRIBE("get_table(sales_orders, missing) gave no NoSuchObjectException; it", err, o1);
    goto out;
  }
  g_clear_error(&err);
  /* An exception is an ordinary reply: the connection goes on. */
  if (!hms_thrift_hive_metastore_if_get_database(x->r->iface, &d, "web", &d1, &d2, &err))
    why = DESCRIBE("get_database(web) after the exception", err, d1, d2);
  else if (!str_eq(d->name, "web"))
    why = g_strdup_printf("get_database(web) after the exception named %s", d->name ? d->name : "(null)");
out:
  unref0(t);
  unref0(d);
  unref0(o1);
  unref0(o2);
  unref0(d1);
  unref0(d2);
  g_clear_error(&err);
  return why;
}

/* Leave the primary as it was for the next stack. */
static char *drop_direct(Conn *p, const char *db, const char *name)
{
  HmsNoSuchObjectException *o1 = NULL;
  HmsMetaException *o2 = NULL;
  GError *err = NULL;
  char *why = NULL;

  if (!hms_thrift_hive_metastore_if_drop_table(p->iface, db, name, TRUE, &o1, &o2, &err))
    why = DESCRIBE("direct drop_table", err, o1, o2);
  unref0(o1);
  unref0(o2);
  g_clear_error(&err);
  return why;
}

static const struct {
  const char *name;
  char *(*fn)(Ctx *);
} CHECKS[] = {
  { "set_ugi answers the groups", check_set_ugi },
  { "get_all_databases is the union of both metastores, sales_ prefixed", check_all_databases },
  { "get_database on a prefixed database gives the prefixed name", check_get_database },
  { "get_table on a prefixed table gives the prefixed dbName", check_get_table },
  { "get_partitions on a prefixed table: every partition, prefixed dbName", check_get_partitions },
  { "create_table on a primary database lands on the primary", check_create_primary },
  { "create_table in the read-only sales metastore: MetaException", check_create_readonly },
  { "a missing table: NoSuchObjectException, and the connection goes on", check_missing_table },
};

static const struct {
  const char *name, *slug;
  gboolean framed, compact;
} STACKS[] = {
  { "buffered binary", "buffered_binary", FALSE, FALSE },
  { "framed binary", "framed_binary", TRUE, FALSE },
  { "buffered compact", "buffered_compact", FALSE, TRUE },
  { "framed compact", "framed_compact", TRUE, TRUE },
};

int main(int argc, char **argv)
{
  Addr router = { 0 }, primary = { 0 }, sales = { 0 };
  GError *err = NULL;

  if (argc != 4 || !parse_addr(argv[1], &router) || !parse_addr(argv[2], &primary) ||
      !parse_addr(argv[3], &sales)) {
    fprintf(stderr, "usage: hms_cglib_client ROUTER PRIMARY SALES   (each HOST:PORT)\n");
    g_free(router.host);
    g_free(primary.host);
    g_free(sales.host);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);   /* a closed connection is a failed call, not an exit */

  for (size_t i = 0; i < G_N_ELEMENTS(STACKS); i++) {
    const char *stack = STACKS[i].name;
    Conn r, p, s;
    Ctx x = { .r = &r, .p = &p, .s = &s, .slug = STACKS[i].slug };
    size_t k = 0;

    /* Fresh connections per stack: one stack's broken stream does not
     * spill into the next. */
    if (!conn_open(&p, &primary, FALSE, FALSE, &err)) {
      report(stack, "connect to the primary minihms directly", g_strdup(err->message));
      g_clear_error(&err);
      continue;
    }
    if (!conn_open(&s, &sales, FALSE, FALSE, &err)) {
      report(stack, "connect to the sales minihms directly", g_strdup(err->message));
      g_clear_error(&err);
      conn_close(&p);
      continue;
    }
    if (!conn_open(&r, &router, STACKS[i].framed, STACKS[i].compact, &err)) {
      report(stack, "connect to the router", g_strdup(err->message));
      g_clear_error(&err);
      conn_close(&p);
      conn_close(&s);
      continue;
    }
    broken = FALSE;
    for (; k < G_N_ELEMENTS(CHECKS) && !broken; k++) {
      report(stack, CHECKS[k].name, CHECKS[k].fn(&x));
      if (CHECKS[k].fn == check_create_primary && !broken) {
        gchar *name = g_strdup_printf("cglib_%s", x.slug);
        char *why = drop_direct(&p, "web", name);
        /* only a table the check made needs dropping */
        if (why != NULL && strstr(why, "NoSuchObject") == NULL)
          printf("# cleanup: %s\n", why);
        g_free(why);
        g_free(name);
      }
    }
    for (; k < G_N_ELEMENTS(CHECKS); k++)
      report(stack, CHECKS[k].name, g_strdup("not run: a connection broke in an earlier check"));
    conn_close(&r);
    conn_close(&p);
    conn_close(&s);
  }
  g_free(router.host);
  g_free(primary.host);
  g_free(sales.host);
  printf("%d passed, %d failed\n", passed, failed);
  fflush(stdout);   /* before a sanitizer's exit-time report can _exit */
  return failed ? 1 : 0;
}
