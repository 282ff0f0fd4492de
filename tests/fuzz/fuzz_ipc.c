/*
 * Fuzz target for the Hadoop IPC codec: treats the input as a client byte
 * stream (preamble, then frames) and as a server reply stream, and runs every
 * parser over whatever frames it can cut. Any crash, sanitizer report or
 * read past the input is a bug.
 *
 * Built two ways: with libFuzzer (clang, -DFR_LIBFUZZER) for coverage-guided
 * runs, and as a plain program that replays files given on the command line
 * and a fixed number of pseudo-random mutations of valid frames, so that the
 * normal test suite exercises the same paths on every compiler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"

static void run_frames(const uint8_t *p, size_t len, int as_reply)
{
    while (len > 0) {
        const uint8_t *body;
        uint32_t blen;
        size_t flen;
        if (ipc_frame_cut(p, len, 1u << 20, &body, &blen, &flen) != IPC_OK)
            return;
        if (as_reply) {
            struct ipc_reply r;
            (void)ipc_parse_reply(body, blen, &r);
        } else {
            struct ipc_call c;
            if (ipc_parse_call(body, blen, &c) == IPC_OK && c.hdr.call_id == IPC_CALLID_CONTEXT) {
                struct ipc_context ctx;
                (void)ipc_parse_context(c.oob.p, c.oob.len, &ctx);
            }
        }
        p += flen;
        len -= flen;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* First byte picks the direction so one corpus covers both. */
    int as_reply = data[0] & 1;
    data++, size--;
    if (!as_reply) {
        struct ipc_preamble pr;
        int rc = ipc_parse_preamble(data, size, &pr);
        if (rc == IPC_OK) {
            data += IPC_PREAMBLE_LEN;
            size -= IPC_PREAMBLE_LEN;
        }
    }
    run_frames(data, size, as_reply);
    return 0;
}

#ifndef FR_LIBFUZZER
#include "replay.h"

/* Seeds: a valid call stream and a valid reply stream. */
static void make_seeds(struct buf *calls, struct buf *replies)
{
    uint8_t cid[16];
    ipc_new_client_id(cid);
    uint8_t d = 0;
    buf_append(calls, &d, 1);
    ipc_write_preamble(calls, IPC_AUTH_NONE);
    ipc_write_context(calls, cid, "alice", NULL, IPC_CLIENT_PROTOCOL);
    struct ipc_ids ids = { 0, 0, cid, 16 };
    ipc_write_call_raw(calls, &ids, "getFileInfo", IPC_CLIENT_PROTOCOL, (const uint8_t *)"\x0a\x02/a", 4);
    d = 1;
    buf_append(replies, &d, 1);
    ipc_write_reply_raw(replies, &ids, (const uint8_t *)"\x0a\x00", 2);
    ipc_write_error(replies, &ids, IPC_ERROR, IPC_ERR_APPLICATION, "java.io.FileNotFoundException", "x");
}

int main(int argc, char **argv)
{
    long rounds = replay_rounds(argc, argv, 200000);
    struct buf calls = BUF_INIT, replies = BUF_INIT;
    make_seeds(&calls, &replies);
    /* Byte 0 picks the direction: the mutations leave it. */
    replay_seed(0x9E3779B97F4A7C15ull);
    replay_mutations(buf_rptr(&calls), buf_len(&calls), rounds, 1);
    replay_mutations(buf_rptr(&replies), buf_len(&replies), rounds, 1);
    replay_args(argc, argv);
    printf("fuzz_ipc: %ld mutated inputs per seed ran clean\n", rounds);
    buf_free(&calls);
    buf_free(&replies);
    return 0;
}
#endif
