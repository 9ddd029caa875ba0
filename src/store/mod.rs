//! The operator's files: the state (keys, addresses, how hosts were reached) and the journal of
//! runs. Atomic writes, private modes, the state lock.

pub mod files;
pub mod journal;
pub mod render_manifest;
pub mod rendered;
pub mod state;
