//! Test fixtures shared by the engine's tests (`apply`, `removal`): a silent reporter, a run and
//! its limits.

use crate::engine::types::{Limits, Reporter, Run};
use std::sync::Arc;
use std::time::Duration;

/// A reporter that shows nothing.
pub struct Quiet;

impl Reporter for Quiet {
    fn update(&self, _: &str, _: &str) {}
    fn finish(&self, _: &str, _: bool, _: &str) {}
}

/// An apply run (`--atomic` or not) that keeps 10 generations, with a 5 s confirm window.
pub fn run_of(atomic: bool) -> Arc<Run> {
    Arc::new(Run {
        deployment: "20261125-101500-abcd".into(),
        kind: "apply",
        inventory_digest: "sha256:00".into(),
        keep: 10,
        confirm_timeout: Duration::from_secs(5),
        atomic,
    })
}

/// `parallel` hosts at a time, 5 s to connect and 5 s per step.
pub fn limits(parallel: usize) -> Limits {
    Limits {
        parallel,
        connect: Duration::from_secs(5),
        apply: Duration::from_secs(5),
    }
}
