//! The state after a run: how reached hosts were reached, and which decommissioned hosts it forgets.

use crate::core::change::Class;
use crate::core::error::Result;
use crate::engine::types::HostReport;
use crate::store::state::{Managed, State};
use std::path::Path;

/// What [`settle`] did to the state.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Decommissioned hosts the state forgot.
    pub forgotten: Vec<String>,
    /// Decommissioned hosts kept because another host still in the state is reached through them
    /// (`(jump host, host)`): forgetting them would leave that host unreachable.
    pub kept_as_jump: Vec<(String, String)>,
}

/// After a run: remember how the reached hosts were reached; forget the removed hosts that were
/// decommissioned (not those that failed or were rolled back, nor the jump host of a host the state
/// still holds). Saves the state when it changed.
pub fn settle(
    state: &mut State,
    reached: Vec<(String, Managed)>,
    reports: &[HostReport],
    path: &Path,
) -> Result<Settled> {
    let mut changed = false;
    for (name, managed) in reached {
        changed |= state.remember(&name, managed);
    }
    let decommissioned: Vec<String> = reports
        .iter()
        .filter(|report| {
            report.class == Some(Class::Remove) && !report.rolled_back && report.outcome.is_ok()
        })
        .map(|report| report.name.clone())
        .collect();
    let (forget, kept_as_jump) = {
        let jumps: Vec<(&str, Option<&str>)> = state
            .managed_hosts()
            .map(|(name, managed)| (name, managed.ssh.jump.as_deref()))
            .collect();
        crate::core::removal::forgettable(decommissioned, &jumps)
    };
    let mut settled = Settled {
        forgotten: Vec::new(),
        kept_as_jump,
    };
    for name in forget {
        if state.forget(&name) {
            changed = true;
            settled.forgotten.push(name);
        }
    }
    if changed {
        state.save(path)?;
    }
    Ok(settled)
}

/// What apply says about the state after [`settle`] (empty when nothing was forgotten or kept).
pub fn settled_text(settled: &Settled) -> String {
    let mut text = String::new();
    if !settled.forgotten.is_empty() {
        text.push_str(&format!(
            "forgotten in the state file: {}\n",
            settled.forgotten.join(", ")
        ));
    }
    for (jump, user) in &settled.kept_as_jump {
        text.push_str(&format!(
            "{jump}: decommissioned, but kept in the state file: {user} is reached through it\n"
        ));
    }
    text
}
