//! The interface settings a hand-written config carries beyond keys, addresses and peers (MTU,
//! DNS, Table, FwMark and the hooks): kept when the inventory renders the same, else reported
//! with the inventory line that keeps them. The first apply would otherwise drop them with only
//! a line in the plan's diff to show for it (a relay's own NAT rule, a site's MTU).

use super::{HostAdoption, Lost};
use crate::core::model::{Host, Inventory, Table};

/// What a config's `[Interface]` says besides keys, addresses and port, as written there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSettings {
    pub mtu: Option<u16>,
    pub dns: Vec<String>,
    pub table: Option<String>,
    pub fwmark: Option<String>,
    /// (`PreUp` | `PostUp` | `PreDown` | `PostDown`, command), in the config's order.
    pub hooks: Vec<(String, String)>,
}

impl ReadSettings {
    pub fn of(config: &crate::core::wgconf::WgConfig) -> ReadSettings {
        ReadSettings {
            mtu: config.mtu,
            dns: config.dns.clone(),
            table: config.table.clone(),
            fwmark: config.fwmark.clone(),
            hooks: config.hooks.clone(),
        }
    }
}

/// Compares what `read` holds with what the inventory renders for `host` (`forwards`: it gets
/// wgdeploy's own forwarding hooks too).
pub fn keep(
    inventory: &Inventory,
    host: &Host,
    forwards: bool,
    read: &ReadSettings,
    out: &mut HostAdoption,
) {
    let name = host.name.as_str();
    let wanted = &host.settings.interface;
    let mut differs = |what: String, why: String, field: String| {
        out.lost.push(Lost {
            what,
            why,
            fix: Some(format!(
                "to keep it, set `{field}` under `{name}:` in the inventory"
            )),
        })
    };
    if let Some(mtu) = read.mtu {
        match wanted.mtu {
            Some(want) if want == mtu => out.kept.push(format!("MTU {mtu}")),
            Some(want) => differs(
                format!("MTU {mtu}"),
                format!("the inventory gives MTU {want}"),
                format!("mtu: {mtu}"),
            ),
            None => differs(
                format!("MTU {mtu}"),
                "the inventory sets no MTU (wg-quick picks one)".into(),
                format!("mtu: {mtu}"),
            ),
        }
    }
    if !read.dns.is_empty() {
        let dns = read.dns.join(", ");
        if read.dns == wanted.dns {
            out.kept.push(format!("DNS {dns}"));
        } else if wanted.dns.is_empty() {
            differs(
                format!("DNS = {dns}"),
                "the inventory sets no DNS".into(),
                format!("dns: [{dns}]"),
            );
        } else {
            differs(
                format!("DNS = {dns}"),
                format!("the inventory gives DNS = {}", wanted.dns.join(", ")),
                format!("dns: [{dns}]"),
            );
        }
    }
    if let Some(table) = &read.table {
        let want = wanted
            .table
            .as_ref()
            .map_or(Table::Auto, Clone::clone)
            .to_string();
        if table.eq_ignore_ascii_case(&want) {
            out.kept.push(format!("Table {table}"));
        } else {
            differs(
                format!("Table = {table}"),
                format!("the inventory gives Table = {want}"),
                format!("table: {table}"),
            );
        }
    }
    if let Some(fwmark) = &read.fwmark {
        let read_mark = parse_mark(fwmark);
        if read_mark.is_some() && read_mark == Some(wanted.fwmark) {
            out.kept.push(format!("FwMark {fwmark}"));
        } else {
            let why = match wanted.fwmark {
                Some(mark) => format!("the inventory gives FwMark {mark:#x}"),
                None => "the inventory sets no FwMark".into(),
            };
            differs(
                format!("FwMark = {fwmark}"),
                why,
                format!("fwmark: {fwmark}"),
            );
        }
    }
    let (own_up, own_down) = if forwards {
        crate::core::forwarding::hooks(inventory, host)
    } else {
        (Vec::new(), Vec::new())
    };
    for (kind, command) in &read.hooks {
        let (field, rendered): (&str, Vec<&String>) = match kind.as_str() {
            "PreUp" => ("pre_up", wanted.pre_up.iter().collect()),
            "PostUp" => ("post_up", wanted.post_up.iter().chain(&own_up).collect()),
            "PreDown" => ("pre_down", wanted.pre_down.iter().collect()),
            _ => (
                "post_down",
                wanted.post_down.iter().chain(&own_down).collect(),
            ),
        };
        if rendered.iter().any(|line| line.trim() == command.trim()) {
            out.kept.push(format!("{kind} = {command}"));
            continue;
        }
        // A hook that sets the key from a file: the key itself is what adopt keeps (read from the
        // running interface), and the config wgdeploy writes carries it.
        if command.contains("private-key") && command.trim_start().starts_with("wg set") {
            out.lost.push(Lost {
                what: format!("{kind} = {command}"),
                why: "the key it sets is kept, and wgdeploy writes it into the config itself"
                    .into(),
                fix: None,
            });
            continue;
        }
        let why = if forwards {
            format!(
                "the inventory has no such `{field}` (wgdeploy renders its own forwarding hooks for `{name}`, which forwards: this one may be redundant)"
            )
        } else {
            format!("the inventory has no such `{field}`")
        };
        out.lost.push(Lost {
            what: format!("{kind} = {command}"),
            why,
            fix: Some(format!(
                "to keep it, add it to `{field}:` under `{name}:` in the inventory"
            )),
        });
    }
}

/// wg-quick's FwMark: `off`, a decimal or a 0x number.
fn parse_mark(text: &str) -> Option<Option<u32>> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Some(None);
    }
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok().map(Some),
        None => text.parse().ok().map(Some),
    }
}
