/*
 * route_quota.c: the router's own quotas on mount entries (quota.ns,
 * quota.ss), checked before a call that adds names or bytes is sent.
 */
#include <stdio.h>
#include <string.h>

#include "cluster_state.h"
#include "jexc.h"
#include "route_deps.h"
#include "route_internal.h"

/*
 * Router quotas (RBF's): a mount entry's quota.ns / quota.ss limit what lies
 * below it over all its destinations, nested entries included. Calls that
 * add names or bytes are refused with the NameNode's quota exceptions once
 * the usage the refresher last added up has reached a limit. 0, or -1 with
 * the exception in *cls / msg.
 */
int route_check_quota(struct rd_snap *snap, const struct method_row *m, const char *mount_src, const char **cls,
                      char *msg, size_t msglen)
{
    bool adds = (m->flags & (METHOD_ADDS_NAMES | METHOD_ADDS_BYTES)) != 0;
    if (!adds || !mount_src[0])
        return 0;
    bool names = (m->flags & METHOD_ADDS_NAMES) != 0;
    char p[RD_MAX_PATH];
    snprintf(p, sizeof p, "%s", mount_src);
    for (;;) {
        struct rd_mount_info mi;
        struct cs_usage u;
        if (rd_mount_info(snap, p, &mi) && (mi.ns_quota >= 0 || mi.ss_quota >= 0) && cs_usage(p, &u) == 0) {
            if (names && mi.ns_quota >= 0 && u.names >= (uint64_t)mi.ns_quota) {
                *cls = JEXC_NS_QUOTA_EXCEEDED;
                snprintf(msg, msglen,
                         "The NameSpace quota (directories and files) of directory %s is exceeded: quota=%lld "
                         "file count=%llu",
                         p, (long long)mi.ns_quota, (unsigned long long)u.names + 1);
                return -1;
            }
            if (mi.ss_quota >= 0 && u.space >= (uint64_t)mi.ss_quota) {
                *cls = JEXC_DS_QUOTA_EXCEEDED;
                snprintf(msg, msglen,
                         "The DiskSpace quota of %s is exceeded: quota = %lld B but diskspace consumed = %llu B", p,
                         (long long)mi.ss_quota, (unsigned long long)u.space);
                return -1;
            }
        }
        char *slash = strrchr(p, '/');
        if (!slash || p[1] == 0)
            return 0;
        if (slash == p)
            slash[1] = 0; /* up to "/" */
        else
            *slash = 0;
    }
}
