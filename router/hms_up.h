/*
 * hms_up: connections from one worker to the backend metastores.
 *
 * A Thrift metastore connection carries one call at a time and, once a
 * client's set_ugi has run on it, belongs to that user for good (a second
 * set_ugi fails). So connections are pooled per worker by (address, user,
 * groups, protocol, framing); a call takes an idle connection of its key or
 * opens one, which first replays the client's set_ugi. Idle connections are
 * closed after a while; a connection that fails fails its call only.
 */
#ifndef FR_HMS_UP_H
#define FR_HMS_UP_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "thrift_walk.h"

struct hms_pool;
struct hms_upconn;

/* Who the calls run as on the backend: the client's set_ugi, if it sent one. */
struct hms_ident {
    const char *user;               /* NULL or "": no set_ugi */
    const char *const *groups;
    size_t ngroups;
};

enum hms_up_status { HMS_UP_OK = 0, HMS_UP_DOWN = -1, HMS_UP_TIMEOUT = -2, HMS_UP_PROTO = -3 };

struct hms_upcall;
/* The reply (one whole message, unframed) or a failure with why. */
typedef void (*hms_up_done_fn)(struct hms_upcall *uc, enum hms_up_status st, const uint8_t *msg, size_t len,
                               const char *why);

/* One call on a backend. Embed it; keep it alive until done or hms_up_cancel. */
struct hms_upcall {
    hms_up_done_fn done;
    void *arg;
    bool oneway;                    /* no reply expected: done runs once it is written */
    /* private */
    struct hms_upconn *conn;
    ev_timer tmo;
};

struct hms_pool *hms_pool_new(struct ev_loop *loop, double connect_timeout, double call_timeout, double idle_timeout);
void hms_pool_free(struct hms_pool *p);

/* Sends one message (unframed bytes; framing is added for framed backends)
 * to addr ("host:port"). 0: done() will run later; -1 with why: not sent. */
int hms_up_send(struct hms_pool *p, const char *addr, const struct hms_ident *id, enum tw_proto proto, bool framed,
                const uint8_t *msg, size_t len, struct hms_upcall *uc, char *why, size_t whylen);
/* Forgets a call (its connection is closed: the reply would be out of step). */
void hms_up_cancel(struct hms_upcall *uc);

/* Connections open / idle, for metrics. */
void hms_pool_counts(const struct hms_pool *p, size_t *open, size_t *idle);

#endif
