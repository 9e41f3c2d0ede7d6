/*===- runtime/arena_memory.c - The arena's memory ------------------------===*
 *
 * A model's arena (params, optimizer state, activations, workspace) is
 * zeroed memory of one block. Large arenas are mapped in 2 MiB-aligned
 * pieces and marked for transparent huge pages on Linux: the first write
 * to each 4 KiB page is otherwise a page fault, and on a virtual machine a
 * fault costs tens of microseconds (creating a model with 1.8 M params and
 * its first train step spent most of their time in them). Elsewhere, or when
 * the mapping fails, the arena comes from calloc.
 *
 *===----------------------------------------------------------------------===*/
#define _GNU_SOURCE /* MAP_ANONYMOUS, madvise */
#include "model_runtime.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((size_t)2 << 20)

float *dlc_rt_arena_alloc(int64_t floats, size_t *mapped) {
  *mapped = 0;
  if (floats < 0 || (uint64_t)floats > SIZE_MAX / sizeof(float) - HUGE_PAGE) return NULL;
  size_t bytes = (size_t)floats * sizeof(float);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes >= HUGE_PAGE) {
    size_t length = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    char *raw = (char *)mmap(NULL, length + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw != (char *)MAP_FAILED) {
      char *start = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
      if (start > raw) munmap(raw, (size_t)(start - raw));
      if (raw + HUGE_PAGE > start) munmap(start + length, (size_t)(raw + HUGE_PAGE - start));
      madvise(start, length, MADV_HUGEPAGE); /* advice: without it the pages are 4 KiB */
      *mapped = length;
      return (float *)start;
    }
  }
#endif
  return (float *)calloc(floats > 0 ? (size_t)floats : 1, sizeof(float));
}

void dlc_rt_arena_free(float *arena, size_t mapped) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (mapped) {
    munmap(arena, mapped);
    return;
  }
#endif
  free(arena);
}
