//! The whole pool: every novel batch is kept, and each student step replays
//! samples drawn uniformly from all of them. Its memory grows with the run,
//! which is what PRE-DFKD's memory generator avoids. The batches are kept
//! as shards in the run directory ([`crate::distill::kept`]), as the
//! model-inversion methods keep theirs.

use super::{check_fraction, replayed, Replay};
use crate::distill::kept::{Encoding, Shards};
use crate::distill::parts::{Assembly, ReplaySpec};
use crate::distill::{Losses, Models};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use tch::Tensor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// Samples replayed per student step, as a part of the batch size.
    pub fraction: f64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self { fraction: 0.125 }
    }
}

impl ReplaySpec for PoolConfig {
    fn check(&self) -> Result<()> {
        check_fraction(self.fraction)
    }

    fn keeps_every_batch(&self) -> bool {
        true
    }

    fn build(&self, a: &Assembly) -> Result<Box<dyn Replay>> {
        Ok(Box::new(Pool::new(
            replayed(self.fraction, a.batch_size),
            a.samples,
        )))
    }
}

pub struct Pool {
    /// Samples replayed per student step.
    draw: i64,
    kept: Shards,
}

const STATE: &str = "replay/pool";

impl Pool {
    /// A pool replaying `draw` samples per step, keeping its batches in `dir`.
    pub fn new(draw: i64, dir: &Path) -> Self {
        Self {
            draw,
            kept: Shards::new(dir, "pool", Encoding::Float),
        }
    }

    pub fn len(&self) -> i64 {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

impl Replay for Pool {
    fn sample(&mut self, _: &Models, _: &mut Losses) -> Result<Option<Tensor>> {
        if self.kept.is_empty() {
            return Ok(None);
        }
        let picks = Tensor::randint(self.kept.len(), [self.draw], crate::device::host_int64());
        let picks: Vec<i64> = Vec::try_from(&picks).expect("int64 indices");
        self.kept.rows(&picks).map(Some)
    }

    fn observe(&mut self, _: &Models, novel: &Tensor, _: usize, _: &mut Losses) -> Result<()> {
        self.kept.push(novel)
    }

    fn end_epoch(&mut self, _: usize) {}

    fn bytes(&self) -> u64 {
        self.kept.bytes()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        vec![self.kept.state(STATE)]
    }

    fn load_state(&mut self, s: &HashMap<String, Tensor>) -> Result<()> {
        self.kept.load_state(STATE, s)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{batch, with};
    use super::*;
    use tch::Kind;

    #[test]
    fn keeps_every_batch_and_draws_uniformly_from_all_samples() {
        let dir = std::env::temp_dir().join(format!("dfkd-pool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        with(|m| {
            let mut log = Losses::default();
            let mut pool = Pool::new(4000, &dir);
            assert!(pool.sample(m, &mut log).unwrap().is_none());
            // Batches of different sizes: uniform over samples, not batches.
            for (i, n) in [1, 3, 6].into_iter().enumerate() {
                pool.observe(m, &batch(n, i as f64), 0, &mut log).unwrap();
            }
            assert_eq!(pool.len(), 10);
            assert_eq!(pool.bytes(), 10 * 32 * 32 * 4);
            let drawn = pool.sample(m, &mut log).unwrap().unwrap();
            assert_eq!(drawn.size(), [4000, 1, 32, 32]);
            let ids = drawn.amax([1, 2, 3], false);
            for (id, share) in [(0.0, 0.1), (1.0, 0.3), (2.0, 0.6)] {
                let got = ids
                    .eq(id)
                    .to_kind(Kind::Float)
                    .mean(Kind::Float)
                    .double_value(&[]);
                assert!((got - share).abs() < 0.03, "batch {id}: {got} vs {share}");
            }
            let state: HashMap<String, Tensor> = pool.state().into_iter().collect();
            let mut back = Pool::new(4000, &dir);
            back.load_state(&state).unwrap();
            assert_eq!((back.len(), back.bytes()), (10, pool.bytes()));
        })
    }
}
