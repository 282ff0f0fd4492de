/*
 * admin_mkdirs.c: -add creates the destination directories a new mount
 * entry points at, so that a mount point the router lists as a directory
 * also takes writes.
 *
 *   for each destination ns:/path of the entry
 *       getFileInfo(/path) on ns's NameNodes, in order (a standby answers
 *       StandbyException and the next one is asked)
 *         a directory      nothing to do
 *         a file           refused: the mount would point at a file
 *         absent           mkdirs(/path, createParent) then
 *                          setPermission(/path, mode) and, when the entry
 *                          names them, setOwner(/path, owner, group)
 *
 * One blocking Hadoop IPC connection per NameNode. A nameservice without a
 * principal gets SIMPLE authentication: the user is HADOOP_USER_NAME, else
 * the login name. One with a principal (nn/_HOST@REALM) gets Kerberos, as
 * `hdfs dfs` would after kinit: GSSAPI on the default credential cache
 * (KRB5CCNAME), the cache's principal as the user, and replies unwrapped
 * when the NameNode asks for integrity or privacy. Either way the NameNode
 * must let that user create the directory and, for setOwner, be its
 * superuser.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <krb5.h>

#include "ClientNamenodeProtocol.pb-c.h"
#include "admin.h"
#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "net.h"
#include "sasl_client.h"
#include "sasl_layer.h"

#define IO_TIMEOUT_S 10
#define MAX_REPLY (64u << 20)

struct nn_conn {
    int fd;
    int32_t next_call;
    uint8_t client_id[IPC_CLIENT_ID_LEN];
    struct buf in;                /* reply frames (plaintext) */
    struct buf wire;              /* with a SASL layer: bytes as they came */
    struct auth_ipc_client *sasl; /* Kerberos: the handshake, then its layer */
    unsigned ssf;                 /* 0: replies come plain */
    char user[512];               /* who the NameNode sees */
};

static const char *hdfs_user(void)
{
    const char *u = getenv("HADOOP_USER_NAME");
    if (u && *u)
        return u;
    struct passwd *pw = getpwuid(getuid());
    return pw ? pw->pw_name : "root";
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The default credential cache's principal (what klist shows first). */
static int ccache_principal(char *out, size_t outlen, char *why, size_t whylen)
{
    krb5_context kc = NULL;
    krb5_ccache cc = NULL;
    krb5_principal pr = NULL;
    char *name = NULL;
    krb5_error_code e = krb5_init_context(&kc);
    if (!e)
        e = krb5_cc_default(kc, &cc);
    if (!e)
        e = krb5_cc_get_principal(kc, cc, &pr);
    if (!e)
        e = krb5_unparse_name(kc, pr, &name);
    if (e) {
        const char *m = kc ? krb5_get_error_message(kc, e) : NULL;
        snprintf(why, whylen, "no Kerberos credentials (kinit first): %s", m ? m : "cannot start Kerberos");
        if (m)
            krb5_free_error_message(kc, m);
    } else {
        snprintf(out, outlen, "%s", name);
    }
    krb5_free_unparsed_name(kc, name);
    if (pr)
        krb5_free_principal(kc, pr);
    if (cc)
        krb5_cc_close(kc, cc);
    if (kc)
        krb5_free_context(kc);
    return e ? -1 : 0;
}

/* Reads more bytes into b. 0, or -1 with why. */
static int read_more(struct nn_conn *c, struct buf *b, const char *what, char *why, size_t whylen)
{
    if (buf_reserve(b, 65536) < 0) {
        snprintf(why, whylen, "%s: out of memory", what);
        return -1;
    }
    for (;;) {
        ssize_t n = recv(c->fd, buf_wptr(b), buf_room(b), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, whylen, "%s: %s", what, n == 0 ? "connection closed" : strerror(errno));
            return -1;
        }
        buf_commit(b, (size_t)n);
        return 0;
    }
}

static int nn_handshake(struct nn_conn *c, const char *principal, const char *host, const char *addr, char *why,
                        size_t whylen);

/* The Kerberos handshake (preamble, NEGOTIATE ... SUCCESS). 0 or -1. */
static int nn_kerberos(struct nn_conn *c, const char *principal, const char *host, const char *addr, char *why,
                       size_t whylen)
{
    if (ccache_principal(c->user, sizeof c->user, why, whylen) < 0)
        return -1;
    /* The router's info lines (a KDC round trip timed) are not for a CLI. */
    enum fr_log_level was = fr_log_get_level();
    if (was > FR_LOG_WARN)
        fr_log_set_level(FR_LOG_WARN);
    int rc = nn_handshake(c, principal, host, addr, why, whylen);
    fr_log_set_level(was);
    return rc;
}

