/*
 * datanode.c: see datanode.h. The listening socket, the accept thread, one
 * thread per connection (at most DN_MAX_CONNS; more are refused), and the op
 * dispatch: 2-byte version (28), 1-byte opcode, varint-delimited op message
 * (≤ 64 KiB). A bad header or message ends that connection with a log line
 * (and an error reply where one can be framed); others carry on. A
 * connection may carry further ops after a read (the client said
 * CHECKSUM_OK) or a block checksum, if they come within DN_KEEPALIVE_MS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "datanode_internal.h"

struct conn_arg {
    struct datanode *dn;
    int slot;
    int fd;
};

static const char *op_name(int op)
{
    switch (op) {
    case DN_OP_READ_METADATA: return "READ_METADATA";
    case DN_OP_REPLACE_BLOCK: return "REPLACE_BLOCK";
    case DN_OP_COPY_BLOCK: return "COPY_BLOCK";
    case DN_OP_TRANSFER_BLOCK: return "TRANSFER_BLOCK";
    case DN_OP_REQUEST_SHORT_CIRCUIT_FDS: return "REQUEST_SHORT_CIRCUIT_FDS";
    case DN_OP_RELEASE_SHORT_CIRCUIT_FDS: return "RELEASE_SHORT_CIRCUIT_FDS";
    case DN_OP_REQUEST_SHORT_CIRCUIT_SHM: return "REQUEST_SHORT_CIRCUIT_SHM";
    case DN_OP_BLOCK_GROUP_CHECKSUM: return "BLOCK_GROUP_CHECKSUM";
    case DN_OP_CUSTOM: return "CUSTOM";
    default: return "unknown";
    }
}

/* Serves one op; 0 when the connection may carry another. */
static int serve_op(struct datanode *dn, int fd)
{
    uint8_t hdr[3];
    if (dnode_read_full(fd, hdr, 1) < 0)
        return -1; /* closed between ops: the normal end */
    if (dnode_read_full(fd, hdr + 1, 2) < 0) {
        dnode_log("connection closed inside an op header");
        return -1;
    }
    int version = hdr[0] << 8 | hdr[1];
    if (version != DN_XFER_VERSION) {
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR, "Version Mismatch (Expected: %d, Received: %d )",
                          DN_XFER_VERSION, version);
        return -1;
    }
    size_t len = 0;
    bool eof;
    uint8_t *msg = dnode_read_delimited(fd, DN_MAX_OP_MSG, &len, &eof);
    if (!msg) {
        dnode_log("op %d: truncated or oversized op message, closing", hdr[2]);
        return -1;
    }
    int keep = -1;
    switch (hdr[2]) {
    case DN_OP_WRITE_BLOCK:
        keep = dnode_op_write(dn, fd, msg, len);
        break;
    case DN_OP_READ_BLOCK:
        keep = dnode_op_read(dn, fd, msg, len);
        break;
    case DN_OP_BLOCK_CHECKSUM:
        keep = dnode_op_checksum(dn, fd, msg, len);
        break;
    default:
        dnode_send_status(fd, HADOOP__HDFS__STATUS__ERROR_UNSUPPORTED, "op %d (%s) is not supported by this DataNode",
                          hdr[2], op_name(hdr[2]));
        break;
    }
    free(msg);
    return keep;
}

static void *conn_main(void *p)
{
    struct conn_arg *a = p;
    struct datanode *dn = a->dn;
    int fd = a->fd;
    for (int n = 0; !atomic_load(&dn->stopping); n++) {
        if (n > 0 && dnode_wait_readable(fd, DN_KEEPALIVE_MS) != 1)
            break;
        if (serve_op(dn, fd) < 0)
            break;
    }
    pthread_mutex_lock(&dn->lock);
    close(fd);
    dn->slots[a->slot].fd = -1;
    dn->slots[a->slot].state = DN_SLOT_DONE;
    pthread_mutex_unlock(&dn->lock);
    free(a);
    return NULL;
}

/* Joins the connection threads that have ended; needs the lock. */
static void reap_locked(struct datanode *dn)
{
    for (int i = 0; i < DN_MAX_CONNS; i++)
        if (dn->slots[i].state == DN_SLOT_DONE) {
            pthread_join(dn->slots[i].tid, NULL);
            dn->slots[i].state = DN_SLOT_FREE;
        }
}

