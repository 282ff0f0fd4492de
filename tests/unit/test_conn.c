/*
 * The connection layer against real sockets: plaintext in place (no copy),
 * a transport that frames and scrambles each message, message order and
 * boundaries, close reasons, reference counts, close-after-flush, outgoing
 * connects (refused and accepted), per-state counts, the listener
 * pausing instead of spinning when the process runs out of descriptors and
 * its spare descriptor, the memory an idle or trickling connection keeps,
 * the handshake and idle timers, and writes held until the reads of the same
 * loop pass are done.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "net.h"

static int failures;
#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                   \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

struct peer {
    struct conn c;
    int inputs, closes, frees, connected;
    char reason[128];
    bool close_on_input; /* closes itself from inside on_input, then keeps using c */
    bool echo;
    bool hold; /* leaves its input alone and stops reading */
    bool busy; /* says it has calls in flight */
};

static void p_input(struct conn *c)
{
    struct peer *p = c->owner;
    p->inputs++;
    struct buf *in = conn_in(c);
    if (p->close_on_input) {
        conn_ref(c);
        conn_close(c, "closed by the test");
        /* c and its input are still valid while the reference is held */
        CHECK(conn_closed(c));
        CHECK(buf_len(in) > 0);
        CHECK(p->frees == 0);
        conn_unref(c);
        return;
    }
    if (p->hold) {
        conn_want_read(c, false);
        return;
    }
    if (p->echo) {
        /* each input byte run goes back as one message */
        buf_append(conn_out(c), buf_rptr(in), buf_len(in));
        conn_out_end(c);
        buf_consume(in, buf_len(in));
    }
}

static void p_close(struct conn *c, const char *reason)
{
    struct peer *p = c->owner;
    p->closes++;
    snprintf(p->reason, sizeof p->reason, "%s", reason ? reason : "(orderly)");
}

static void p_free(struct conn *c)
{
    struct peer *p = c->owner;
    p->frees++;
}

static void p_connected(struct conn *c)
{
    struct peer *p = c->owner;
    p->connected++;
}

static bool p_busy(struct conn *c)
{
    struct peer *p = c->owner;
    return p->busy;
}

static const struct conn_ops ops = {
    .on_input = p_input, .on_close = p_close, .on_free = p_free, .on_connected = p_connected, .busy = p_busy
};

static void stop_loop(struct ev_loop *loop, ev_timer *t, int revents) { ev_break(loop, EVBREAK_ONE); }

static void run_for(struct ev_loop *loop, double s)
{
    ev_timer t;
    ev_timer_init(&t, stop_loop, s, 0);
    ev_timer_start(loop, &t);
    ev_run(loop, 0);
    ev_timer_stop(loop, &t);
}

static void nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static size_t read_all(int fd, uint8_t *out, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, out + got, cap - got, MSG_DONTWAIT);
        if (n <= 0)
            return got;
        got += (size_t)n;
    }
}

/* ---- a test transport: each unit is be32 length + bytes XOR 0x5a ---- */
static int encodes;
static enum xprt_status t_decode(struct conn *c, void *ctx, struct buf *wire, struct buf *plain)
{
    while (buf_len(wire) >= 4) {
        const uint8_t *p = buf_rptr(wire);
        uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (n > 1u << 20)
            return XPRT_ERROR;
        if (buf_len(wire) < 4 + (size_t)n)
            break;
        if (buf_reserve(plain, n) < 0)
            return XPRT_NOMEM;
        for (uint32_t i = 0; i < n; i++)
            buf_wptr(plain)[i] = p[4 + i] ^ 0x5a;
        buf_commit(plain, n);
        buf_consume(wire, 4 + (size_t)n);
    }
    return XPRT_OK;
}