static int nn_handshake(struct nn_conn *c, const char *principal, const char *host, const char *addr, char *why,
                        size_t whylen)
{
    if (!(c->sasl = auth_ipc_client_new(NULL, principal, host, why, whylen)))
        return -1;
    struct buf out = BUF_INIT;
    int rc = auth_ipc_client_begin(c->sasl, &out);
    for (;;) {
        if (rc < 0 || write_all(c->fd, buf_rptr(&out), buf_len(&out)) < 0) {
            if (rc >= 0)
                snprintf(why, whylen, "cannot write to %s", addr);
            break;
        }
        buf_reset(&out);
        const uint8_t *body;
        uint32_t blen;
        size_t flen;
        int fr = ipc_frame_cut(buf_rptr(&c->in), buf_len(&c->in), 1u << 20, &body, &blen, &flen);
        if (fr == IPC_AGAIN) {
            rc = read_more(c, &c->in, "Kerberos handshake", why, whylen);
            continue;
        }
        if (fr != IPC_OK) {
            snprintf(why, whylen, "Kerberos handshake: bad frame from %s", addr);
            rc = -1;
            break;
        }
        const char *cls = "";
        char msg[512] = "";
        enum auth_ipc_client_rc st = auth_ipc_client_frame(c->sasl, body, blen, &out, &cls, msg, sizeof msg);
        buf_consume(&c->in, flen);
        if (st == AUTH_IPC_CONTINUE)
            continue;
        if (st == AUTH_IPC_DONE) {
            c->ssf = auth_ipc_client_ssf(c->sasl);
            /* what came behind SUCCESS is already wrapped */
            if (c->ssf && buf_len(&c->in)) {
                rc = buf_append(&c->wire, buf_rptr(&c->in), buf_len(&c->in));
                buf_reset(&c->in);
            }
            break;
        }
        snprintf(why, whylen, "Kerberos handshake with %s %s: %s%s%s", addr,
                 st == AUTH_IPC_REFUSED ? "refused" : "failed", cls && *cls ? cls : "", cls && *cls ? ": " : "", msg);
        rc = -1;
        break;
    }
    buf_free(&out);
    return rc < 0 ? -1 : 0;
}

/* Connects to host:port, authenticates (principal: Kerberos, NULL:
 * SIMPLE) and sends the connection context. */
static int nn_open(const char *addr, const char *principal, struct nn_conn *c, char *why, size_t whylen)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || net_host_of(addr, host, sizeof host) < 0) {
        snprintf(why, whylen, "bad address %s", addr);
        return -1;
    }
    char *h = host;
    if (*h == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = 0;
        h++;
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    int grc = getaddrinfo(h, colon + 1, &hints, &res);
    if (grc) {
        snprintf(why, whylen, "%s: %s", addr, gai_strerror(grc));
        return -1;
    }
    int err = 0;
    for (struct addrinfo *a = res; a && c->fd < 0; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            c->fd = fd;
        else {
            err = errno;
            close(fd);
        }
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        snprintf(why, whylen, "cannot connect to %s: %s", addr, strerror(err ? err : ECONNREFUSED));
        return -1;
    }
    ipc_new_client_id(c->client_id);
    struct buf out = BUF_INIT;
    int rc;
    if (principal) {
        /* With Kerberos Hadoop's client names only the effective user, the
         * authenticated principal itself. */
        rc = nn_kerberos(c, principal, h, addr, why, whylen);
        if (rc == 0 && (ipc_write_context(&out, c->client_id, c->user, NULL, IPC_CLIENT_PROTOCOL) < 0 ||
                        write_all(c->fd, buf_rptr(&out), buf_len(&out)) < 0)) {
            snprintf(why, whylen, "cannot write to %s", addr);
            rc = -1;
        }
    } else {
        snprintf(c->user, sizeof c->user, "%s", hdfs_user());
        rc = ipc_write_preamble(&out, IPC_AUTH_NONE) < 0 ||
                     ipc_write_context(&out, c->client_id, c->user, NULL, IPC_CLIENT_PROTOCOL) < 0
                 ? -1
                 : write_all(c->fd, buf_rptr(&out), buf_len(&out));
        if (rc < 0)
            snprintf(why, whylen, "cannot write to %s", addr);
    }
    buf_free(&out);
    return rc;
}

