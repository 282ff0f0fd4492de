/* zk_table.c: the whole-table operations of fedrouter-admin (see
 * zkstore.h): the znodes as last read with their versions, a list of
 * changes written as ZooKeeper multi-op transactions, and the refresh
 * request every router watches. */
#include <stdlib.h>

#include "zkstore_int.h"

/* ---- the znodes as last read ---- */

int zks_entries(struct zks *z, struct zks_entry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&z->mu);
    size_t total = 0;
    for (int k = 0; k < REC_NKINDS; k++)
        total += z->tab[k].n;
    struct zks_entry *v = calloc(total ? total : 1, sizeof *v);
    if (!v) {
        pthread_mutex_unlock(&z->mu);
        return ZKS_ERR;
    }
    size_t m = 0;
    for (int k = 0; k < REC_NKINDS; k++) {
        const struct table *t = &z->tab[k];
        for (size_t i = 0; i < t->n; i++) {
            struct zks_entry *e = &v[m];
            e->kind = (enum rec_kind)k;
            e->version = t->v[i].version;
            e->valid = t->v[i].valid && !t->v[i].bad;
            char key[FR_PATH_MAX + 1];
            if (k == REC_MOUNT && zks_decode_name(t->v[i].name, key, sizeof key) < 0)
                continue; /* a name no mount path encodes to: not ours to touch */
            if (!(e->key = strdup(k == REC_MOUNT ? key : t->v[i].name)))
                break;
            m++;
        }
    }
    pthread_mutex_unlock(&z->mu);
    *out = v;
    *n = m;
    return ZKS_OK;
}

void zks_entries_free(struct zks_entry *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].key);
    free(v);
}

/* ---- transactions ---- */

/* Bytes one operation adds to a multi request: its path, its data and a
 * generous allowance for the op header, ACL and version fields. */
static size_t op_cost(size_t pathlen, size_t datalen)
{
    return pathlen + datalen + 256;
}

struct prepared {
    char *path;
    char *data;                 /* PUT: header + canonical text */
    int len;
};

static void prepared_free(struct prepared *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].path);
        free(p[i].data);
    }
    free(p);
}

static int prepare(struct zks *z, const struct zks_op *op, struct prepared *p, char *err, size_t errlen)
{
    enum rec_kind kind = op->op == ZKS_OP_PUT ? op->rec->kind : op->kind;
    const char *key = op->op == ZKS_OP_PUT ? record_key(op->rec) : op->key;
    char why[ZKS_REASON_LEN];
    if ((unsigned)kind >= REC_NKINDS) {
        fr_errf(err, errlen, "bad record kind");
        return ZKS_INVALID;
    }
    if (op->op == ZKS_OP_PUT && record_validate(op->rec, why, sizeof why) < 0) {
        fr_errf(err, errlen, "%s %s: %s", rec_kind_name(kind), key, why);
        return ZKS_INVALID;
    }
    char name[FR_PATH_MAX * 3 + 1];
    size_t psz = FR_PATH_MAX * 3 + 512;
    if (zk_key_to_name(kind, key, name, sizeof name, err, errlen) < 0)
        return ZKS_INVALID;
    if (!(p->path = malloc(psz)))
        goto nomem;
    zk_build_path(z, folder_names[kind], name, p->path, psz);
    if (op->op == ZKS_OP_PUT) {
        size_t hl = strlen(ZKS_FORMAT_HEADER) + 1, tl = record_format(op->rec, true, NULL, 0);
        if (!(p->data = malloc(hl + tl + 1)))
            goto nomem;
        memcpy(p->data, ZKS_FORMAT_HEADER "\n", hl);
        record_format(op->rec, true, p->data + hl, tl + 1);
        p->len = (int)(hl + tl);
    }
    return ZKS_OK;
nomem:
    fr_errf(err, errlen, "out of memory");
    return ZKS_ERR;
}

/* Runs ops [from, to) as one multi. A ZooKeeper code; *failed is the
 * index of the operation that made it fail. */
static int run_multi(zhandle_t *zh, struct zks *z, const struct zks_op *ops, const struct prepared *p, size_t from,
                     size_t to, size_t *failed)
{
    size_t n = to - from;
    zoo_op_t *zo = calloc(n, sizeof *zo);
    zoo_op_result_t *res = calloc(n, sizeof *res);
    char(*made)[8] = calloc(n, sizeof *made);
    if (!zo || !res || !made) {
        free(zo);
        free(res);
        free(made);
        return ZSYSTEMERROR;
    }
    for (size_t i = 0; i < n; i++) {
        const struct zks_op *o = &ops[from + i];
        const struct prepared *q = &p[from + i];
        if (o->op == ZKS_OP_DELETE)
            zoo_delete_op_init(&zo[i], q->path, o->version);
        else if (o->version < 0)
            zoo_create_op_init(&zo[i], q->path, q->data, q->len, &z->v_rec, ZOO_PERSISTENT, made[i], sizeof made[i]);
        else
            zoo_set_op_init(&zo[i], q->path, q->data, q->len, o->version, NULL);
    }
    int rc = zoo_multi(zh, (int)n, zo, res);
    *failed = from;
    if (rc != ZOK)
        for (size_t i = 0; i < n; i++)
            if (res[i].err != ZOK && res[i].err != ZRUNTIMEINCONSISTENCY) {
                *failed = from + i;
                break;
            }
    free(zo);
    free(res);
    free(made);
    return rc;
}

