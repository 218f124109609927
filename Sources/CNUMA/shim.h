// libnuma from Debian's libnuma-dev: node-local allocation for paged optimizer state.
#include <numa.h>
#include <numaif.h>