static void nn_close(struct nn_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    buf_free(&c->in);
    buf_free(&c->wire);
    auth_ipc_client_free(c->sasl);
    c->sasl = NULL;
}

/* More reply bytes: plain, or unwrapped from the SASL layer's frames. */
static int nn_fill(struct nn_conn *c, const char *method, char *why, size_t whylen)
{
    if (!c->ssf)
        return read_more(c, &c->in, method, why, whylen);
    size_t before = buf_len(&c->in);
    while (buf_len(&c->in) == before) {
        char err[256];
        if (buf_len(&c->wire) && sasl_layer_unwrap(auth_ipc_client_layer(c->sasl), SASL_LAYER_CLIENT, &c->wire, &c->in,
                                                   MAX_REPLY, err, sizeof err) < 0) {
            snprintf(why, whylen, "%s: %s", method, err);
            return -1;
        }
        if (buf_len(&c->in) == before && read_more(c, &c->wire, method, why, whylen) < 0)
            return -1;
    }
    return 0;
}

/*
 * One call. 0 with *resp unpacked (caller frees; NULL when resp_desc is
 * NULL); 1 when the NameNode answered with an exception (its class in exc,
 * message in why); -1 when the connection failed (why says how).
 */
static int nn_call(struct nn_conn *c, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, char *exc, size_t exclen,
                   char *why, size_t whylen)
{
    struct ipc_ids ids = {
        .call_id = c->next_call++, .retry_count = 0, .client_id = c->client_id, .client_id_len = IPC_CLIENT_ID_LEN
    };
    struct buf out = BUF_INIT;
    if (ipc_write_call(&out, &ids, method, IPC_CLIENT_PROTOCOL, req) < 0 ||
        write_all(c->fd, buf_rptr(&out), buf_len(&out)) < 0) {
        buf_free(&out);
        snprintf(why, whylen, "%s: cannot send the call", method);
        return -1;
    }
    buf_free(&out);
    for (;;) {
        const uint8_t *body;
        uint32_t blen;
        size_t flen;
        int rc = ipc_frame_cut(buf_rptr(&c->in), buf_len(&c->in), MAX_REPLY, &body, &blen, &flen);
        if (rc == IPC_OK) {
            struct ipc_reply r;
            if (ipc_parse_reply(body, blen, &r) != IPC_OK) {
                snprintf(why, whylen, "%s: malformed reply", method);
                return -1;
            }
            if (r.call_id != ids.call_id) { /* not ours (e.g. a ping): skip it */
                buf_consume(&c->in, flen);
                continue;
            }
            int ret = 0;
            if (r.status != IPC_SUCCESS) {
                ipc_span_copy(r.exception_class, exc, exclen);
                ipc_span_copy(r.error_msg, why, whylen);
                ret = 1;
            } else if (resp_desc) {
                *resp = protobuf_c_message_unpack(resp_desc, NULL, r.payload.len, r.payload.p);
                if (!*resp) {
                    snprintf(why, whylen, "%s: malformed response", method);
                    ret = -1;
                }
            }
            buf_consume(&c->in, flen);
            return ret;
        }
        if (rc != IPC_AGAIN) {
            snprintf(why, whylen, "%s: bad reply frame", method);
            return -1;
        }
        if (nn_fill(c, method, why, whylen) < 0)
            return -1;
    }
}

static bool is_standby(const char *exc) { return strstr(exc, "StandbyException") != NULL; }

/* Looks the path up: 1 a directory, 0 absent, 2 something else (a file),
 * -1 failed, -2 standby NameNode (try the next). */
static int lookup(struct nn_conn *c, const char *path, char *why, size_t whylen)
{
    Hadoop__Hdfs__GetFileInfoRequestProto req = HADOOP__HDFS__GET_FILE_INFO_REQUEST_PROTO__INIT;
    req.src = (char *)path;
    ProtobufCMessage *resp = NULL;
    char exc[256] = "";
    int rc = nn_call(c, "getFileInfo", &req.base, &hadoop__hdfs__get_file_info_response_proto__descriptor, &resp, exc,
                     sizeof exc, why, whylen);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return is_standby(exc) ? -2 : -1;
    Hadoop__Hdfs__GetFileInfoResponseProto *r = (Hadoop__Hdfs__GetFileInfoResponseProto *)resp;
    int ret = !r->fs ? 0 : r->fs->filetype == HADOOP__HDFS__HDFS_FILE_STATUS_PROTO__FILE_TYPE__IS_DIR ? 1 : 2;
    protobuf_c_message_free_unpacked(resp, NULL);
    return ret;
}

