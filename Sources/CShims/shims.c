#define _GNU_SOURCE
#include "CShims.h"
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <sys/mman.h>

int edgetune_madvise_willneed(void *address, size_t length) { return madvise(address, length, MADV_WILLNEED); }
int edgetune_madvise_dontneed(void *address, size_t length) { return madvise(address, length, MADV_DONTNEED); }
int edgetune_madvise_sequential(void *address, size_t length) { return madvise(address, length, MADV_SEQUENTIAL); }
int edgetune_madvise_random(void *address, size_t length) { return madvise(address, length, MADV_RANDOM); }

int edgetune_fadvise_willneed(int fd, long long offset, long long length) {
  return posix_fadvise(fd, (off_t)offset, (off_t)length, POSIX_FADV_WILLNEED);
}

int edgetune_set_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }
int edgetune_malloc_trim(void) { return malloc_trim(0); }

int edgetune_current_cpu(int *node) {
  unsigned cpu = 0, numa = 0;
  if (getcpu(&cpu, &numa) != 0) { if (node) *node = -1; return -1; }
  if (node) *node = (int)numa;
  return (int)cpu;
}

int edgetune_bind_thread(int tid, const int *cpus, int count) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int i = 0; i < count; i++) {
    if (cpus[i] >= 0 && cpus[i] < CPU_SETSIZE) CPU_SET(cpus[i], &set);
  }
  return sched_setaffinity(tid, sizeof set, &set);
}

int edgetune_errno(void) { return errno; }
