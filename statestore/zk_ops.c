/* zk_ops.c: compare-and-set put / delete / get, router registration and
 * safe mode (see zkstore.h). */
#include <stdlib.h>

#include "zkstore_int.h"

/* ---- routers (registration) ---- */

static size_t format_router(const struct zks_router *r, char *buf, size_t size)
{
    int n = snprintf(buf, size,
                     "%s\nid = %s\nhdfs = %s\nhms = %s\nadmin = %s\nversion = %s\nstart_ms = %lld\n"
                     "snapshot = %llu\nzxid = %llu\n",
                     ROUTER_HEADER, r->id, r->hdfs, r->hms, r->admin, r->version, (long long)r->start_ms,
                     (unsigned long long)r->snapshot, (unsigned long long)r->zxid);
    return n < 0 ? 0 : (size_t)n;
}

static void parse_router(const char *data, struct zks_router *r)
{
    char *copy = strdup(data), *save = NULL;
    if (!copy)
        return;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (*line == '#' || !eq)
            continue;
        *eq = '\0';
        char *k = zk_trim_ws(line), *v = zk_trim_ws(eq + 1);
        if (!strcmp(k, "hdfs"))
            snprintf(r->hdfs, sizeof r->hdfs, "%s", v);
        else if (!strcmp(k, "hms"))
            snprintf(r->hms, sizeof r->hms, "%s", v);
        else if (!strcmp(k, "admin"))
            snprintf(r->admin, sizeof r->admin, "%s", v);
        else if (!strcmp(k, "version"))
            snprintf(r->version, sizeof r->version, "%s", v);
        else if (!strcmp(k, "start_ms"))
            r->start_ms = strtoll(v, NULL, 10);
        else if (!strcmp(k, "snapshot"))
            r->snapshot = strtoull(v, NULL, 10);
        else if (!strcmp(k, "zxid"))
            r->zxid = strtoull(v, NULL, 10);
    }
    free(copy);
}

/* Creates every missing ancestor of path (persistent, the given ACL for the
 * last one, record ACL above it). Returns a ZooKeeper code. */
int zk_ensure_parents(struct zks *z, zhandle_t *zh, const char *path, const struct ACL_vector *last_acl)
{
    char buf[FR_PATH_MAX * 3 + 512];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return ZOK;
    *slash = '\0'; /* buf = parent */
    for (char *p = buf + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            char save = *p;
            *p = '\0';
            int rc = zoo_create(zh, buf, NULL, -1, end ? last_acl : &z->v_rec, ZOO_PERSISTENT, NULL, 0);
            if (rc != ZOK && rc != ZNODEEXISTS)
                return rc;
            *p = save;
            if (end)
                return ZOK;
        }
    }
}

int zk_do_register(struct zks *z, zhandle_t *zh, const struct zks_router *r, char *err, size_t errlen)
{
    char path[1024], data[2048];
    zk_build_path(z, ROUTERS_FOLDER, r->id, path, sizeof path);
    size_t len = format_router(r, data, sizeof data);
    for (int attempt = 0; attempt < 4; attempt++) {
        int rc = zoo_create(zh, path, data, (int)len, &z->v_rnode, ZOO_EPHEMERAL, NULL, 0);
        if (rc == ZOK)
            return ZKS_OK;
        if (rc == ZNONODE) {
            rc = zk_ensure_parents(z, zh, path, &z->v_rfolder);
            if (rc == ZOK)
                continue;
        } else if (rc == ZNODEEXISTS) {
            struct Stat st;
            rc = zoo_exists(zh, path, 0, &st);
            if (rc == ZNONODE)
                continue;
            if (rc == ZOK) {
                const clientid_t *me = zoo_client_id(zh);
                if (me && st.ephemeralOwner == me->client_id) {
                    rc = zoo_set(zh, path, data, (int)len, st.version);
                    if (rc == ZOK)
                        return ZKS_OK;
                    if (rc == ZBADVERSION || rc == ZNONODE)
                        continue;
                } else {
                    /* left by an earlier session of this router (or a router with the same id) */
                    rc = zoo_delete(zh, path, st.version);
                    if (rc == ZOK || rc == ZNONODE || rc == ZBADVERSION)
                        continue;
                }
            }
        }
        fr_errf(err, errlen, "registering router %s at %s: %s", r->id, path, zerror(rc));
        return zrc_to_rc(rc) == ZKS_CONFLICT ? ZKS_ERR : zrc_to_rc(rc);
    }
    fr_errf(err, errlen, "registering router %s at %s: the znode keeps changing", r->id, path);
    return ZKS_ERR;
}