/* mkdirs, setPermission, setOwner. 0 or -1 with why. */
static int make_dir(struct nn_conn *c, const char *path, const struct mount_rec *m, char *why, size_t whylen)
{
    char exc[256] = "";
    Hadoop__Hdfs__FsPermissionProto perm = HADOOP__HDFS__FS_PERMISSION_PROTO__INIT;
    perm.perm = m->mode;
    Hadoop__Hdfs__MkdirsRequestProto mk = HADOOP__HDFS__MKDIRS_REQUEST_PROTO__INIT;
    mk.src = (char *)path;
    mk.masked = &perm;
    mk.createparent = 1;
    ProtobufCMessage *resp = NULL;
    int rc = nn_call(c, "mkdirs", &mk.base, &hadoop__hdfs__mkdirs_response_proto__descriptor, &resp, exc, sizeof exc,
                     why, whylen);
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (rc != 0)
        return -1;
    /* mkdirs applies the NameNode's umask: set the mode exactly */
    Hadoop__Hdfs__SetPermissionRequestProto sp = HADOOP__HDFS__SET_PERMISSION_REQUEST_PROTO__INIT;
    sp.src = (char *)path;
    sp.permission = &perm;
    if (nn_call(c, "setPermission", &sp.base, NULL, NULL, exc, sizeof exc, why, whylen) != 0)
        return -1;
    if (*m->owner || *m->group) {
        Hadoop__Hdfs__SetOwnerRequestProto so = HADOOP__HDFS__SET_OWNER_REQUEST_PROTO__INIT;
        so.src = (char *)path;
        so.username = *m->owner ? m->owner : NULL;
        so.groupname = *m->group ? m->group : NULL;
        if (nn_call(c, "setOwner", &so.base, NULL, NULL, exc, sizeof exc, why, whylen) != 0)
            return -1;
    }
    return 0;
}

/* One destination: 1 created (by `user`), 0 already there, -1 failed
 * (said why). */
static int ensure_dest(const struct ns_rec *ns, const char *path, const struct mount_rec *m, char *user, size_t userlen)
{
    char why[512] = "no NameNode answered";
    for (size_t k = 0; k < ns->nnamenodes; k++) {
        struct nn_conn c;
        if (nn_open(ns->namenodes[k], ns->principal, &c, why, sizeof why) < 0) {
            nn_close(&c);
            continue;
        }
        int st = lookup(&c, path, why, sizeof why);
        if (st == -2 || st == -1) {
            nn_close(&c);
            if (st == -2)
                continue; /* a standby: the next NameNode */
            break;
        }
        int ret = 0;
        if (st == 2) {
            snprintf(why, sizeof why, "it exists and is not a directory");
            ret = -1;
        } else if (st == 0) {
            ret = make_dir(&c, path, m, why, sizeof why) < 0 ? -1 : 1;
            snprintf(user, userlen, "%s", c.user);
        }
        nn_close(&c);
        if (ret >= 0)
            return ret;
        break;
    }
    fprintf(stderr, "%s: cannot create %s:%s for mount point %s: %s (nothing written; -noCreate skips this)\n", prog,
            ns->name, path, m->src, why);
    return -1;
}

int mkdirs_for_mount(const struct mount_rec *m, const struct record_set *set)
{
    for (size_t d = 0; d < m->ndests; d++) {
        const struct record *r = recset_find(set, REC_NAMESERVICE, m->dests[d].ns);
        if (!r) {
            fprintf(stderr, "%s: unknown nameservice %s\n", prog, m->dests[d].ns);
            return EXIT_FAILED;
        }
        char created_by[512] = "";
        int rc = ensure_dest(&r->u.ns, m->dests[d].path, m, created_by, sizeof created_by);
        if (rc < 0)
            return EXIT_FAILED;
        if (rc > 0) {
            printf("Created %s:%s (owner %s%s%s, mode %04o)\n", m->dests[d].ns, m->dests[d].path,
                   *m->owner ? m->owner : created_by, *m->group ? ", group " : "", m->group, m->mode);
        }
    }
    return 0;
}
