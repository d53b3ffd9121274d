//! MB-DFKD's memory bank (Binici et al., WACV 2022): a cyclic buffer of past
//! novel batches. Every `every` epochs the first `fraction` of the epoch's
//! last novel batch is pushed; each student step replays one stored batch
//! chosen at random, concatenated with the novel one (as the re-implementation
//! in gaurav104/LRA, `predfkd_memory.py`, does).

use super::{check_fraction, load_numbered, numbered, replayed, Replay};
use crate::distill::parts::{Assembly, ReplaySpec};
use crate::distill::{Losses, Models};
use crate::nn::store::tensor_bytes;
use crate::state;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::Tensor;

/// MB-DFKD's bank, with the re-implementation's settings as defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BankConfig {
    /// Batches held.
    pub capacity: usize,
    /// A batch is pushed at the end of every `every`-th epoch.
    pub every: usize,
    /// Part of the novel batch kept per push, and so replayed per step.
    pub fraction: f64,
}

impl Default for BankConfig {
    fn default() -> Self {
        Self {
            capacity: 10,
            every: 5,
            fraction: 0.125,
        }
    }
}

impl ReplaySpec for BankConfig {
    fn check(&self) -> Result<()> {
        if self.capacity == 0 || self.every == 0 {
            bail!("capacity and every must be positive");
        }
        check_fraction(self.fraction)
    }

    fn build(&self, a: &Assembly) -> Result<Box<dyn Replay>> {
        Ok(Box::new(MemoryBank::new(
            self.capacity,
            self.every,
            replayed(self.fraction, a.batch_size),
        )))
    }
}

pub struct MemoryBank {
    capacity: usize,
    every: usize,
    keep: i64,
    batches: Vec<Tensor>,
    /// Where the next push goes once the bank is full.
    next: usize,
    /// The latest novel batch's kept part, pushed at the end of a push epoch.
    latest: Option<Tensor>,
}

impl MemoryBank {
    /// A bank of `capacity` batches of `keep` samples, pushed every `every`
    /// epochs.
    pub fn new(capacity: usize, every: usize, keep: i64) -> Self {
        Self {
            capacity,
            every,
            keep,
            batches: Vec::new(),
            next: 0,
            latest: None,
        }
    }

    pub fn len(&self) -> usize {
        self.batches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

impl Replay for MemoryBank {
    fn sample(&mut self, _: &Models, _: &mut Losses) -> Result<Option<Tensor>> {
        if self.batches.is_empty() {
            return Ok(None);
        }
        let i = Tensor::randint(self.batches.len() as i64, [1], crate::device::host_int64())
            .int64_value(&[0]) as usize;
        Ok(Some(self.batches[i].shallow_clone()))
    }

    fn observe(&mut self, _: &Models, novel: &Tensor, _: usize, _: &mut Losses) -> Result<()> {
        let keep = self.keep.min(novel.size()[0]);
        self.latest = Some(novel.narrow(0, 0, keep).detach().copy());
        Ok(())
    }

    fn end_epoch(&mut self, epoch: usize) {
        if !epoch.is_multiple_of(self.every) {
            return;
        }
        let Some(batch) = self.latest.take() else {
            return;
        };
        if self.batches.len() < self.capacity {
            self.batches.push(batch);
        } else {
            self.batches[self.next] = batch;
            self.next = (self.next + 1) % self.capacity;
        }
    }

    fn bytes(&self) -> u64 {
        self.batches.iter().map(tensor_bytes).sum()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = numbered("replay/bank", &self.batches);
        out.push(("replay/next".into(), Tensor::from(self.next as i64)));
        out
    }

    fn load_state(&mut self, s: &HashMap<String, Tensor>) -> Result<()> {
        self.batches = load_numbered("replay/bank", s);
        if self.batches.len() > self.capacity {
            bail!(
                "resume state holds {} memory-bank batches, more than the capacity {}",
                self.batches.len(),
                self.capacity
            );
        }
        self.next = state::require(s, "replay/next")?.int64_value(&[]) as usize;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{batch, ids, with};
    use super::*;

    #[test]
    fn pushes_every_k_epochs_and_overwrites_the_oldest_when_full() {
        with(|m| {
            let mut log = Losses::default();
            let mut bank = MemoryBank::new(2, 2, 3);
            for epoch in 0..7 {
                assert_eq!(bank.sample(m, &mut log).unwrap().is_none(), epoch == 0);
                // Two steps per epoch; the epoch's last batch is the one kept.
                bank.observe(m, &batch(8, -1.0), 0, &mut log).unwrap();
                bank.observe(m, &batch(8, epoch as f64), 1, &mut log)
                    .unwrap();
                bank.end_epoch(epoch);
            }
            // Pushed at epochs 0, 2, 4, 6 into two slots: 6 replaced 2.
            let held: Vec<i64> = bank.batches.iter().flat_map(ids).collect();
            assert_eq!(held, [4, 6]);
            assert_eq!(bank.bytes(), 2 * 3 * 32 * 32 * 4);
            let replayed = bank.sample(m, &mut log).unwrap().unwrap();
            assert_eq!(replayed.size(), [3, 1, 32, 32]);
            assert!([[4], [6]].contains(&[ids(&replayed)[0]]));
        })
    }

    #[test]
    fn replays_every_stored_batch_and_survives_a_resume() {
        with(|m| {
            let mut log = Losses::default();
            let mut bank = MemoryBank::new(3, 1, 4);
            for epoch in 0..4 {
                bank.observe(m, &batch(4, epoch as f64), 0, &mut log)
                    .unwrap();
                bank.end_epoch(epoch);
            }
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..100 {
                seen.insert(ids(&bank.sample(m, &mut log).unwrap().unwrap())[0]);
            }
            assert_eq!(seen.into_iter().collect::<Vec<_>>(), [1, 2, 3]);
            let state: HashMap<String, Tensor> = bank.state().into_iter().collect();
            let mut back = MemoryBank::new(3, 1, 4);
            back.load_state(&state).unwrap();
            assert_eq!((back.len(), back.next), (3, 1));
            tch::manual_seed(5);
            let a = bank.sample(m, &mut log).unwrap().unwrap();
            tch::manual_seed(5);
            assert!(a.equal(&back.sample(m, &mut log).unwrap().unwrap()));
        })
    }
}
