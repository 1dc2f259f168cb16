/* LD_PRELOAD shim for tools/vivid/alloc-check.sh: counts heap allocations (malloc, calloc, realloc,
   posix_memalign, aligned_alloc, memalign) of the whole process, all threads. A program marks the
   span it wants measured by calling thud_malloc_count_mark(k) (found with dlsym, so it runs
   unchanged without the shim); each mark prints the running total on stderr, so the allocations of
   the span are the difference of two marks. */
#include <stddef.h>
#include <stdio.h>
#include <stdatomic.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_long allocations;

void *malloc(size_t n) { atomic_fetch_add(&allocations, 1); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { atomic_fetch_add(&allocations, 1); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { atomic_fetch_add(&allocations, 1); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { atomic_fetch_add(&allocations, 1); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { atomic_fetch_add(&allocations, 1); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    atomic_fetch_add(&allocations, 1);
    *out = __libc_memalign(a, n);
    return *out ? 0 : 12; /* ENOMEM */
}

void thud_malloc_count_mark(int mark, long steps) {
    fprintf(stderr, "malloc-count: mark %d after %ld steps: %ld allocations so far\n", mark, steps, (long)atomic_load(&allocations));
}
