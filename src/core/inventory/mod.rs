//! Reading an inventory file: YAML → raw structs (serde-saphyr) → validated model.

mod raw;
mod settings;
mod validate;

pub use settings::{MTU_MAX, mtu_min};
pub(crate) use validate::edit_distance;
pub use validate::{DEFAULT_KEEPALIVE, DEFAULT_PORT};

use crate::core::error::{At, Diagnostic, Error, Result};
use crate::core::model::Inventory;
use serde_saphyr::{SnippetMode, render_options};
use std::path::Path;

/// Reads and validates the inventory at `path`.
pub fn load(path: &Path) -> Result<Inventory> {
    let source =
        std::fs::read_to_string(path).map_err(|err| Error::io("read inventory", path, &err))?;
    parse(path, &source)
}

/// Validates inventory text; `path` is only used to name the file in errors.
pub fn parse(path: &Path, source: &str) -> Result<Inventory> {
    let has_content = source.lines().any(|line| {
        !line.trim().is_empty() && !line.trim_start().starts_with('#') && line.trim() != "---"
    });
    if !has_content {
        return Err(Diagnostic::new("the inventory is empty")
            .at(At::file(path))
            .help("start from `examples/nat-relay/inventory.yaml`")
            .into());
    }
    let raw: raw::RawInventory =
        serde_saphyr::from_str(source).map_err(|err| yaml_error(path, source, &err))?;
    validate::validate(path, source, raw)
}

/// A YAML or type error, reworded into wgdeploy's error style with its location.
fn yaml_error(path: &Path, source: &str, err: &serde_saphyr::Error) -> Error {
    let plain = err
        .without_snippet()
        .render_with_options(render_options! { snippets: SnippetMode::Off });
    let mut message = strip_location_suffix(&plain);
    let help = help_for(&message);
    let (line, column) = match err.location() {
        Some(location) if location.line() > 0 => {
            (location.line() as usize, location.column() as usize)
        }
        _ => (0, 0),
    };
    let at = if line > 0 {
        At::in_source(path, source, line, column)
    } else {
        At::file(path)
    };
    if let Some(key) = message.strip_prefix("duplicate mapping key: ") {
        let key = key.split(',').next().unwrap_or(key).trim();
        message = format!("duplicate key `{key}`");
    } else if (message.starts_with("invalid") || message.starts_with("expected"))
        && let Some(key) = key_on_line(source, line)
    {
        message = format!(
            "`{key}` has a value of the wrong type: expected {}",
            expected_for(&key)
        );
    }
    let mut diagnostic = Diagnostic::new(message).at(at).help(help);
    diagnostic.host = host_at_line(source, line);
    diagnostic.into()
}

fn help_for(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (wrong, expected) = rest.split_once("`, expected one of ").unwrap_or((rest, ""));
        let wrong = wrong.trim_end_matches('`');
        let closest = expected
            .split(", ")
            .map(|name| name.trim_matches('`'))
            .filter(|name| !name.is_empty())
            .map(|name| (validate::edit_distance(wrong, name), name))
            .filter(|(distance, _)| *distance <= 3)
            .min();
        return match closest {
            Some((_, name)) => format!("did you mean `{name}`?"),
            None => "remove or correct the key; the expected keys are listed above".into(),
        };
    }
    if message.contains("duplicate") {
        "each key, including each host name, may appear only once".into()
    } else if message.starts_with("invalid") || message.starts_with("expected") {
        "check the value's type against the inventory format in README.md".into()
    } else {
        "check the YAML syntax at or before this position: indentation, `:` after keys, quoting, an unclosed `[` or `{`".into()
    }
}

/// The mapping key written on `line` (1-based), e.g. `port` for `  port: abc`.
fn key_on_line(source: &str, line: usize) -> Option<String> {
    let text = source.lines().nth(line.checked_sub(1)?)?;
    let key = text.split_once(':')?.0.trim().trim_start_matches("- ");
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| key.to_owned())
}

fn expected_for(key: &str) -> &'static str {
    match key {
        "port" | "keepalive" | "mtu" | "listen_port" => "a whole number",
        "relay" | "preshared_keys" | "manage" => "`true` or `false`",
        "addresses" | "address" | "routes" => "an address or a list of them",
        "dns" => "a resolver address or search domain, or a list of them",
        "pre_up" | "post_up" | "pre_down" | "post_down" => "a command or a list of commands",
        "table" => "`auto`, `off` or a table number",
        "fwmark" => "a number, hex such as `0xca6c`, or `off`",
        "allowed_ips" => "a mapping of peer names to prefixes, e.g. `{ relay1: [198.18.60.0/24] }`",
        _ => "a plain value",
    }
}

/// The host whose block contains `line`, for errors found while parsing: the nearest key above
/// the line at the indentation of the entries under the top-level `hosts:`.
fn host_at_line(source: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = source.lines().take(line).collect();
    let hosts_line = lines.iter().position(|text| text.starts_with("hosts:"))?;
    let indent_of = |text: &str| text.len() - text.trim_start().len();
    let entries = &lines[hosts_line + 1..];
    let host_indent = entries
        .iter()
        .find(|text| !text.trim().is_empty() && !text.trim_start().starts_with('#'))
        .map(|text| indent_of(text))?;
    entries.iter().rev().find_map(|text| {
        let body = text.trim_start();
        if indent_of(text) != host_indent || body.starts_with('#') {
            return None;
        }
        let name = body.split_once(':')?.0.trim();
        crate::core::model::HostName::parse(name)
            .ok()
            .map(|name| name.to_string())
    })
}

/// saphyr appends " at line L column C"; the location is printed separately.
fn strip_location_suffix(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or(message).trim();
    let trimmed = match first_line.rfind(" at line ") {
        Some(index) => &first_line[..index],
        None => first_line,
    };
    let mut text = trimmed.trim_end_matches('.').to_owned();
    if let Some(first) = text.get(..1) {
        let lower = first.to_lowercase();
        text.replace_range(..1, &lower);
    }
    text
}