static enum xprt_status t_encode(struct conn *c, void *ctx, const uint8_t *msg, size_t n, struct buf *wire)
{
    encodes++;
    uint8_t h[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
    if (buf_append(wire, h, 4) < 0 || buf_reserve(wire, n) < 0)
        return XPRT_NOMEM;
    for (size_t i = 0; i < n; i++)
        buf_wptr(wire)[i] = msg[i] ^ 0x5a;
    buf_commit(wire, n);
    return XPRT_OK;
}

static int destroyed;
static void t_destroy(void *ctx) { destroyed++; }

static const struct xprt_ops scramble = { "scramble", t_decode, t_encode, NULL, NULL, t_destroy };

static void unit(int fd, const char *s)
{
    size_t n = strlen(s);
    uint8_t b[256] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
    for (size_t i = 0; i < n; i++)
        b[4 + i] = (uint8_t)s[i] ^ 0x5a;
    CHECK(write(fd, b, 4 + n) == (ssize_t)(4 + n));
}

static void test_plain_and_transport(struct ev_loop *loop)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblock(sv[0]);
    struct conn_counts counts = { { 0 } };
    struct peer p = { .echo = true };
    conn_accepted(&p.c, loop, sv[0], &ops, &p, &counts);
    CHECK(counts.n[CONN_OPEN] == 1);
    /* plaintext: the parser reads the wire buffer itself, replies are the wire */
    CHECK(conn_in(&p.c) == &p.c.wire_in);
    CHECK(conn_out(&p.c) == &p.c.wire_out);
    CHECK(write(sv[1], "hello", 5) == 5);
    run_for(loop, 0.05);
    uint8_t got[512];
    size_t n = read_all(sv[1], got, sizeof got);
    CHECK(n == 5 && memcmp(got, "hello", 5) == 0);

    /* a transport: input is decoded before the protocol sees it, and each
     * reply message is encoded on its own, in order */
    CHECK(conn_set_xprt(&p.c, &scramble, NULL) == 0);
    p.echo = false;
    unit(sv[1], "abc");
    unit(sv[1], "defg");
    run_for(loop, 0.05);
    CHECK(buf_len(conn_in(&p.c)) == 7 && memcmp(buf_rptr(conn_in(&p.c)), "abcdefg", 7) == 0);
    buf_consume(conn_in(&p.c), 7);
    encodes = 0;
    buf_append(conn_out(&p.c), "one", 3);
    conn_out_end(&p.c);
    buf_append(conn_out(&p.c), "second", 6);
    conn_out_end(&p.c);
    CHECK(conn_out_pending(&p.c) == 9);
    conn_flush(&p.c);
    CHECK(encodes == 2);
    n = read_all(sv[1], got, sizeof got);
    CHECK(n == 4 + 3 + 4 + 6);
    CHECK(got[3] == 3 && (got[4] ^ 0x5a) == 'o' && got[10] == 6 && (got[11] ^ 0x5a) == 's');

    /* garbage under the transport closes with a reason */
    uint8_t bad[4] = { 0xff, 0xff, 0xff, 0xff };
    CHECK(write(sv[1], bad, 4) == 4);
    run_for(loop, 0.05);
    CHECK(p.closes == 1 && strstr(p.reason, "transport refused") != NULL);
    CHECK(p.frees == 1 && destroyed == 1);
    CHECK(counts.n[CONN_OPEN] == 0 && counts.n[CONN_CLOSED] == 0);
    close(sv[1]);
}

static void test_refs_and_eof(struct ev_loop *loop)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblock(sv[0]);
    struct peer p = { .close_on_input = true };
    conn_accepted(&p.c, loop, sv[0], &ops, &p, NULL);
    CHECK(write(sv[1], "x", 1) == 1);
    run_for(loop, 0.05);
    CHECK(p.inputs == 1 && p.closes == 1 && p.frees == 1);
    CHECK(strcmp(p.reason, "closed by the test") == 0);
    close(sv[1]);

    /* the peer going away is an orderly close */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblock(sv[0]);
    struct peer q = { 0 };
    conn_accepted(&q.c, loop, sv[0], &ops, &q, NULL);
    conn_ref(&q.c); /* as a call in flight on another thread would */
    close(sv[1]);
    run_for(loop, 0.05);
    CHECK(q.closes == 1 && strcmp(q.reason, "(orderly)") == 0);
    CHECK(q.frees == 0);
    conn_close(&q.c, "twice"); /* a second close does nothing */
    CHECK(q.closes == 1);
    conn_unref(&q.c);
    CHECK(q.frees == 1);
}

/* Input held back for lack of room, then room frees outside any event of
 * this connection (an upstream reply): conn_kick must get the held input
 * parsed even when the output is flushed right after the kick, which stops
 * the write watcher the kick is queued on. */
