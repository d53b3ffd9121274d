//! The whole pool (DeepInversion and CMI style): every novel batch is kept,
//! and each student step replays samples drawn uniformly from all of them.
//! Its memory grows with the run, which is what PRE-DFKD's memory generator
//! avoids.

use super::{load_numbered, numbered, Replay};
use crate::distill::synth::Models;
use crate::distill::Losses;
use crate::nn::store::tensor_bytes;
use anyhow::Result;
use std::collections::HashMap;
use tch::{Kind, Tensor};

pub struct Pool {
    /// Samples replayed per student step.
    draw: i64,
    /// Kept batches; sampled as one pool.
    batches: Vec<Tensor>,
    /// Samples held, and each batch's first index in the pool.
    len: i64,
    starts: Vec<i64>,
}

impl Pool {
    pub fn new(draw: i64) -> Self {
        Self {
            draw,
            batches: Vec::new(),
            len: 0,
            starts: Vec::new(),
        }
    }

    fn push(&mut self, batch: Tensor) {
        self.starts.push(self.len);
        self.len += batch.size()[0];
        self.batches.push(batch);
    }

    pub fn len(&self) -> i64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Replay for Pool {
    fn sample(&mut self, _: &Models, _: &mut Losses) -> Option<Tensor> {
        if self.len == 0 {
            return None;
        }
        let picks = Tensor::randint(self.len, [self.draw], (Kind::Int64, tch::Device::Cpu));
        let picks: Vec<i64> = Vec::try_from(&picks).expect("int64 indices");
        let rows: Vec<Tensor> = picks
            .iter()
            .map(|&p| {
                let b = self.starts.partition_point(|&s| s <= p) - 1;
                self.batches[b].narrow(0, p - self.starts[b], 1)
            })
            .collect();
        Some(Tensor::cat(&rows, 0))
    }

    fn observe(&mut self, _: &Models, novel: &Tensor, _: usize, _: &mut Losses) {
        self.push(novel.detach().copy());
    }

    fn end_epoch(&mut self, _: usize) {}

    fn bytes(&self) -> u64 {
        self.batches.iter().map(tensor_bytes).sum()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        numbered("replay/pool", &self.batches)
    }

    fn load_state(&mut self, s: &HashMap<String, Tensor>) -> Result<()> {
        *self = Self::new(self.draw);
        for b in load_numbered("replay/pool", s) {
            self.push(b);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{batch, with};
    use super::*;

    #[test]
    fn keeps_every_batch_and_draws_uniformly_from_all_samples() {
        with(|m| {
            let mut log = Losses::default();
            let mut pool = Pool::new(4000);
            assert!(pool.sample(m, &mut log).is_none());
            // Batches of different sizes: uniform over samples, not batches.
            for (i, n) in [1, 3, 6].into_iter().enumerate() {
                pool.observe(m, &batch(n, i as f64), 0, &mut log);
            }
            assert_eq!(pool.len(), 10);
            assert_eq!(pool.bytes(), 10 * 32 * 32 * 4);
            let drawn = pool.sample(m, &mut log).unwrap();
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
            let mut back = Pool::new(4000);
            back.load_state(&state).unwrap();
            assert_eq!((back.len(), back.bytes()), (10, pool.bytes()));
        })
    }
}
