//! What `wgdeploy render` says: how many configs it wrote, and what it removed or left behind.

use crate::store::rendered::{Leftover, Why, Written};
use std::path::Path;

pub fn report(out: &Path, hosts: usize, written: &Written) -> String {
    let at = |path: &str| out.join(path).display().to_string();
    let mut text = format!(
        "rendered {hosts} hosts into {}: {} written, {} unchanged\n",
        out.display(),
        written.written,
        written.unchanged
    );
    for leftover in &written.removed {
        text.push_str(&format!(
            "removed {} ({})\n",
            at(&leftover.path),
            why(leftover)
        ));
    }
    for dir in &written.removed_dirs {
        text.push_str(&format!("removed the empty directory {}\n", at(dir)));
    }
    for leftover in &written.left_changed {
        text.push_str(&format!(
            "left {}: changed since render wrote it ({}); delete it if it is not needed\n",
            at(&leftover.path),
            why(leftover)
        ));
    }
    if !written.foreign.is_empty() {
        text.push_str(&format!(
            "note: left as they are (not written by render, or changed since), and read as hosts by `wgdeploy check --configs {}`:\n",
            out.display()
        ));
        for path in &written.foreign {
            text.push_str(&format!("  {}\n", at(path)));
        }
    }
    text
}

fn why(leftover: &Leftover) -> String {
    match &leftover.why {
        Why::HostGone { host } => format!("{host} is no longer in the inventory"),
        Why::InterfaceChanged { host, interface } => {
            format!("{host}'s interface is {interface} now")
        }
    }
}