static void test_kick_survives_flush(struct ev_loop *loop)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblock(sv[0]);
    struct peer p = { .hold = true };
    conn_accepted(&p.c, loop, sv[0], &ops, &p, NULL);
    CHECK(write(sv[1], "req", 3) == 3);
    run_for(loop, 0.02);
    CHECK(p.inputs == 1 && buf_len(conn_in(&p.c)) == 3);
    p.hold = false;
    p.echo = true;
    conn_want_read(&p.c, true);
    conn_kick(&p.c);
    buf_append(conn_out(&p.c), "ans", 3);
    conn_out_end(&p.c);
    conn_flush(&p.c);
    run_for(loop, 0.02);
    CHECK(p.inputs == 2 && buf_len(conn_in(&p.c)) == 0);
    uint8_t got[16];
    CHECK(read_all(sv[1], got, sizeof got) == 6 && memcmp(got, "ansreq", 6) == 0);
    conn_close(&p.c, NULL);
    CHECK(p.frees == 1);
    close(sv[1]);
}

/* Two clients' calls read in one loop pass, both forwarded to one upstream
 * connection: nothing goes out to the upstream until both are read, so
 * they leave together instead of in one send each. */
struct fwd {
    struct conn c;
    struct conn *to;  /* where input goes */
    int to_peer;      /* the far end of `to`'s socket */
    int *order;       /* inputs seen so far (shared) */
    int saw_upstream; /* bytes the upstream's far end held when this input ran */
};

static void f_input(struct conn *c)
{
    struct fwd *f = c->owner;
    char tmp[64];
    ssize_t n = recv(f->to_peer, tmp, sizeof tmp, MSG_PEEK | MSG_DONTWAIT);
    f->saw_upstream = n > 0 ? (int)n : 0;
    struct buf *in = conn_in(c);
    buf_append(conn_out(f->to), buf_rptr(in), buf_len(in));
    conn_out_end(f->to);
    buf_consume(in, buf_len(in));
    conn_kick(f->to);
    (*f->order)++;
}

static const struct conn_ops fwd_ops = { .on_input = f_input };
static const struct conn_ops sink_ops = { 0 };

static void test_writes_after_reads(struct ev_loop *loop)
{
    int a[2], b[2], u[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0 &&
          socketpair(AF_UNIX, SOCK_STREAM, 0, u) == 0);
    nonblock(a[0]);
    nonblock(b[0]);
    nonblock(u[0]);
    struct conn up;
    conn_accepted(&up, loop, u[0], &sink_ops, NULL, NULL);
    int order = 0;
    struct fwd fa = { .to = &up, .to_peer = u[1], .order = &order };
    struct fwd fb = { .to = &up, .to_peer = u[1], .order = &order };
    conn_accepted(&fa.c, loop, a[0], &fwd_ops, &fa, NULL);
    conn_accepted(&fb.c, loop, b[0], &fwd_ops, &fb, NULL);
    CHECK(write(a[1], "aaa", 3) == 3 && write(b[1], "bbb", 3) == 3);
    for (int i = 0; i < 10 && order < 2; i++)
        ev_run(loop, EVRUN_ONCE);
    CHECK(order == 2);
    /* Whichever ran second found nothing sent yet: the first one's write
     * waited for the end of the reads. */
    CHECK(fa.saw_upstream == 0 && fb.saw_upstream == 0);
    uint8_t got[16];
    CHECK(read_all(u[1], got, sizeof got) == 6);
    conn_close(&fa.c, NULL);
    conn_close(&fb.c, NULL);
    conn_close(&up, NULL);
    close(a[1]);
    close(b[1]);
    close(u[1]);
}

static void test_close_after_flush(struct ev_loop *loop)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblock(sv[0]);
    struct conn_counts counts = { { 0 } };
    struct peer p = { 0 };
    conn_accepted(&p.c, loop, sv[0], &ops, &p, &counts);
    size_t big = 4u << 20;
    uint8_t *blob = malloc(big);
    memset(blob, 'z', big);
    buf_append(conn_out(&p.c), blob, big);
    conn_close_after_flush(&p.c);
    CHECK(p.c.state == CONN_CLOSING && counts.n[CONN_CLOSING] == 1);
    CHECK(p.closes == 0); /* the socket is full; the rest waits for the reader */
    size_t got = 0;
    for (int i = 0; i < 400 && p.closes == 0; i++) {
        run_for(loop, 0.005);
        got += read_all(sv[1], blob, big);
    }
    got += read_all(sv[1], blob, big);
    CHECK(got == big);
    CHECK(p.closes == 1 && p.frees == 1);
    CHECK(counts.n[CONN_CLOSING] == 0);
    free(blob);
    close(sv[1]);
}

