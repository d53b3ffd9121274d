//! Seeding. One seed fixes every random draw of a run on CPU.
//!
//! libtorch's generator state is not reachable through tch, so a run does
//! not save it; instead every epoch starts by reseeding from (run seed,
//! epoch). An epoch's draws then depend only on those two numbers, and a run
//! resumed at an epoch boundary continues the same trajectory.

/// Seeds the global generator for model initialisation.
pub fn seed_init(seed: u64) {
    tch::manual_seed(seed as i64);
}

/// Seeds the global generator for epoch `epoch` of a run seeded with `seed`.
pub fn seed_epoch(seed: u64, epoch: usize) {
    tch::manual_seed(epoch_seed(seed, epoch) as i64);
}

/// A well-mixed 63-bit seed for (seed, epoch) (splitmix64 finaliser).
pub fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(epoch as u64 + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) >> 1
}

/// Seeds the global generator for the `attempt`-th renewal of a collapsed
/// synthesizer at epoch `epoch` (a fresh generator's weights), apart from
/// every epoch's stream.
pub fn seed_recovery(seed: u64, epoch: usize, attempt: usize) {
    let salted = seed ^ 0x7265_636f_7665_7279; // "recovery"
    tch::manual_seed(epoch_seed(salted, epoch * 64 + attempt) as i64);
}
