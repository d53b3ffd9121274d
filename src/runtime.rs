//! Process-wide settings that decide CPU speed.
//!
//! Measured here (bench/RESULTS.md): with glibc's default malloc settings,
//! libtorch's per-step temporaries are returned to the kernel and faulted
//! back in on every step (2.1 M page faults per MNIST epoch of LeNet-5,
//! 400 k per DAFL iteration at batch 512), which made two threads slower
//! than one. Keeping freed memory in the process removes that. The process
//! then holds on to its peak memory until it exits, as a training process
//! does anyway.

/// Applies the settings; call once at start-up, before heavy work.
pub fn init() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        const ONE_GIB: i32 = 1 << 30;
        const NEVER: i32 = -1;
        // SAFETY: mallopt only changes allocator parameters. Blocks under
        // 1 GiB come from the heap instead of fresh mappings, and the heap
        // is never trimmed (-1 disables trimming, see mallopt(3)).
        unsafe {
            mallopt(M_MMAP_THRESHOLD, ONE_GIB);
            mallopt(M_TRIM_THRESHOLD, NEVER);
        }
    }
}