/* ---- safe mode ---- */

/* Reads (and watches: an exists watch fires on creation, change and
 * deletion) <root>/safemode/<id>. 1 present, 0 absent, -1 when it could not
 * be read (marked to be read again). */
int zk_read_safemode(struct zks *z, zhandle_t *zh, const char *id, uint64_t gen)
{
    int zrc = ZINVALIDSTATE;
    if (zh) {
        char path[1024];
        struct Stat st;
        zk_build_path(z, SAFEMODE_FOLDER, id, path, sizeof path);
        zrc = zoo_wexists(zh, path, zk_watcher, z, &st);
    }
    if (zrc == ZOK)
        return 1;
    if (zrc == ZNONODE)
        return 0;
    pthread_mutex_lock(&z->mu);
    if (z->sm_gen == gen) {
        z->sm_dirty = true;
        if (!conn_error(zrc)) {
            zk_keep_reason(z, "reading the safe mode of router %s failed: %s; retrying", id, zerror(zrc));
            z->retry_at_ns = mono_ns() + 500000000LL;
        }
    }
    pthread_mutex_unlock(&z->mu);
    return -1;
}

/* ---- direct operations ---- */

/* Takes the handle for one operation (hlock read-locked on success). */
zhandle_t *zk_take_handle(struct zks *z, char *err, size_t errlen)
{
    pthread_rwlock_rdlock(&z->hlock);
    if (!z->zh) {
        pthread_rwlock_unlock(&z->hlock);
        fr_errf(err, errlen, "no ZooKeeper session (%s)", z->hosts);
        return NULL;
    }
    return z->zh;
}

void zk_give_handle(struct zks *z)
{
    pthread_rwlock_unlock(&z->hlock);
}

int zks_get(struct zks *z, enum rec_kind kind, const char *key, struct record *out, int32_t *version, char *err,
            size_t errlen)
{
    char name[FR_PATH_MAX * 3 + 1], path[FR_PATH_MAX * 3 + 512];
    if ((unsigned)kind >= REC_NKINDS || zk_key_to_name(kind, key, name, sizeof name, err, errlen) < 0)
        return ZKS_INVALID;
    zk_build_path(z, folder_names[kind], name, path, sizeof path);
    zhandle_t *zh = zk_take_handle(z, err, errlen);
    if (!zh)
        return ZKS_NOCONN;
    char *data = NULL;
    int len = 0;
    struct Stat st;
    int zrc = zk_read_znode(z, zh, path, false, &data, &len, &st);
    zk_give_handle(z);
    if (zrc != ZOK) {
        int rc = zrc_to_rc(zrc);
        if (rc == ZKS_NOTFOUND)
            fr_errf(err, errlen, "no %s %s", rec_kind_name(kind), key);
        else
            fr_errf(err, errlen, "reading %s: %s", path, zerror(zrc));
        return rc == ZKS_CONFLICT ? ZKS_ERR : rc;
    }
    if (version)
        *version = st.version;
    char why[ZKS_REASON_LEN];
    int rc = ZKS_OK;
    if (zk_decode_record(kind, name, data, len, out, why, sizeof why) < 0) {
        fr_errf(err, errlen, "%s %s (znode %s, version %d) is not valid: %s", rec_kind_name(kind), key, path,
                st.version, why);
        rc = ZKS_INVALID;
    } else if (kind == REC_MOUNT) {
        out->u.mount.mtime_ms = (uint64_t)st.mtime;
    }
    free(data);
    return rc;
}

