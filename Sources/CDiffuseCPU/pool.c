// The persistent worker pool behind Parallel.forRange (see Parallel.swift for the Swift side and the
// fallbacks). Written in C for the pause instruction, thread-local depth and plain C11 atomics.
//
// Protocol. Worker w (1 ... workers) owns a cache-line slot with a generation counter. To run a region the
// caller (holding `busy`) writes fn/ctx/n/per and `remaining`, publishes the region's claim word, then bumps
// the generation of workers 1 ..< chunks only, runs chunk 0 itself, then claims and runs any chunk no worker
// has claimed yet, and waits until `remaining` is 0. A woken worker claims chunks the same way (an atomic
// compare-and-swap on the claim word, which carries the region number, so a late worker can never run a
// chunk of a finished region). Chunk c is always [c·per, min(n, (c+1)·per)) — the split Parallel.forRange
// has always used — whichever thread runs it, so results do not depend on the backend or on scheduling.
// (Assigning chunk w to worker w, as before, made a region wait for a worker the OS had not scheduled: on a
// machine busy with another process, `diffuse generate` with the built-in model took 6.5 s instead of 2.1 s
// with Dispatch and 1.5 s on one thread.)
// Waiting on both sides first spins (pause, a sched_yield every 1024 rounds) for a bounded time, then blocks on
// a mutex/condition variable; the sleeping flags and the counters are seq_cst so that a waker and a sleeper
// always see each other (store-then-load on both sides).
#include "CDiffuseCPU.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax(void) { _mm_pause(); }
#elif defined(__aarch64__)
static inline void cpu_relax(void) { __asm__ volatile("yield"); }
#else
static inline void cpu_relax(void) {}
#endif

/// How long a worker keeps spinning after its last chunk, and the caller after its own chunk, before
/// blocking. Most gaps between regions (one op's epilogue, the next op's set-up) are a few to a few tens of
/// µs, so 100 µs catches nearly all of them, while a worker left idle by a long serial stretch (weight-page
/// release, tokenizer, PNG) burns at most 100 µs of CPU before sleeping: ≤ 0.1 ms per region, ≤ 4% of a UNet
/// call even if every gap were longer. Overridable with DIFFUSE_POOL_SPIN_US for A/B runs.
#define DIFFUSE_POOL_SPIN_NS_DEFAULT 100000L
/// Spin rounds between sched_yield calls (a pause is ~40 ns on recent Intel cores, so ~40 µs): on an
/// oversubscribed machine this hands the core to a preempted peer whose chunk we are waiting for.
#define DIFFUSE_POOL_YIELD_ROUNDS 1024
#define DIFFUSE_POOL_MAX_WORKERS 255

typedef struct {
    _Atomic unsigned long gen;
    _Atomic int sleeping;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long index;
    char pad[64];
} __attribute__((aligned(128))) slot_t;

static struct {
    _Atomic int busy;                       // one region at a time; others fall back (Parallel.swift)
    int workers;                            // threads started so far (only grows)
    slot_t slots[DIFFUSE_POOL_MAX_WORKERS + 1];
    diffuse_pool_body fn;
    void *ctx;
    long n, per;
    // Chunks 1… are claimed, not assigned: (region << 32) | (chunks << 16) | next unclaimed chunk. A worker
    // the OS has not scheduled yet (a busy machine) no longer holds up the region: the caller, done with
    // chunk 0, claims and runs the chunks nobody has started. Ranges stay the same, so results too.
    _Atomic unsigned long claim __attribute__((aligned(128)));
    unsigned long region;                   // the caller's region count (caller only)
    _Atomic long remaining __attribute__((aligned(128)));
    _Atomic int callerSleeping;
    pthread_mutex_t doneMu;
    pthread_cond_t doneCv;
    long spinNs;
} pool = {.doneMu = PTHREAD_MUTEX_INITIALIZER, .doneCv = PTHREAD_COND_INITIALIZER, .spinNs = -1};

/// > 0 on pool workers and on a caller inside a region: forRange there runs serially (no deadlock).
static _Thread_local int depth;

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/// Spins until `*p == 0` (returns 1) or the spin time is over (returns 0).
static int spin_until_zero(_Atomic long *p) {
    long deadline = now_ns() + pool.spinNs;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(p, memory_order_acquire) == 0) return 1;
        cpu_relax();
        if ((i & 63) == 0) {
            if (now_ns() > deadline) return 0;
            if ((i & (DIFFUSE_POOL_YIELD_ROUNDS - 1)) == 0) sched_yield();
        }
    }
}