int zks_apply(struct zks *z, const struct zks_op *ops, size_t n, size_t max_bytes, size_t *ntx, char *err,
              size_t errlen)
{
    if (ntx)
        *ntx = 0;
    if (!n)
        return ZKS_OK;
    if (!max_bytes)
        max_bytes = ZKS_MULTI_MAX_BYTES;
    struct prepared *p = calloc(n, sizeof *p);
    if (!p) {
        fr_errf(err, errlen, "out of memory");
        return ZKS_ERR;
    }
    int rc = ZKS_OK;
    for (size_t i = 0; i < n && rc == ZKS_OK; i++)
        rc = prepare(z, &ops[i], &p[i], err, errlen);
    if (rc != ZKS_OK) {
        prepared_free(p, n);
        return rc;
    }
    zhandle_t *zh = zk_take_handle(z, err, errlen);
    if (!zh) {
        prepared_free(p, n);
        return ZKS_NOCONN;
    }
    /* The folders first: a create inside a multi needs its parent. They are
     * plain containers, so making them outside the transaction changes no
     * router's table. */
    for (int k = 0; k < REC_NKINDS && rc == ZKS_OK; k++) {
        char path[1024];
        zk_build_path(z, folder_names[k], "x", path, sizeof path);
        int zrc = zk_ensure_parents(z, zh, path, &z->v_rec);
        if (zrc != ZOK) {
            fr_errf(err, errlen, "creating the folders below %s: %s", z->root[0] ? z->root : "/", zerror(zrc));
            rc = zrc_to_rc(zrc) == ZKS_NOCONN ? ZKS_NOCONN : ZKS_ERR;
        }
    }
    size_t from = 0;
    while (rc == ZKS_OK && from < n) {
        size_t to = from, bytes = 0;
        while (to < n) {
            size_t c = op_cost(strlen(p[to].path), (size_t)p[to].len);
            if (to > from && bytes + c > max_bytes)
                break;
            bytes += c;
            to++;
        }
        size_t failed = from;
        int zrc = run_multi(zh, z, ops, p, from, to, &failed);
        if (zrc != ZOK) {
            const struct zks_op *o = &ops[failed];
            const char *key = o->op == ZKS_OP_PUT ? record_key(o->rec) : o->key;
            enum rec_kind kind = o->op == ZKS_OP_PUT ? o->rec->kind : o->kind;
            rc = zrc_to_rc(zrc);
            if (zrc == ZNONODE && (o->op == ZKS_OP_DELETE || o->version >= 0))
                rc = ZKS_CONFLICT;
            if (rc == ZKS_CONFLICT || rc == ZKS_NOTFOUND) {
                rc = ZKS_CONFLICT;
                fr_errf(err, errlen, "%s %s was changed by someone else (transaction %zu: nothing of it written)",
                        rec_kind_name(kind), key, (ntx ? *ntx : 0) + 1);
            } else {
                fr_errf(err, errlen, "transaction %zu (%s %s...): %s", (ntx ? *ntx : 0) + 1, rec_kind_name(kind),
                        key, zerror(zrc));
            }
            break;
        }
        if (ntx)
            (*ntx)++;
        from = to;
    }
    zk_give_handle(z);
    prepared_free(p, n);
    return rc;
}

/* ---- refresh ---- */

int zks_refresh(struct zks *z, uint64_t *mzxid, char *err, size_t errlen)
{
    char path[1024], data[128];
    zk_build_path(z, REFRESH_ZNODE, NULL, path, sizeof path);
    int len = snprintf(data, sizeof data, "%s\nat_ms = %lld\n", REFRESH_HEADER, (long long)wall_ms());
    zhandle_t *zh = zk_take_handle(z, err, errlen);
    if (!zh)
        return ZKS_NOCONN;
    struct Stat st;
    memset(&st, 0, sizeof st);
    int zrc = zoo_set2(zh, path, data, len, -1, &st);
    if (zrc == ZNONODE) {
        zrc = zoo_create2(zh, path, data, len, &z->v_rec, ZOO_PERSISTENT, NULL, 0, &st);
        if (zrc == ZNONODE) {
            zrc = zk_ensure_parents(z, zh, path, &z->v_rec);
            if (zrc == ZOK)
                zrc = zoo_create2(zh, path, data, len, &z->v_rec, ZOO_PERSISTENT, NULL, 0, &st);
        }
        if (zrc == ZNODEEXISTS) /* another admin created it meanwhile */
            zrc = zoo_set2(zh, path, data, len, -1, &st);
    }
    zk_give_handle(z);
    if (zrc != ZOK) {
        fr_errf(err, errlen, "writing %s: %s", path, zerror(zrc));
        int rc = zrc_to_rc(zrc);
        return rc == ZKS_CONFLICT || rc == ZKS_NOTFOUND ? ZKS_ERR : rc;
    }
    if (mzxid)
        *mzxid = (uint64_t)st.mzxid;
    return ZKS_OK;
}