static void test_connect(struct ev_loop *loop)
{
    /* a port nobody listens on: the close says why */
    int lfd = net_listen("127.0.0.1:0", false, NULL, NULL, 0);
    CHECK(lfd >= 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    close(lfd);
    struct conn_counts counts = { { 0 } };
    struct peer p = { 0 };
    CHECK(conn_connect(&p.c, loop, (struct sockaddr *)&sa, sl, &ops, &p, &counts) == 0);
    CHECK(counts.n[CONN_CONNECTING] == 1);
    run_for(loop, 0.1);
    CHECK(p.connected == 0 && p.closes == 1 && strstr(p.reason, "refused") != NULL);
    CHECK(p.frees == 1 && counts.n[CONN_CONNECTING] == 0);

    /* a listener: output queued while connecting goes out once connected */
    lfd = net_listen("127.0.0.1:0", false, NULL, NULL, 0);
    sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    struct peer q = { 0 };
    CHECK(conn_connect(&q.c, loop, (struct sockaddr *)&sa, sl, &ops, &q, &counts) == 0);
    buf_append(conn_out(&q.c), "early", 5);
    conn_flush(&q.c); /* nothing can go yet */
    run_for(loop, 0.05);
    CHECK(q.connected == 1 && q.c.state == CONN_OPEN && counts.n[CONN_OPEN] == 1);
    int afd = net_accept(lfd, NULL, 0);
    CHECK(afd >= 0);
    run_for(loop, 0.02);
    uint8_t got[16];
    CHECK(read_all(afd, got, sizeof got) == 5 && memcmp(got, "early", 5) == 0);
    conn_close(&q.c, NULL);
    CHECK(q.frees == 1 && counts.n[CONN_OPEN] == 0 && counts.n[CONN_CLOSED] == 0);
    close(afd);
    close(lfd);
}

static int accepted;
static void on_acc(struct conn_listener *l, int fd, const char *peer)
{
    accepted++;
    close(fd);
}

static void test_listener_out_of_fds(struct ev_loop *loop)
{
    int port = 0;
    int lfd = net_listen("127.0.0.1:0", false, &port, NULL, 0);
    CHECK(lfd >= 0);
    struct conn_listener l;
    conn_listener_start(&l, loop, lfd, on_acc, NULL);
    char hp[64];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);

    /* use up every descriptor but the client's own */
    struct rlimit old, lim;
    getrlimit(RLIMIT_NOFILE, &old);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(cfd, (struct sockaddr *)&sa, sizeof sa) == 0);
    lim = old;
    lim.rlim_cur = 64;
    CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    int hog[64], nh = 0;
    while (nh < 64 && (hog[nh] = dup(0)) >= 0)
        nh++;
    CHECK(nh > 0 && nh < 64);
    run_for(loop, 0.05);
    CHECK(accepted == 0);
    CHECK(l.paused >= 1 && l.paused <= 2); /* paused, not spinning */
    while (nh)
        close(hog[--nh]);
    setrlimit(RLIMIT_NOFILE, &old);
    run_for(loop, 0.4); /* the pause ends and the waiting connection is taken */
    CHECK(accepted == 1);
    close(cfd);
    conn_listener_stop(&l);
    close(lfd);
}

/* An idle connection keeps no input buffer; a peer trickling part of a
 * message keeps a small one, not a doubled 64 KiB; a big reply's output
 * buffer goes once sent. */
