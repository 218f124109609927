// OpenBLAS from Debian's libopenblas-dev: the CBLAS interface plus its thread-count controls.
// cblas.h is Debian's alternatives link; the thread controls are declared again here so the module does not
// depend on which BLAS the alternative currently names (we link libopenblas explicitly).
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
