/*
 * hms_internal: what the metastore routing (hms_route.c), its fan-out calls
 * (hms_fanout.c) and its reply relay (hms_relay.c) share. Private to the
 * router's metastore side.
 */
#ifndef FR_HMS_INTERNAL_H
#define FR_HMS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "hms_conn.h"
#include "hms_names.h"
#include "hms_rules.h"
#include "hms_up.h"
#include "records.h"
#include "router.h"
#include "snapshot.h"

/* Database names mapped by one rule (tw_rewrite context). */
struct hms_in_ctx {
    const struct hms_rule *rule;
    struct hms_names names;
    /* HiveObjectRef.objectName strings (HMS_PK_OBJNAME) in message order:
     * which of them name a database (objectType DATABASE), by bit */
    uint64_t objname_db;
    unsigned objname_seen;
};

/* Which objectName strings at the OBJNAME paths of ps (in message order)
 * belong to a HiveObjectRef of type DATABASE: a bit each (the first 64). */
uint64_t hms_objname_dbs(enum tw_proto proto, const uint8_t *body, size_t len, const struct hms_paths *paths);

/* One backend call in the metastore's upstream series (proto hms_upstream). */
void hms_record_upstream(struct mconn *c, const char *method, const char *ms, uint64_t sent_us, bool error);
/* A REPLY whose result holds field 0 (success) = list<string>. */
void hms_reply_string_list(struct mconn *c, const struct tw_header *h, char *const *items, size_t n);
/* A TApplicationException answer. */
void hms_reply_app_error(struct mconn *c, const struct tw_header *h, enum tw_app_error type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The prefix of a metastore's database names as clients see them ("" for none). */
const char *hms_name_prefix(const struct router *rt, const struct ms_rec *ms);
/* MANUAL mode: the metastore that serves db. */
/* The metastore that serves a database as the client names it, in either
 * mode; NULL when the router shows no such database. */
const struct ms_rec *hms_ms_of_db(const struct router *rt, const struct snapshot *s, const char *db, size_t len);
const struct ms_rec *hms_manual_ms_for_db(const struct snapshot *s, const char *db, size_t len);
/* The metastore's URIs as a failover target (hms_up.h); NULL when out of memory. */
static inline struct hms_target *hms_target_of(const struct ms_rec *ms)
{
    return hms_target_get(ms->name, ms->uris, ms->nuris);
}
/* tw_rewrite callback: a result's database names get the prefix. */
int hms_map_out(void *vctx, unsigned idx, const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len);

/* hms_relay.c: a reply passed to the client as it arrives, names mapped
 * on the way. Decides on the reply's first bytes: a REPLY whose success
 * field comes first is passed on (for a framed client only when nothing
 * needs mapping: the frame length must be known up front); anything else
 * (an exception, an EXCEPTION message, a void answer) is asked for whole. */
struct hms_relay {
    int state;                          /* 0 not decided, 1 passing on, 2 whole */
    bool started;                       /* bytes of it are on their way to the client */
    struct tw_stream ts;
    struct hms_in_ctx x;                /* the prefix put on database names */
};
/* An hms_up part() for a call of c: rule and prefix say what to map (rule
 * NULL or prefix "": nothing); max_string bounds a string held to map it. */
enum hms_part hms_relay_part(struct hms_relay *rl, struct mconn *c, const struct hms_rule *rule, const char *prefix,
                             size_t max_string, const uint8_t *p, size_t len, size_t total, size_t *used, char *why,
                             size_t whylen);
/* Back to "not decided" (a call asked again), memory freed. */
void hms_relay_reset(struct hms_relay *rl);

/* hms_fanout.c: calls sent to every metastore (database listings,
 * get_table_meta with a wildcard, get_all_functions), merged. */
void hms_fanout(struct mconn *c, uint8_t *msg, size_t len, const struct tw_header *h);
bool hms_fanout_wildcard(struct mconn *c, const uint8_t *msg, size_t len, const struct tw_header *h);
void hms_fanout_cancel(struct mconn *c);

#endif
