/*
 * audit: the router's two audit logs, one line per client call once its
 * answer is known. Off unless [router] audit.hdfs / audit.hms name a file.
 *
 *   worker loop                              writer thread (one)
 *   -----------                              -------------------
 *   call read:   audit_*_begin  (paths, db)
 *   answered:    audit_*_end -> line --push--> bounded queue --pop--> write(2)
 *                               (queue full: line dropped, counted)
 *   SIGHUP:      audit_reopen ------------------------------------> close, open
 *
 * A worker never waits here and makes no system call: the queue is a fixed
 * ring of slots taken with one compare-and-swap, and the writer empties it
 * every AUDIT_FLUSH_MS (a line reaches the file within about that). Lines that find the ring full are dropped and counted in
 * fedrouter_audit_dropped_total{reason="queue_full"}; lines the file refuses
 * (disk full, the file cannot be opened) in reason="write_error".
 *
 * HDFS lines follow the NameNode's audit logger (FSNamesystem's
 * DefaultAuditLogger as log4j writes it to hdfs-audit.log), with the
 * nameservices the call went to added at the end:
 *
 *   2026-12-06 13:40:01,123 INFO FSNamesystem.audit: allowed=true<TAB>ugi=alice (auth:SIMPLE)<TAB>
 *       ip=/127.0.0.1<TAB>cmd=getfileinfo<TAB>src=/data/a<TAB>dst=null<TAB>perm=null<TAB>proto=rpc<TAB>ns=ns1
 *
 * allowed=false when the answer is an AccessControlException (from a
 * NameNode or from the router); cmd is the NameNode's name for the method
 * (getfileinfo, listStatus, open, rename (options=[NONE]), ...), else the
 * method's own; src and dst are the paths as the client wrote them; perm is
 * always null (the router does not read the status the NameNode would
 * print); ns is the nameservice, a comma-separated list when the call went
 * to several, null when the router answered alone.
 *
 * Metastore lines follow HMSHandler's audit log (HiveMetaStore.audit), with
 * the metastore added:
 *
 *   2026-12-06 13:40:01,123 INFO HiveMetaStore.audit: ugi=alice<TAB>ip=127.0.0.1<TAB>
 *       cmd=get_table : db=sales_orders tbl=t1<TAB>metastore=sales
 *
 * ugi is the set_ugi user (null when the client sent none); db is the first
 * database the call names, as the client wrote it; tbl where the call names
 * one table; metastore as for ns above ("null" when none was asked).
 */
#ifndef FR_AUDIT_H
#define FR_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "thrift_walk.h"

enum audit_log { AUDIT_HDFS = 0, AUDIT_HMS = 1, AUDIT_NLOGS };

#define AUDIT_QUEUE_LINES 65536 /* lines waiting per log before new ones are dropped */
#define AUDIT_FLUSH_MS 10       /* the writer takes what is queued at least this often */

/* Points log `which` at path ("" = off); the writer (re)opens it. The first
 * call that turns a log on starts the writer thread. 0, or -1 with why when
 * the file cannot be opened (the log is then off). Any thread. */
int audit_set_path(enum audit_log which, const char *path, char *why, size_t whylen);
/* Every open log is closed and opened again by the writer (logrotate moved
 * the file: the next lines go to a new one at the configured path). */
void audit_reopen(void);
/* Writes what is queued, closes the files, stops the writer. */
void audit_stop(void);
/* Is log `which` on? One relaxed load: the workers' fast path. */
bool audit_on(enum audit_log which);
/* metrics_gauge_fn: fedrouter_audit_lines_total and _dropped_total. */
void audit_metrics(struct buf *out, void *arg);

/* What a call's line needs from its request, kept from the moment it is
 * read until it is answered. Owned by the call (rcall->audit, mcall.audit). */
struct audit_call;

struct rcall;
struct mconn;

/* An HDFS call read (method and request as the codec gave them; m, its row
 * in the method table as the call already looked it up, NULL when unknown):
 * NULL when the HDFS log is off or out of memory (no line then). */
struct method_row;
struct audit_call *audit_hdfs_begin(const struct method_row *m, const char *method, const uint8_t *param,
                                    size_t len);
/* A nameservice or metastore a subcall of the call went to (a NULL a is ok). */
void audit_add_target(struct audit_call *a, const char *name);
/* The call is answered (cls: the exception class, NULL on success): queues
 * its line and frees rc->audit. */
void audit_hdfs_end(struct rcall *rc, const char *cls);

/* A metastore call read (the whole message, its parsed header; rule, its
 * routing rule as the call already looked it up, NULL when none). */
struct hms_rule;
struct audit_call *audit_hms_begin(const struct hms_rule *rule, enum tw_proto proto, const uint8_t *msg, size_t len,
                                   const struct tw_header *h);
/* The call in hand on c is answered: queues its line, frees c->call.audit. */
void audit_hms_end(struct mconn *c);

/* A call that ends unanswered (its connection closed): no line. */
void audit_call_free(struct audit_call *a);

#endif
