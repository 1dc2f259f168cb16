/* LD_PRELOAD allocation counter for tools/bench/model_bench.sh: counts every malloc-family call in the process
 * (all threads) and forwards to glibc. The benchmark reads the count through dlsym("thud_malloc_count") before and
 * after its timed loop; allocations per step must be 0. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdatomic.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_long thud_allocations;

long thud_malloc_count(void) { return atomic_load(&thud_allocations); }

void *malloc(size_t n) { atomic_fetch_add(&thud_allocations, 1); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { atomic_fetch_add(&thud_allocations, 1); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { atomic_fetch_add(&thud_allocations, 1); return __libc_realloc(p, n); }
void *memalign(size_t al, size_t n) { atomic_fetch_add(&thud_allocations, 1); return __libc_memalign(al, n); }
void *aligned_alloc(size_t al, size_t n) { atomic_fetch_add(&thud_allocations, 1); return __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n) {
    atomic_fetch_add(&thud_allocations, 1);
    void *p = __libc_memalign(al, n);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