static void conflict_msg(struct zks *z, zhandle_t *zh, const char *path, enum rec_kind kind, const char *key,
                         int32_t expected, char *err, size_t errlen)
{
    struct Stat st;
    int rc = zoo_exists(zh, path, 0, &st);
    char exp[32];
    if (expected < 0)
        snprintf(exp, sizeof exp, "none");
    else
        snprintf(exp, sizeof exp, "%d", expected);
    if (rc == ZOK)
        fr_errf(err, errlen, "%s %s was changed by someone else (version %d, expected %s)", rec_kind_name(kind), key,
                st.version, exp);
    else
        fr_errf(err, errlen, "%s %s was changed by someone else (deleted, expected version %s)", rec_kind_name(kind),
                key, exp);
}

int zks_put(struct zks *z, const struct record *r, int32_t expected_version, int32_t *new_version, char *err,
            size_t errlen)
{
    char why[ZKS_REASON_LEN];
    if (!r || (unsigned)r->kind >= REC_NKINDS) {
        fr_errf(err, errlen, "no record");
        return ZKS_INVALID;
    }
    if (record_validate(r, why, sizeof why) < 0) {
        fr_errf(err, errlen, "%s %s: %s", rec_kind_name(r->kind), record_key(r), why);
        return ZKS_INVALID;
    }
    char name[FR_PATH_MAX * 3 + 1], path[FR_PATH_MAX * 3 + 512];
    if (zk_key_to_name(r->kind, record_key(r), name, sizeof name, err, errlen) < 0)
        return ZKS_INVALID;
    zk_build_path(z, folder_names[r->kind], name, path, sizeof path);

    size_t hl = strlen(ZKS_FORMAT_HEADER) + 1;
    size_t tl = record_format(r, true, NULL, 0);
    char *data = malloc(hl + tl + 1);
    if (!data) {
        fr_errf(err, errlen, "out of memory");
        return ZKS_ERR;
    }
    memcpy(data, ZKS_FORMAT_HEADER "\n", hl);
    record_format(r, true, data + hl, tl + 1);

    zhandle_t *zh = zk_take_handle(z, err, errlen);
    if (!zh) {
        free(data);
        return ZKS_NOCONN;
    }
    int zrc;
    struct Stat st;
    memset(&st, 0, sizeof st);
    if (expected_version < 0) {
        zrc = zoo_create2(zh, path, data, (int)(hl + tl), &z->v_rec, ZOO_PERSISTENT, NULL, 0, &st);
        if (zrc == ZNONODE) {
            zrc = zk_ensure_parents(z, zh, path, &z->v_rec);
            if (zrc == ZOK)
                zrc = zoo_create2(zh, path, data, (int)(hl + tl), &z->v_rec, ZOO_PERSISTENT, NULL, 0, &st);
        }
    } else {
        zrc = zoo_set2(zh, path, data, (int)(hl + tl), expected_version, &st);
    }
    free(data);
    int rc = zrc_to_rc(zrc);
    if (zrc == ZNONODE && expected_version >= 0)
        rc = ZKS_CONFLICT;
    if (rc == ZKS_CONFLICT)
        conflict_msg(z, zh, path, r->kind, record_key(r), expected_version, err, errlen);
    else if (rc != ZKS_OK)
        fr_errf(err, errlen, "writing %s: %s", path, zerror(zrc));
    else if (new_version)
        *new_version = st.version;
    zk_give_handle(z);
    return rc;
}

