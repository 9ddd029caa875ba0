//! Surveying and changing hosts over a [`crate::transport::Transport`]: facts, apply steps with
//! lock-out protection, confirmation, `--atomic` undo, session refresh, removal, adoption reads.
//! Per-host I/O in bounded parallel; nothing here prints.

pub mod adopt;
pub mod apply;
pub mod confirm;
pub mod deploy;
pub mod devices;
pub mod error;
pub mod exec;
pub mod fleet;
pub mod host_keys;
pub mod parallel;
pub mod removal;
pub mod rollback_keys;
pub mod survey;
#[cfg(test)]
pub(crate) mod testing;
pub mod types;
