/* minidfs_proc.h: start a minidfs child process for a C test and remove its
 * data when done. */
#ifndef FR_MINIDFS_PROC_H
#define FR_MINIDFS_PROC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

struct minidfs_proc {
    pid_t pid;
    char nn[128];                      /* host:port of the NameNode */
    char dir[64];                      /* its temporary data directory */
};

/* Starts `bin` on free ports, waits for its ready line. 0 or -1. */
static inline int minidfs_proc_start(struct minidfs_proc *m, const char *bin, const char *ns, bool standby)
{
    int pfd[2];
    snprintf(m->dir, sizeof m->dir, "/tmp/fr-test-minidfs.XXXXXX");
    if (pipe(pfd) < 0 || !mkdtemp(m->dir))
        return -1;
    m->pid = fork();
    if (m->pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        char data[96];
        snprintf(data, sizeof data, "%s/data", m->dir);
        execl(bin, bin, "--nn-port", "0", "--dn-port", "0", "--data-dir", data, "--nameservice", ns,
              standby ? "--standby" : (char *)NULL, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    char line[512] = "";
    FILE *f = fdopen(pfd[0], "r");
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    char *nn = got ? strstr(line, "nn=") : NULL;
    if (!nn || sscanf(nn + 3, "%127s", m->nn) != 1)
        return -1;
    return 0;
}

/* Removes the data directory (the process must be gone). */
static inline void minidfs_proc_cleanup(struct minidfs_proc *m)
{
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", m->dir);
    if (system(rm) != 0)
        fprintf(stderr, "could not remove %s\n", m->dir);
}

#endif