int zks_delete(struct zks *z, enum rec_kind kind, const char *key, int32_t expected_version, char *err,
               size_t errlen)
{
    char name[FR_PATH_MAX * 3 + 1], path[FR_PATH_MAX * 3 + 512];
    if ((unsigned)kind >= REC_NKINDS || zk_key_to_name(kind, key, name, sizeof name, err, errlen) < 0)
        return ZKS_INVALID;
    zk_build_path(z, folder_names[kind], name, path, sizeof path);
    zhandle_t *zh = zk_take_handle(z, err, errlen);
    if (!zh)
        return ZKS_NOCONN;
    int zrc = zoo_delete(zh, path, expected_version < 0 ? -1 : expected_version);
    int rc = zrc_to_rc(zrc);
    if (rc == ZKS_NOTFOUND)
        fr_errf(err, errlen, "no %s %s", rec_kind_name(kind), key);
    else if (rc == ZKS_CONFLICT)
        conflict_msg(z, zh, path, kind, key, expected_version, err, errlen);
    else if (rc != ZKS_OK)
        fr_errf(err, errlen, "deleting %s: %s", path, zerror(zrc));
    zk_give_handle(z);
    return rc;
}

int zks_register_router(struct zks *z, const struct zks_router *info, char *err, size_t errlen)
{
    if (!info || !name_valid(info->id)) {
        fr_errf(err, errlen, "not a valid router id: '%s'", info ? info->id : "");
        return ZKS_INVALID;
    }
    pthread_mutex_lock(&z->mu);
    if (!z->reg && !(z->reg = malloc(sizeof *z->reg))) {
        pthread_mutex_unlock(&z->mu);
        fr_errf(err, errlen, "out of memory");
        return ZKS_ERR;
    }
    *z->reg = *info;
    pthread_mutex_unlock(&z->mu);
    zhandle_t *zh = zk_take_handle(z, err, errlen);
    if (!zh)
        return ZKS_NOCONN; /* registered by the store thread once a session exists */
    int rc = zk_do_register(z, zh, info, err, errlen);
    zk_give_handle(z);
    return rc;
}

static int cmp_router(const void *a, const void *b)
{
    return strcmp(((const struct zks_router *)a)->id, ((const struct zks_router *)b)->id);
}

int zks_list_routers(struct zks *z, struct zks_router **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    char path[1024];
    zk_build_path(z, ROUTERS_FOLDER, NULL, path, sizeof path);
    zhandle_t *zh = zk_take_handle(z, err, errlen);
    if (!zh)
        return ZKS_NOCONN;
    struct String_vector kids = {0, NULL};
    int zrc = zoo_get_children(zh, path, 0, &kids);
    if (zrc == ZNONODE) {
        zk_give_handle(z);
        return ZKS_OK;
    }
    if (zrc != ZOK) {
        zk_give_handle(z);
        fr_errf(err, errlen, "listing %s: %s", path, zerror(zrc));
        return zrc_to_rc(zrc) == ZKS_CONFLICT ? ZKS_ERR : zrc_to_rc(zrc);
    }
    struct zks_router *v = calloc(kids.count ? (size_t)kids.count : 1, sizeof *v);
    if (!v) {
        deallocate_String_vector(&kids);
        zk_give_handle(z);
        fr_errf(err, errlen, "out of memory");
        return ZKS_ERR;
    }
    size_t k = 0;
    for (int32_t i = 0; i < kids.count; i++) {
        char p[1024];
        zk_build_path(z, ROUTERS_FOLDER, kids.data[i], p, sizeof p);
        char *data = NULL;
        int len = 0;
        struct Stat st;
        if (zk_read_znode(z, zh, p, false, &data, &len, &st) != ZOK)
            continue; /* gone meanwhile */
        snprintf(v[k].id, sizeof v[k].id, "%s", kids.data[i]);
        parse_router(data, &v[k]);
        free(data);
        k++;
    }
    deallocate_String_vector(&kids);
    zk_give_handle(z);
    qsort(v, k, sizeof *v, cmp_router);
    *out = v;
    *n = k;
    return ZKS_OK;
}

