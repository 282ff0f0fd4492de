/*
 * hms_compat: calls that Hive 4 metastores no longer have, sent in their
 * newer form and answered in the old one (see hms_compat.c).
 */
#ifndef FR_HMS_COMPAT_H
#define FR_HMS_COMPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "thrift_walk.h"

enum hms_compat_kind { HMS_COMPAT_NONE = 0, HMS_COMPAT_GET_TABLE, HMS_COMPAT_GET_TABLES };

/* Which old call a method name is, if any. */
enum hms_compat_kind hms_compat_kind(const uint8_t *name, size_t len);
/* Is this reply TApplicationException UNKNOWN_METHOD? (binary protocol) */
bool hms_compat_unknown_method(enum tw_proto proto, const uint8_t *msg, size_t len);
/* The _req form of an old call (binary). 0, or -1 for arguments it cannot carry. */
int hms_compat_request(enum hms_compat_kind kind, const struct tw_header *h, const uint8_t *msg, size_t len,
                       struct buf *out);
/* The old form of the _req call's reply, under the client's name and seqid. 0 or -1. */
int hms_compat_reply(enum hms_compat_kind kind, const struct tw_header *orig, const uint8_t *msg, size_t len,
                     struct buf *out);
/* Metastores seen without the old calls (process-wide). */
bool hms_compat_known(const char *ms);
void hms_compat_learn(const char *ms);

#endif