static void test_buffers(struct ev_loop *loop)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblock(sv[0]);
    struct peer p = { .echo = true };
    conn_accepted(&p.c, loop, sv[0], &ops, &p, NULL);
    CHECK(write(sv[1], "ping", 4) == 4);
    run_for(loop, 0.02);
    uint8_t got[256];
    CHECK(read_all(sv[1], got, sizeof got) == 4);
    CHECK(p.c.wire_in.cap == 0 && p.c.wire_in.data == NULL); /* all parsed: nothing kept */
    CHECK(p.c.wire_out.cap <= 4096);

    /* part of a message, one byte per read: a small buffer of its own */
    p.echo = false;
    for (int i = 0; i < 3; i++) {
        CHECK(write(sv[1], "x", 1) == 1);
        run_for(loop, 0.01);
    }
    CHECK(buf_len(conn_in(&p.c)) == 3 && memcmp(buf_rptr(conn_in(&p.c)), "xxx", 3) == 0);
    CHECK(p.c.wire_in.cap > 0 && p.c.wire_in.cap <= 4096);

    /* a message bigger than a read grows the buffer as it needs, whole */
    size_t big = 300000;
    uint8_t *blob = malloc(big);
    for (size_t i = 0; i < big; i++)
        blob[i] = (uint8_t)(i * 7);
    size_t off = 0;
    for (int i = 0; i < 400 && off < big; i++) {
        ssize_t n = send(sv[1], blob + off, big - off, MSG_DONTWAIT);
        if (n > 0)
            off += (size_t)n;
        run_for(loop, 0.002);
    }
    run_for(loop, 0.02);
    CHECK(off == big && buf_len(conn_in(&p.c)) == 3 + big);
    CHECK(memcmp(buf_rptr(conn_in(&p.c)) + 3, blob, big) == 0);
    buf_consume(conn_in(&p.c), 3 + big);

    /* a big reply: its buffer goes once it is sent */
    buf_append(conn_out(&p.c), blob, 100000);
    conn_out_end(&p.c);
    for (int i = 0; i < 100 && conn_out_pending(&p.c); i++) {
        conn_flush(&p.c);
        run_for(loop, 0.002);
        read_all(sv[1], blob, big);
    }
    CHECK(conn_out_pending(&p.c) == 0 && p.c.wire_out.cap == 0);
    free(blob);
    conn_close(&p.c, NULL);
    close(sv[1]);
}

static void test_timeouts(struct ev_loop *loop)
{
    uint64_t closed[CONN_NTIMEOUTS] = { 0 };
    int sv[2];

    /* no handshake within 0.1 s */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblock(sv[0]);
    struct peer a = { 0 };
    conn_accepted(&a.c, loop, sv[0], &ops, &a, NULL);
    conn_set_timeouts(&a.c, 0, 0.1, closed);
    run_for(loop, 0.05);
    CHECK(a.closes == 0);
    run_for(loop, 0.1);
    CHECK(a.closes == 1 && strcmp(a.reason, "handshake timeout") == 0);
    CHECK(closed[CONN_TMO_HANDSHAKE] == 1 && closed[CONN_TMO_IDLE] == 0);
    close(sv[1]);

    /* handshake done in time: no handshake close; then idle for 0.1 s */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblock(sv[0]);
    struct peer b = { .echo = true };
    conn_accepted(&b.c, loop, sv[0], &ops, &b, NULL);
    conn_set_timeouts(&b.c, 0.1, 0.1, closed);
    conn_handshake_done(&b.c);
    /* a message consumed every 50 ms is progress */
    uint8_t got[64];
    for (int i = 0; i < 6; i++) {
        CHECK(write(sv[1], "m", 1) == 1);
        run_for(loop, 0.05);
        read_all(sv[1], got, sizeof got);
    }
    CHECK(b.closes == 0);
    run_for(loop, 0.15);
    CHECK(b.closes == 1 && strcmp(b.reason, "idle timeout") == 0);
    CHECK(closed[CONN_TMO_IDLE] == 1);
    close(sv[1]);

    /* a trickle that never makes a message is no progress */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblock(sv[0]);
    struct peer c = { 0 };
    conn_accepted(&c.c, loop, sv[0], &ops, &c, NULL);
    conn_set_timeouts(&c.c, 0.15, 0, closed);
    for (int i = 0; i < 8 && c.closes == 0; i++) {
        CHECK(write(sv[1], "t", 1) == 1);
        run_for(loop, 0.04);
    }
    CHECK(c.closes == 1 && strcmp(c.reason, "idle timeout") == 0);
    close(sv[1]);

    /* calls in flight: the idle timer waits for them */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblock(sv[0]);
    struct peer d = { .busy = true };
    conn_accepted(&d.c, loop, sv[0], &ops, &d, NULL);
    conn_set_timeouts(&d.c, 0.05, 0, closed);
    run_for(loop, 0.2);
    CHECK(d.closes == 0);
    d.busy = false;
    run_for(loop, 0.15);
    CHECK(d.closes == 1 && strcmp(d.reason, "idle timeout") == 0);
    CHECK(closed[CONN_TMO_IDLE] == 3 && closed[CONN_TMO_HANDSHAKE] == 1);
    close(sv[1]);
}

