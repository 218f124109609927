// The few Glibc facilities that Swift's Glibc module does not export: madvise advice values, malloc tuning,
// and the current CPU. Each is a thin inline wrapper so no C type reaches a public Swift signature.
#ifndef EDGETUNE_CSHIMS_H
#define EDGETUNE_CSHIMS_H
#include <stddef.h>

/// madvise(2) with the advice named, returning 0 or -1 with errno set.
int edgetune_madvise_willneed(void *address, size_t length);
int edgetune_madvise_dontneed(void *address, size_t length);
int edgetune_madvise_sequential(void *address, size_t length);
int edgetune_madvise_random(void *address, size_t length);
/// posix_fadvise(WILLNEED) on a byte range of an open file: starts readahead without blocking.
int edgetune_fadvise_willneed(int fd, long long offset, long long length);
/// mallopt(M_MMAP_THRESHOLD, bytes): allocations at or above it get their own mapping and return to the kernel on free.
int edgetune_set_mmap_threshold(int bytes);
/// malloc_trim(0): give freed heap memory back to the kernel.
int edgetune_malloc_trim(void);
/// The CPU the calling thread runs on and its NUMA node (getcpu(2)); -1 when unknown.
int edgetune_current_cpu(int *node);
/// sched_setaffinity(2) of thread `tid` to the `count` CPUs listed in `cpus`; 0 or -1 with errno set.
int edgetune_bind_thread(int tid, const int *cpus, int count);
/// Last errno value, read in C because Swift's errno is a macro on Glibc.
int edgetune_errno(void);
#endif
