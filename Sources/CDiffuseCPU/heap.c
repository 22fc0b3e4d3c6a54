// glibc heap controls for DiffuseCore/ProcessHeap.swift: <malloc.h> is not part of Swift's Glibc module.
#include "CDiffuseCPU.h"
#include <stdlib.h>   // defines __GLIBC__ (via <features.h>) before the test below

#if defined(__GLIBC__)
#include <malloc.h>

int diffuse_heap_keep_freed(int mmapThreshold, int trimThreshold) {
    return mallopt(M_MMAP_THRESHOLD, mmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, trimThreshold) == 1;
}

void diffuse_heap_trim(void) { malloc_trim(0); }
#else
int diffuse_heap_keep_freed(int mmapThreshold, int trimThreshold) {
    (void)mmapThreshold; (void)trimThreshold;
    return 0;
}
void diffuse_heap_trim(void) {}
#endif