/* ---- safe mode (public) ---- */

static int safemode_path(struct zks *z, const char *router_id, char *path, size_t size, char *err, size_t errlen)
{
    if (!router_id || !name_valid(router_id)) {
        fr_errf(err, errlen, "not a valid router id: '%.80s'", router_id ? router_id : "");
        return -1;
    }
    zk_build_path(z, SAFEMODE_FOLDER, router_id, path, size);
    return 0;
}

int zks_safemode_set(struct zks *z, const char *router_id, bool on, char *err, size_t errlen)
{
    char path[1024];
    if (safemode_path(z, router_id, path, sizeof path, err, errlen) < 0)
        return ZKS_INVALID;
    zhandle_t *zh = zk_take_handle(z, err, errlen);
    if (!zh)
        return ZKS_NOCONN;
    int zrc;
    if (on) {
        char data[256];
        int len = snprintf(data, sizeof data, "%s\nrouter = %s\nsince_ms = %lld\n", SAFEMODE_HEADER, router_id,
                           (long long)wall_ms());
        zrc = zoo_create(zh, path, data, len, &z->v_rec, ZOO_PERSISTENT, NULL, 0);
        if (zrc == ZNONODE) {
            zrc = zk_ensure_parents(z, zh, path, &z->v_rec);
            if (zrc == ZOK)
                zrc = zoo_create(zh, path, data, len, &z->v_rec, ZOO_PERSISTENT, NULL, 0);
        }
        if (zrc == ZNODEEXISTS)
            zrc = ZOK; /* already in safe mode */
    } else {
        zrc = zoo_delete(zh, path, -1);
        if (zrc == ZNONODE)
            zrc = ZOK; /* already out of it */
    }
    zk_give_handle(z);
    if (zrc != ZOK) {
        fr_errf(err, errlen, "%s safe mode of router %s (%s): %s", on ? "entering" : "leaving", router_id, path,
                zerror(zrc));
        int rc = zrc_to_rc(zrc);
        return rc == ZKS_CONFLICT || rc == ZKS_NOTFOUND ? ZKS_ERR : rc;
    }
    return ZKS_OK;
}

int zks_safemode_get(struct zks *z, const char *router_id, bool *on, char *err, size_t errlen)
{
    char path[1024];
    if (safemode_path(z, router_id, path, sizeof path, err, errlen) < 0)
        return ZKS_INVALID;
    zhandle_t *zh = zk_take_handle(z, err, errlen);
    if (!zh)
        return ZKS_NOCONN;
    struct Stat st;
    int zrc = zoo_exists(zh, path, 0, &st);
    zk_give_handle(z);
    if (zrc == ZOK || zrc == ZNONODE) {
        *on = zrc == ZOK;
        return ZKS_OK;
    }
    fr_errf(err, errlen, "reading the safe mode of router %s (%s): %s", router_id, path, zerror(zrc));
    int rc = zrc_to_rc(zrc);
    return rc == ZKS_CONFLICT || rc == ZKS_NOTFOUND ? ZKS_ERR : rc;
}

int zks_watch_safemode(struct zks *z, const char *router_id, zks_safemode_fn fn, void *ctx)
{
    char *id = NULL;
    if (fn) {
        if (!router_id || !name_valid(router_id) || !(id = strdup(router_id)))
            return ZKS_INVALID;
    }
    pthread_mutex_lock(&z->mu);
    free(z->sm_id);
    z->sm_id = id;
    z->sm_fn = fn;
    z->sm_ctx = fn ? ctx : NULL;
    z->sm_gen++;
    z->sm_known = false;
    z->sm_dirty = fn != NULL;
    pthread_cond_broadcast(&z->cv);
    pthread_mutex_unlock(&z->mu);
    return ZKS_OK;
}
