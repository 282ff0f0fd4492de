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
 * One blocking Hadoop IPC connection per NameNode (SIMPLE authentication:
 * the user is HADOOP_USER_NAME, else the login name; the NameNode must let
 * that user create the directory and, for setOwner, be its superuser).
 * Kerberos-secured NameNodes are not reached from here: use -noCreate and
 * create the directories with the cluster's own tools.
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

#include "ClientNamenodeProtocol.pb-c.h"
#include "admin.h"
#include "buf.h"
#include "ipc.h"

#define IO_TIMEOUT_S 10
#define MAX_REPLY (64u << 20)

struct nn_conn {
    int fd;
    int32_t next_call;
    uint8_t client_id[IPC_CLIENT_ID_LEN];
    struct buf in;
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

/* Connects to host:port and sends the preamble and connection context. */
static int nn_open(const char *addr, struct nn_conn *c, char *why, size_t whylen)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host) {
        snprintf(why, whylen, "bad address %s", addr);
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    char *h = host;
    if (*h == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = 0;
        h++;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
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
        struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
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
    int rc = ipc_write_preamble(&out, IPC_AUTH_NONE) < 0 ||
                     ipc_write_context(&out, c->client_id, hdfs_user(), NULL, IPC_CLIENT_PROTOCOL) < 0
                 ? -1
                 : write_all(c->fd, buf_rptr(&out), buf_len(&out));
    buf_free(&out);
    if (rc < 0) {
        snprintf(why, whylen, "cannot write to %s", addr);
        close(c->fd);
        c->fd = -1;
    }
    return rc;
}

static void nn_close(struct nn_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    buf_free(&c->in);
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
    struct ipc_ids ids = {.call_id = c->next_call++, .retry_count = 0, .client_id = c->client_id,
                          .client_id_len = IPC_CLIENT_ID_LEN};
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
        if (rc != IPC_AGAIN || buf_reserve(&c->in, 65536) < 0) {
            snprintf(why, whylen, "%s: bad reply frame", method);
            return -1;
        }
        ssize_t n = recv(c->fd, buf_wptr(&c->in), buf_room(&c->in), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, whylen, "%s: %s", method, n == 0 ? "connection closed" : strerror(errno));
            return -1;
        }
        buf_commit(&c->in, (size_t)n);
    }
}

static bool is_standby(const char *exc)
{
    return strstr(exc, "StandbyException") != NULL;
}

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

/* One destination: 1 created, 0 already there, -1 failed (said why). */
static int ensure_dest(const struct ns_rec *ns, const char *path, const struct mount_rec *m)
{
    char why[512] = "no NameNode answered";
    for (size_t k = 0; k < ns->nnamenodes; k++) {
        struct nn_conn c;
        if (nn_open(ns->namenodes[k], &c, why, sizeof why) < 0)
            continue;
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
        int rc = ensure_dest(&r->u.ns, m->dests[d].path, m);
        if (rc < 0)
            return EXIT_FAILED;
        if (rc > 0) {
            printf("Created %s:%s (owner %s%s%s, mode %04o)\n", m->dests[d].ns, m->dests[d].path,
                   *m->owner ? m->owner : hdfs_user(), *m->group ? ", group " : "", m->group, m->mode);
        }
    }
    return 0;
}