static void start_conn(struct datanode *dn, int fd)
{
    int one = 1;
    struct timeval tv = { DN_IO_TIMEOUT_S, 0 };
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    pthread_mutex_lock(&dn->lock);
    reap_locked(dn);
    int slot = -1;
    for (int i = 0; i < DN_MAX_CONNS && slot < 0; i++)
        if (dn->slots[i].state == DN_SLOT_FREE)
            slot = i;
    struct conn_arg *a = slot >= 0 ? malloc(sizeof *a) : NULL;
    if (a) {
        *a = (struct conn_arg){ dn, slot, fd };
        dn->slots[slot].state = DN_SLOT_RUNNING;
        dn->slots[slot].fd = fd;
        if (pthread_create(&dn->slots[slot].tid, NULL, conn_main, a) != 0) {
            dn->slots[slot].state = DN_SLOT_FREE;
            dn->slots[slot].fd = -1;
            free(a);
            a = NULL;
        }
    }
    pthread_mutex_unlock(&dn->lock);
    if (!a) {
        dnode_log("%s, refusing a connection", slot < 0 ? "too many connections" : "cannot start a thread");
        close(fd);
    }
}

static void *accept_main(void *p)
{
    struct datanode *dn = p;
    while (!atomic_load(&dn->stopping)) {
        int fd = accept4(dn->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (atomic_load(&dn->stopping))
                break;
            if (errno != EINTR && errno != ECONNABORTED)
                usleep(errno == EMFILE || errno == ENFILE ? 50000 : 10000);
            continue;
        }
        if (atomic_load(&dn->stopping)) {
            close(fd);
            break;
        }
        start_conn(dn, fd);
    }
    return NULL;
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -1;
            if (!c)
                break;
            *p = c;
        }
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int listen_on(struct datanode *dn, const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int gai = getaddrinfo(host, ps, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int one = 1, fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    dn->port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&sa)->sin_port);
    dn->lfd = fd;
    return 0;
}

static void free_dn(struct datanode *dn)
{
    if (dn->buckets)
        dnode_table_free(dn);
    pthread_mutex_destroy(&dn->lock);
    free(dn->dir);
    free(dn->bpid);
    free(dn->uuid);
    free(dn);
}

struct datanode *datanode_start(const struct datanode_config *cfg, char *err, size_t errlen)
{
    if (!cfg || !cfg->host || !cfg->data_dir || !cfg->block_pool_id || cfg->port < 0 || cfg->port > 65535) {
        snprintf(err, errlen, "incomplete DataNode configuration");
        return NULL;
    }
    if (make_dirs(cfg->data_dir) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", cfg->data_dir, strerror(errno));
        return NULL;
    }
    struct datanode *dn = calloc(1, sizeof *dn);
    if (!dn) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&dn->lock, NULL);
    dn->lfd = -1;
    for (int i = 0; i < DN_MAX_CONNS; i++)
        dn->slots[i] = (struct dn_slot){ DN_SLOT_FREE, -1, 0 };
    dn->dir = strdup(cfg->data_dir);
    dn->capacity = cfg->capacity;
    dn->bpid = strdup(cfg->block_pool_id);
    dn->uuid = strdup(cfg->datanode_uuid ? cfg->datanode_uuid : "");
    if (!dn->dir || !dn->bpid || !dn->uuid || dnode_table_init(dn) < 0) {
        snprintf(err, errlen, "out of memory");
        free_dn(dn);
        return NULL;
    }
    if (dnode_scan_dir(dn, err, errlen) < 0 || listen_on(dn, cfg->host, cfg->port, err, errlen) < 0) {
        free_dn(dn);
        return NULL;
    }
    if (pthread_create(&dn->acceptor, NULL, accept_main, dn) != 0) {
        snprintf(err, errlen, "cannot start the accept thread");
        close(dn->lfd);
        free_dn(dn);
        return NULL;
    }
    return dn;
}

int datanode_port(const struct datanode *dn)
{
    return dn->port;
}

void datanode_stop(struct datanode *dn)
{
    if (!dn)
        return;
    atomic_store(&dn->stopping, true);
    shutdown(dn->lfd, SHUT_RDWR); /* wakes accept() */
    pthread_join(dn->acceptor, NULL);
    close(dn->lfd);
    pthread_t tids[DN_MAX_CONNS];
    int n = 0;
    pthread_mutex_lock(&dn->lock);
    for (int i = 0; i < DN_MAX_CONNS; i++) {
        if (dn->slots[i].state == DN_SLOT_RUNNING)
            shutdown(dn->slots[i].fd, SHUT_RDWR); /* wakes its reads, fails its writes */
        if (dn->slots[i].state != DN_SLOT_FREE)
            tids[n++] = dn->slots[i].tid;
    }
    pthread_mutex_unlock(&dn->lock);
    for (int i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
    free_dn(dn);
}
