/*
 * minidfs: one NameNode and one DataNode in one process, the test backend
 * and demo subcluster of fedrouter.
 *
 *   minidfs --nn-port P --dn-port Q --data-dir DIR --nameservice NAME
 *           [--block-size BYTES] [--standby] [--host ADDR] [--ez PATH]...
 *
 * Prints `ready nn=HOST:P dn=HOST:Q bpid=...` once both accept connections.
 * SIGTERM/SIGINT stop it cleanly; SIGUSR1 switches standby <-> active. A
 * standby answers StandbyException but for what a standby NameNode serves:
 * versionRequest, refreshNodes and unchecked setSafeMode.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "datanode.h"
#include "fsns.h"
#include "nn.h"
#include "nn_secure.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: minidfs --nn-port P --dn-port Q --data-dir DIR --nameservice NAME\n"
            "               [--block-size BYTES] [--standby] [--host ADDR] [--capacity BYTES]\n"
            "               [--ez PATH]... [--kerberos PRINCIPAL [--keytab FILE]\n"
            "               [--proxy-user USER[:HOSTS]]... [--proxy-rule KEY=VALUE]...\n"
            "               [--rpc-protection LIST]]\n"
            "  A NameNode (Hadoop IPC ClientProtocol) and a DataNode in one process.\n"
            "  --ez: getEZForPath answers PATH as an encryption zone for it and below\n"
            "  (no keys, no encryption: only the zone's name).\n"
            "  --kerberos: a secure NameNode: SASL GSSAPI as PRINCIPAL (nn/_HOST@REALM,\n"
            "  _HOST = the --host address's name), keys from --keytab; SIMPLE clients are\n"
            "  refused. --proxy-user: USER may impersonate any user from HOSTS (default *);\n"
            "  --proxy-rule hadoop.proxyuser.USER.users|groups|hosts=VALUE as Hadoop has it.\n"
            "  --rpc-protection: authentication, integrity, privacy (a comma list).\n"
            "  Port 0 picks a free port. SIGUSR1 switches standby/active; SIGTERM stops.\n");
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct nn *nn = w->data;
    nn->standby = !nn->standby;
    fprintf(stderr, "minidfs: now %s\n", nn->standby ? "standby" : "active");
}

static int parse_port(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end || v < 0 || v > 65535)
        return -1;
    return (int)v;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "nn-port", required_argument, 0, 'n' },  { "dn-port", required_argument, 0, 'd' },
        { "data-dir", required_argument, 0, 'D' }, { "nameservice", required_argument, 0, 's' },
        { "block-size", required_argument, 0, 'b' }, { "standby", no_argument, 0, 'S' },
        { "host", required_argument, 0, 'H' },     { "help", no_argument, 0, 'h' },
        { "capacity", required_argument, 0, 'C' }, { "ez", required_argument, 0, 'E' },
        { "kerberos", required_argument, 0, 'K' }, { "keytab", required_argument, 0, 'T' },
        { "proxy-user", required_argument, 0, 'P' }, { "proxy-rule", required_argument, 0, 'R' },
        { "rpc-protection", required_argument, 0, 'Q' },
        { 0, 0, 0, 0 },
    };
    int nn_port = -1, dn_port = -1;
    const char *data_dir = NULL, *nsname = NULL, *host = "127.0.0.1";
    unsigned long long block_size = 128ull << 20;
    bool standby = false;
    unsigned long long capacity = 0;
    const char *ez[8];
    int nez = 0;
    struct nn_secure sec;
    nn_secure_init(&sec);
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'n': nn_port = parse_port(optarg); if (nn_port < 0) { fprintf(stderr, "minidfs: bad --nn-port %s\n", optarg); return 2; } break;
        case 'd': dn_port = parse_port(optarg); if (dn_port < 0) { fprintf(stderr, "minidfs: bad --dn-port %s\n", optarg); return 2; } break;
        case 'D': data_dir = optarg; break;
        case 's': nsname = optarg; break;
        case 'b': {
            char *end;
            block_size = strtoull(optarg, &end, 10);
            /* HDFS: at least 1 MiB by default (dfs.namenode.fs-limits.min-block-size); we allow 4 KiB
             * for tests, and it must be a multiple of the 512-byte checksum chunk. */
            if (*end || block_size < 4096 || block_size % 512 || block_size > (1ull << 40)) {
                fprintf(stderr, "minidfs: bad --block-size %s (4096..1 TiB, a multiple of 512)\n", optarg);
                return 2;
            }
            break;
        }
        case 'S': standby = true; break;
        case 'C': {
            char *end;
            capacity = strtoull(optarg, &end, 10);
            if (*end || capacity == 0) {
                fprintf(stderr, "minidfs: bad --capacity %s (bytes, > 0)\n", optarg);
                return 2;
            }
            break;
        }
        case 'H': host = optarg; break;
        case 'E':
            if (optarg[0] != '/' || nez == (int)(sizeof ez / sizeof ez[0])) {
                fprintf(stderr, "minidfs: bad --ez %s (an absolute path; at most 8)\n", optarg);
                return 2;
            }
            ez[nez++] = optarg;
            break;
        case 'K': sec.principal = optarg; break;
        case 'T': sec.keytab = optarg; break;
        case 'P': if (nn_secure_proxy_user(&sec, optarg) < 0) goto bad_option; break;
        case 'R': if (nn_secure_proxy_rule(&sec, optarg) < 0) goto bad_option; break;
        case 'Q':
            if (nn_secure_parse_qop(optarg, &sec.qop) < 0) {
                fprintf(stderr, "minidfs: bad --rpc-protection %s (authentication, integrity, privacy)\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (nn_port < 0 || dn_port < 0 || !data_dir || !nsname || optind != argc) {
        usage(stderr);
        goto bad_option;
    }
    /* Before anything is allocated: a bad security option ends here. */
    struct auth_server *auth = nn_secure_start(&sec, host);
    if (!auth && (sec.principal || sec.rules || sec.keytab || sec.qop != NN_QOP_AUTH))
        goto bad_option;
    if (mkdir(data_dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "minidfs: cannot create %s: %s\n", data_dir, strerror(errno));
        return 1;
    }

    /* Each instance gets its own block pool id, in HDFS's format. */
    uint32_t rnd;
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
        rnd = (uint32_t)getpid();
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char bpid[96], uuid[40], cid[48];
    snprintf(bpid, sizeof bpid, "BP-%u-%s-%llu", rnd & 0x7fffffff, host,
             (unsigned long long)tv.tv_sec * 1000 + (unsigned long long)tv.tv_usec / 1000);
    uint8_t u[16];
    ipc_new_client_id(u);
    snprintf(uuid, sizeof uuid, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    /* The cluster and namespace ids a format would write (versionRequest). */
    ipc_new_client_id(u);
    snprintf(cid, sizeof cid, "CID-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    uint32_t nsid = ((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3]) & 0x7fffffff;

    struct passwd *pw = getpwuid(geteuid());
    const char *superuser = pw ? pw->pw_name : "root";
    /* A secure NameNode runs as its principal's user (hdfs for
     * hdfs/_HOST@REALM): that name is the superuser. */
    char secure_super[64];
    if (sec.principal) {
        size_t l = strcspn(sec.principal, "/@");
        if (l == 0 || l >= sizeof secure_super) {
            fprintf(stderr, "minidfs: bad --kerberos %s (service/host@REALM)\n", sec.principal);
            nn_secure_free(&sec, auth);
            return 2;
        }
        memcpy(secure_super, sec.principal, l);
        secure_super[l] = '\0';
        superuser = secure_super;
    }

    signal(SIGPIPE, SIG_IGN);
    struct nn nn = {
        .loop = EV_DEFAULT,
        .listen_fd = -1,
        .host = host,
        .nameservice = nsname,
        .block_pool_id = bpid,
        .cluster_id = cid,
        .namespace_id = nsid ? nsid : 1,
        .datanode_uuid = uuid,
        .superuser = superuser,
        .block_size = block_size,
        .standby = standby,
        .nez = nez,
    };
    memcpy(nn.ez, ez, (size_t)nez * sizeof ez[0]);
    nn.ns = fsns_new(superuser);
    if (!nn.ns) {
        fprintf(stderr, "minidfs: out of memory\n");
        return 1;
    }
    if (block_size < (1u << 20))
        fsns_set_min_block_size(nn.ns, block_size); /* small blocks for tests */

    nn.auth = auth;
    char err[256] = "";
    struct datanode_config dc = { host, dn_port, data_dir, bpid, uuid, capacity };
    nn.dn = datanode_start(&dc, err, sizeof err);
    if (!nn.dn) {
        fprintf(stderr, "minidfs: datanode: %s\n", err);
        return 1;
    }
    nn.dn_port = datanode_port(nn.dn);
    if (nn_listen(&nn, host, nn_port) < 0) {
        datanode_stop(nn.dn);
        return 1;
    }

    ev_signal sterm, sint, susr1;
    ev_signal_init(&sterm, on_stop, SIGTERM);
    ev_signal_init(&sint, on_stop, SIGINT);
    ev_signal_init(&susr1, on_usr1, SIGUSR1);
    susr1.data = &nn;
    ev_signal_start(nn.loop, &sterm);
    ev_signal_start(nn.loop, &sint);
    ev_signal_start(nn.loop, &susr1);

    printf("ready nn=%s:%d dn=%s:%d bpid=%s\n", host, nn.nn_port, host, nn.dn_port, bpid);
    fflush(stdout);
    fprintf(stderr, "minidfs: nameservice %s, %s, superuser %s, block size %llu\n", nsname,
            standby ? "standby" : "active", superuser, block_size);

    ev_run(nn.loop, 0);

    fprintf(stderr, "minidfs: stopping\n");
    nn_shutdown(&nn);
    datanode_stop(nn.dn);
    fsns_free(nn.ns);
    nn_secure_free(&sec, nn.auth);
    return 0;
bad_option:
    nn_secure_free(&sec, NULL);
    return 2;
}
