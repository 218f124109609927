// LZ4 block compression from Debian's liblz4-dev (spill pages of the paging optimizer).
#include <lz4.h>
