//! Errors of the YAML reader itself (syntax, duplicate keys, size limits), reworded into
//! wgdeploy's error style with their location. What values mean is not decided here.

use crate::core::error::{At, Diagnostic, Error};
use crate::core::model::{printable_cut, printable_excerpt};
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{SnippetMode, render_options};
use std::path::Path;

/// Nodes (keys, values, lists, mappings) serde-saphyr reads before it stops: its default budget,
/// which keeps a hostile or runaway file from exhausting memory.
const MAX_NODES: usize = 250_000;

pub(super) fn yaml_error(path: &Path, source: &str, err: &serde_saphyr::Error) -> Error {
    let err = err.without_snippet();
    let (line, column) = match err.location() {
        Some(location) if location.line() > 0 => {
            (location.line() as usize, location.column() as usize)
        }
        _ => (0, 0),
    };
    let located = || {
        if line > 0 {
            At::in_source(path, source, line, column)
        } else {
            At::file(path)
        }
    };
    let line_text = line
        .checked_sub(1)
        .and_then(|index| source.lines().nth(index));
    let (message, help, at, host) = match err {
        serde_saphyr::Error::Budget { breach, .. } => {
            let (message, help) = too_large(breach);
            (message, help, At::file(path), None)
        }
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => (
            match key {
                Some(key) => format!("duplicate key `{}`", printable_excerpt(key)),
                None => "duplicate key".into(),
            },
            "each key, including each host name, may appear only once".into(),
            located(),
            host_at_line(source, line),
        ),
        serde_saphyr::Error::MultipleDocuments { .. } => (
            "the inventory holds several YAML documents (separated by `---`)".into(),
            "keep one inventory per file".into(),
            located(),
            None,
        ),
        _ => match line_text.and_then(bracketed_value) {
            Some((key, value)) => (
                format!(
                    "the value of `{key}` starts with `{}`, so YAML reads it as a {}, and `{value}` is not one",
                    value.chars().next().unwrap_or('['),
                    if value.starts_with('{') {
                        "mapping"
                    } else {
                        "list"
                    }
                ),
                format!("quote the value: `{key}: \"{value}\"`"),
                located(),
                host_at_line(source, line),
            ),
            None => (
                format!("the file is not valid YAML: {}", parser_message(err)),
                "check the YAML syntax at or before this position: indentation, `:` after keys, quoting, an unclosed `[` or `{`".into(),
                located(),
                host_at_line(source, line),
            ),
        },
    };
    let mut diagnostic = Diagnostic::new(message).at(at).help(help);
    diagnostic.host = host;
    diagnostic.into()
}

/// A size limit, in the inventory's terms.
fn too_large(breach: &BudgetBreach) -> (String, String) {
    let split =
        "split the fleet into several inventories (each with its own interface and overlay range)";
    match breach {
        BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => (
            format!(
                "the inventory is too large: wgdeploy reads at most {} YAML nodes (every key, value, list and mapping counts; a host takes 2 to 20)",
                thousands(MAX_NODES)
            ),
            format!("{split}, or move settings shared by many hosts into `network` and `defaults`"),
        ),
        BudgetBreach::ScalarBytes { .. } | BudgetBreach::InputBytes { .. } => (
            "the inventory is too large: it holds more than 64 MiB of text".into(),
            split.into(),
        ),
        BudgetBreach::Depth { .. } => (
            "the inventory nests mappings or lists more than 64 levels deep".into(),
            "an inventory needs three levels (`hosts:` → host → `ssh:`); check the indentation".into(),
        ),
        _ => (
            "the inventory uses too many YAML anchors or aliases (`&name`, `*name`)".into(),
            "write the values out; settings shared by many hosts belong in `network` and `defaults`".into(),
        ),
    }
}

fn thousands(number: usize) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The YAML parser's own words, without its location suffix (printed separately) and cut: they
/// may quote the file.
fn parser_message(err: &serde_saphyr::Error) -> String {
    let plain = err.render_with_options(render_options! { snippets: SnippetMode::Off });
    let first_line = plain.lines().next().unwrap_or(&plain).trim();
    let first_line = first_line
        .strip_prefix("error: ")
        .unwrap_or(first_line)
        .trim();
    // "line 3 column 28: while parsing…" or "… at line 3 column 28".
    let without_prefix = match first_line.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") && head.contains(" column ") => rest,
        _ => first_line,
    };
    let trimmed = match without_prefix.rfind(" at line ") {
        Some(index) => &without_prefix[..index],
        None => without_prefix,
    };
    // The parser's sentences run up to ~70 characters; a quoted value could run to megabytes.
    let mut text = printable_cut(trimmed.trim_end_matches('.'), 200);
    if let Some(first) = text.get(..1) {
        let lower = first.to_lowercase();
        text.replace_range(..1, &lower);
    }
    text
}

/// `endpoint: [2001:db8::1]:51820`: a value that starts with `[` or `{` and goes on after its
/// closing bracket, which YAML cannot read. The key and the whole value as written.
fn bracketed_value(line: &str) -> Option<(String, String)> {
    for (index, _) in line.match_indices(": ") {
        let rest = line[index + 2..].trim_start();
        let opener = rest.chars().next()?;
        let closer = match opener {
            '[' => ']',
            '{' => '}',
            _ => continue,
        };
        let mut depth = 0usize;
        let mut close = None;
        for (offset, c) in rest.char_indices() {
            if c == opener {
                depth += 1;
            } else if c == closer {
                depth -= 1;
                if depth == 0 {
                    close = Some(offset + c.len_utf8());
                    break;
                }
            }
        }
        let close = close?;
        let after = &rest[close..];
        if after.is_empty() || after.starts_with([' ', '\t', ',', '}', ']', '#']) {
            continue;
        }
        // The value runs to the end of its flow entry (`,` or `}`) or of the line.
        let end = after
            .find([',', '}', ' ', '\t', '#'])
            .map_or(rest.len(), |offset| close + offset);
        let key = line[..index]
            .trim_end()
            .rsplit(['{', ',', ' ', '\t'])
            .next()?
            .trim_start_matches("- ")
            .trim();
        if key.is_empty() {
            continue;
        }
        return Some((printable_excerpt(key), printable_excerpt(&rest[..end])));
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_value_yaml_reads_as_a_list() {
        assert_eq!(
            bracketed_value("    endpoint: [2001:db8::1]:51820"),
            Some(("endpoint".into(), "[2001:db8::1]:51820".into()))
        );
        assert_eq!(
            bracketed_value("  relay1: { endpoint: [2001:db8::1]:51820, relay: true }"),
            Some(("endpoint".into(), "[2001:db8::1]:51820".into()))
        );
        assert_eq!(bracketed_value("  addresses: [100.64.0.0/24]"), None);
        assert_eq!(bracketed_value("  r: { a: [x], b: 1 }"), None);
    }

    #[test]
    fn numbers_get_separators() {
        assert_eq!(thousands(250_000), "250,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
