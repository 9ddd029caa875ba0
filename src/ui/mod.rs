//! Everything printed: plans, diffs, summaries, progress, `check` and `status` reports, JSON.
//! Formats what the other layers computed; decides nothing.

pub mod adopt;
pub mod check;
pub mod colour;
pub mod device;
pub mod errors;
pub mod graph;
pub mod json;
pub mod output;
pub mod plan_offline;
pub mod qr;
pub mod render;
pub mod status;
pub mod table;
