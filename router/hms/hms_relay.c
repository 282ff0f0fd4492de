/*
 * hms_relay.c: metastore replies passed to the client as they arrive (see
 * hms_internal.h).
 *
 *   backend bytes --hms_up part()--> first bytes: pass on or whole?
 *     pass on: [frame length] --tw_stream_feed (names mapped)--> client
 *              output; full output --> HMS_PART_PAUSE until it drains
 *     whole:   HMS_PART_WHOLE --> the reply comes to done() as one message
 *
 * Only one step of the reply is held here (a field or container header, or
 * a database name being mapped), so a reply of any size passes with memory
 * bounded by the client's output limit.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hms_internal.h"

enum { RELAY_UNDECIDED = 0, RELAY_PASSING = 1, RELAY_WHOLE = 2 };

/* 1: a REPLY whose success field (id 0) comes first; 2: anything else;
 * 0: more bytes needed to tell. */
static int classify(enum tw_proto proto, const uint8_t *p, size_t len)
{
    struct tw_header h;
    int r = tw_parse_header(proto, p, len, NULL, &h);
    if (r == TW_NEED_MORE)
        return 0;
    if (r < 0 || h.type != TW_REPLY)
        return 2; /* the whole path reports what is wrong */
    struct tw_field f;
    r = tw_result_field(proto, p + h.body_off, len - h.body_off, &f);
    if (r == TW_NEED_MORE)
        return 0;
    /* Anything but a success value (an exception, a void answer, bytes the
     * whole path will report) is a few bytes: asked for whole. */
    return r == TW_COMPLETE && f.set && f.id == 0 ? 1 : 2;
}

enum hms_part hms_relay_part(struct hms_relay *rl, struct mconn *c, const struct hms_rule *rule, const char *prefix,
                             size_t max_string, const uint8_t *p, size_t len, size_t total, size_t *used, char *why,
                             size_t whylen)
{
    *used = 0;
    if (rl->state == RELAY_WHOLE)
        return HMS_PART_WHOLE;
    if (rl->state == RELAY_UNDECIDED) {
        int k = classify(c->proto, p, len);
        if (k == 0)
            return HMS_PART_MORE;
        bool map = rule && prefix && prefix[0] && rule->result.ps.n;
        /* objectName strings are database names or not by the objectType
         * beside them: such replies (privileges, small) are mapped whole. */
        bool objnames = map && rule->result.n[HMS_PK_OBJNAME];
        /* A transport (SASL, TLS) sends whole messages only: a reply
         * held back in its queue could never drain, so it comes whole. */
        if (k == 2 || objnames || (c->framed && (map || total == 0)) || c->conn.xprt) {
            rl->state = RELAY_WHOLE;
            return HMS_PART_WHOLE;
        }
        /* Strings at the paths are held whole to be mapped: bounded. */
        const struct tw_limits lim = { 0, max_string, 0, SIZE_MAX };
        rl->x = (struct hms_in_ctx){ rule, { prefix, BUF_INIT, 0 }, 0, 0 };
        if (tw_stream_init(&rl->ts, c->proto, &lim, map ? &rule->result.ps : NULL, hms_map_out, &rl->x) < 0) {
            snprintf(why, whylen, "bad path set for the reply");
            return HMS_PART_ERROR;
        }
        if (c->framed && tw_put_frame_len(mconn_reply_buf(c), total) < 0) {
            snprintf(why, whylen, "out of memory");
            return HMS_PART_ERROR;
        }
        rl->state = RELAY_PASSING;
        rl->started = true;
    }
    int rc = tw_stream_feed(&rl->ts, p, len, mconn_reply_buf(c), used);
    if (rc < 0) {
        snprintf(why, whylen, "malformed reply (%s)", tw_strerror(rc));
        return HMS_PART_ERROR;
    }
    bool flowing = mconn_reply_flowing(c);
    if (rc == TW_COMPLETE)
        return HMS_PART_END;
    return flowing ? HMS_PART_MORE : HMS_PART_PAUSE;
}

void hms_relay_reset(struct hms_relay *rl)
{
    buf_free(&rl->x.names.out);
    memset(rl, 0, sizeof *rl);
}
