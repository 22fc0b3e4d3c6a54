import CDiffuseCPU

/// How freed memory goes back to the allocator. A UNet call, a VAE decode or a training step allocates and
/// frees the same set of large activation buffers again and again. glibc serves blocks above its (dynamic,
/// at most 32 MiB) mmap threshold with fresh mmaps and trims freed heap tops back to the kernel, so every
/// call page-faults those buffers in again and the kernel zeroes each page first (`clear_page_erms` was 3.7%
/// of a 512-px UNet profile, page faults 227 k → 98 k per `diffuse bench` run at 256 px with this setting).
/// Raising both thresholds keeps freed memory in the heap for the next call. Peak RSS stays that of the
/// largest call (the same buffers come back); the cost is that a long-lived process (the studio server)
/// keeps that peak mapped between jobs. Arithmetic is untouched.
public enum ProcessHeap {
    /// Evaluated once per process: the first model load or trainer sets it. True when the C library took the
    /// setting (glibc); false elsewhere, where the allocator's defaults stay.
    public static let keepFreedMemory: Bool = {
        // 32 MiB is the largest mmap threshold glibc accepts on 64-bit (HEAP_MAX_SIZE / 2); larger blocks
        // (a 512-px VAE's top-level activations) are still mapped per call.
        diffuse_heap_keep_freed(32 << 20, 1 << 30) == 1
    }()

    /// Gives the heap's free memory back to the kernel (`malloc_trim(0)`). Called between the pipeline's
    /// stages: the UNet steps reuse each other's buffers, but what the text encoder or the VAE freed would
    /// otherwise stay mapped under the next stage and raise the whole pipeline's peak (measured +172 MB at
    /// 512 px without it: the VAE's freed buffers under the next image's UNet steps).
    public static func returnFreedMemory() { diffuse_heap_trim() }
}