/* Out of descriptors with a spare: DROP closes the waiting client at once,
 * SERVE hands it over. */
static void test_listener_spare(struct ev_loop *loop, enum conn_spare mode)
{
    int port = 0;
    int lfd = net_listen("127.0.0.1:0", false, &port, NULL, 0);
    CHECK(lfd >= 0);
    struct conn_listener l;
    conn_listener_start(&l, loop, lfd, on_acc, NULL);
    conn_listener_reserve(&l, mode);
    CHECK(l.spare >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    struct rlimit old, lim;
    getrlimit(RLIMIT_NOFILE, &old);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(cfd, (struct sockaddr *)&sa, sizeof sa) == 0);
    lim = old;
    lim.rlim_cur = 64;
    CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    int hog[64], nh = 0;
    while (nh < 64 && (hog[nh] = dup(0)) >= 0)
        nh++;
    accepted = 0;
    run_for(loop, 0.05);
    if (mode == CONN_SPARE_DROP) {
        CHECK(accepted == 0 && l.dropped == 1 && l.paused == 0);
        char b;
        struct timeval tv = { 1, 0 };
        setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        CHECK(recv(cfd, &b, 1, 0) == 0); /* closed at once, not left in the backlog */
        CHECK(l.spare >= 0);             /* and the spare is back */
    } else {
        CHECK(accepted == 1 && l.served_spare == 1); /* on_acc closed it */
        conn_listener_refill(&l);
        CHECK(l.spare >= 0);
    }
    while (nh)
        close(hog[--nh]);
    setrlimit(RLIMIT_NOFILE, &old);
    close(cfd);
    conn_listener_stop(&l);
    CHECK(l.spare < 0);
    close(lfd);
}

/* HOST:PORT as the config writes it, IPv6 literals in brackets included:
 * split for the resolver and the health probes, and listened on. */
static void test_hostport(void)
{
    char h[64];
    const char *port = NULL;
    CHECK(net_split_hostport("nn1.example.com:8020", h, sizeof h, &port) && !strcmp(h, "nn1.example.com") &&
          !strcmp(port, "8020"));
    CHECK(net_split_hostport("[::1]:9000", h, sizeof h, &port) && !strcmp(h, "::1") && !strcmp(port, "9000"));
    CHECK(net_split_hostport(":8020", h, sizeof h, &port) && h[0] == '\0' && !strcmp(port, "8020"));
    CHECK(!net_split_hostport("host", h, sizeof h, &port));
    CHECK(!net_split_hostport("host:", h, sizeof h, &port));
    CHECK(!net_split_hostport("a-rather-long-host-name.example.com:1", h, 8, &port));

    /* A listener on the IPv6 loopback, where the machine has one. */
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 six = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    bool have_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&six, sizeof six) == 0;
    if (probe >= 0)
        close(probe);
    if (!have_v6) {
        printf("# no IPv6 loopback here: the [::1] listener is not tried\n");
        return;
    }
    char err[160] = "";
    int lport = 0;
    int lfd = net_listen("[::1]:0", false, &lport, err, sizeof err);
    CHECK(lfd >= 0 && lport > 0);
    if (lfd < 0) {
        fprintf(stderr, "net_listen [::1]:0: %s\n", err);
        return;
    }
    int cfd = socket(AF_INET6, SOCK_STREAM, 0);
    six.sin6_port = htons((uint16_t)lport);
    CHECK(cfd >= 0 && connect(cfd, (struct sockaddr *)&six, sizeof six) == 0);
    close(cfd);
    close(lfd);
}

int main(void)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    test_plain_and_transport(loop);
    test_refs_and_eof(loop);
    test_kick_survives_flush(loop);
    test_writes_after_reads(loop);
    test_close_after_flush(loop);
    test_connect(loop);
    test_listener_out_of_fds(loop);
    test_buffers(loop);
    test_timeouts(loop);
    test_listener_spare(loop, CONN_SPARE_DROP);
    test_listener_spare(loop, CONN_SPARE_SERVE);
    test_hostport();
    ev_loop_destroy(loop);
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("conn: all checks passed\n");
    return 0;
}
