/*
 * jemalloc_conf.c: jemalloc's start-up options for the daemons (linked only
 * into targets that link jemalloc; see fr_daemon in the top CMakeLists.txt).
 *
 * The thread cache keeps freed blocks of up to 256 KiB (jemalloc's default
 * is 32 KiB). The reason is calloc: MIT Kerberos allocates every GSSAPI
 * wrap output with calloc, and a wrapped listing reply is 100 KiB or more.
 * Outside the thread cache, jemalloc zeroes a recycled block of that size by
 * handing its pages back to the kernel (madvise) and faulting them in again,
 * which on a virtual machine cost 2.8 ms of CPU per wrapped 1,000-entry
 * listing against 0.6 ms with the larger cache (same run, 4 connections).
 * Eight cached blocks per large size class bound what a thread may hold.
 * MALLOC_CONF in the environment still overrides these.
 */
const char *malloc_conf = "tcache_max:262144,tcache_nslots_large:8";