static unsigned long wait_for_work(slot_t *s, unsigned long seen) {
    long deadline = now_ns() + pool.spinNs;
    for (unsigned i = 1;; i++) {
        unsigned long g = atomic_load_explicit(&s->gen, memory_order_acquire);
        if (g != seen) return g;
        cpu_relax();
        if ((i & 63) == 0) {
            if (now_ns() > deadline) break;
            if ((i & (DIFFUSE_POOL_YIELD_ROUNDS - 1)) == 0) sched_yield();
        }
    }
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->sleeping, 1);
    unsigned long g;
    while ((g = atomic_load(&s->gen)) == seen) pthread_cond_wait(&s->cv, &s->mu);
    atomic_store(&s->sleeping, 0);
    pthread_mutex_unlock(&s->mu);
    return g;
}

/// Claims and runs chunks of the current region until none is left. A successful claim pins the region:
/// it cannot finish (and its fn/ctx/n/per cannot be replaced) before the claimed chunk is counted done.
static void run_claimed_chunks(void) {
    unsigned long v = atomic_load_explicit(&pool.claim, memory_order_acquire);
    for (;;) {
        long next = (long)(v & 0xFFFF), chunks = (long)((v >> 16) & 0xFFFF);
        if (next >= chunks) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &v, v + 1, memory_order_acq_rel,
                                                   memory_order_acquire)) continue;
        long lo = next * pool.per, hi = lo + pool.per < pool.n ? lo + pool.per : pool.n;
        pool.fn(pool.ctx, lo, hi);
        if (atomic_fetch_sub(&pool.remaining, 1) == 1 && atomic_load(&pool.callerSleeping)) {
            pthread_mutex_lock(&pool.doneMu);
            pthread_cond_signal(&pool.doneCv);
            pthread_mutex_unlock(&pool.doneMu);
        }
        v = atomic_load_explicit(&pool.claim, memory_order_acquire);
    }
}

static void *worker_main(void *arg) {
    slot_t *s = arg;
    depth = 1;
    unsigned long seen = 0;
    for (;;) {
        seen = wait_for_work(s, seen);
        run_claimed_chunks();
    }
    return NULL;
}

static int grow(int want) {
    if (want > DIFFUSE_POOL_MAX_WORKERS) return 0;
    if (pool.spinNs < 0) {
        const char *e = getenv("DIFFUSE_POOL_SPIN_US");
        pool.spinNs = e ? atol(e) * 1000L : DIFFUSE_POOL_SPIN_NS_DEFAULT;
        if (pool.spinNs < 0) pool.spinNs = 0;
    }
    while (pool.workers < want) {
        int w = pool.workers + 1;
        slot_t *s = &pool.slots[w];
        s->index = w;
        atomic_init(&s->gen, 0);
        atomic_init(&s->sleeping, 0);
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        // Kernels put scratch on the stack (withUnsafeTemporaryAllocation); give workers a main-thread-sized stack.
        pthread_attr_setstacksize(&attr, 8L << 20);
        pthread_t tid;
        int rc = pthread_create(&tid, &attr, worker_main, s);
        pthread_attr_destroy(&attr);
        if (rc != 0) return 0;
        pool.workers = w;
    }
    return 1;
}

int diffuse_pool_in_region(void) { return depth > 0; }

int diffuse_pool_run(long n, long per, long chunks, diffuse_pool_body fn, void *ctx) {
    if (depth > 0) return 1;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&pool.busy, &expected, 1)) return 2;
    if (!grow((int)chunks - 1)) { atomic_store(&pool.busy, 0); return 3; }
    pool.fn = fn; pool.ctx = ctx; pool.n = n; pool.per = per;
    atomic_store(&pool.remaining, chunks - 1);
    pool.region = (pool.region + 1) & 0xFFFFFFFFUL;
    atomic_store_explicit(&pool.claim, (pool.region << 32) | ((unsigned long)chunks << 16) | 1UL, memory_order_release);
    for (long w = 1; w < chunks; w++) {
        slot_t *s = &pool.slots[w];
        atomic_store(&s->gen, atomic_load_explicit(&s->gen, memory_order_relaxed) + 1);
        if (atomic_load(&s->sleeping)) {
            pthread_mutex_lock(&s->mu);
            pthread_cond_signal(&s->cv);
            pthread_mutex_unlock(&s->mu);
        }
    }
    depth = 1;
    fn(ctx, 0, per < n ? per : n);
    run_claimed_chunks();   // whatever the workers have not started yet
    depth = 0;
    if (!spin_until_zero(&pool.remaining)) {
        pthread_mutex_lock(&pool.doneMu);
        atomic_store(&pool.callerSleeping, 1);
        while (atomic_load(&pool.remaining) != 0) pthread_cond_wait(&pool.doneCv, &pool.doneMu);
        atomic_store(&pool.callerSleeping, 0);
        pthread_mutex_unlock(&pool.doneMu);
    }
    atomic_store(&pool.busy, 0);
    return 0;
}
