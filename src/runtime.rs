//! Process-wide settings that decide CPU speed.
//!
//! Measured here (bench/RESULTS.md): with glibc's default malloc settings,
//! libtorch's per-step temporaries are returned to the kernel and faulted
//! back in on every step (2.1 M page faults per MNIST epoch of LeNet-5,
//! 400 k per DAFL iteration at batch 512), which made two threads slower
//! than one. Keeping freed memory in the process removes that. The process
//! then holds on to its peak memory until it exits, as a training process
//! does anyway.
//!
//! Denormal floats are flushed to zero (inputs and results, the SSE/AVX
//! FTZ and DAZ flags, what PyTorch's `torch.set_flush_denormal(True)` sets).
//! Measured here: a DeepDream synthesis on the CIFAR-10 ResNet-56 drives the
//! teacher's cross-entropy to 1e-4, its backward pass then runs on denormal
//! gradients, and epoch 7 of the cifar10-cpu run had not finished after 10
//! minutes; flushed, it took 107 s (bench/RESULTS.md). Values below 1.2e-38
//! become 0, which changes no result a float32 training can see. Threads
//! libtorch starts later inherit the flags from this one.

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
    #[cfg(target_arch = "x86_64")]
    {
        const FLUSH_TO_ZERO: u32 = 0x8000;
        const DENORMALS_ARE_ZERO: u32 = 0x0040;
        // SAFETY: only the floating-point control flags of this thread
        // change; std exposes no safe way to set them.
        #[allow(deprecated)]
        unsafe {
            use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
            _mm_setcsr(_mm_getcsr() | FLUSH_TO_ZERO | DENORMALS_ARE_ZERO);
        }
    }
}
