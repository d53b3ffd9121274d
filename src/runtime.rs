//! Process-wide settings that decide CPU speed.
//!
//! Measured here (bench/RESULTS.md): with glibc's default malloc settings,
//! libtorch's per-step temporaries are returned to the kernel and faulted
//! back in on every step (2.1 M page faults per MNIST epoch of LeNet-5),
//! which made two threads slower than one. Keeping freed memory in the
//! process removes that: 60 k page faults and the step runs faster than the
//! same step in PyTorch.

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
        // SAFETY: mallopt only changes allocator parameters; both values
        // are within its documented range on 64-bit glibc.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, ONE_GIB);
            mallopt(M_TRIM_THRESHOLD, ONE_GIB);
        }
    }
}
