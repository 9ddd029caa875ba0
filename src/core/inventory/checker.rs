//! Collecting located problems: saphyr locations → [`At`]s with the source line attached.

use super::raw::OneOrMany;
use crate::core::error::{At, Diagnostic};
use serde_saphyr::{Location, Spanned};
use std::path::Path;

/// Collects diagnostics and turns saphyr locations into [`At`]s with the source line attached.
pub(super) struct Checker<'a> {
    pub(super) file: &'a Path,
    pub(super) source: &'a str,
    /// The source split once: every value gets a location, and rescanning per value is quadratic.
    lines: Vec<&'a str>,
    pub(super) problems: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(file: &'a Path, source: &'a str) -> Checker<'a> {
        Checker {
            file,
            source,
            lines: source.lines().collect(),
            problems: Vec::new(),
        }
    }

    /// The text of a node exactly as written (`yes`, `0x10`, `[a, b]`), from its span. A flow
    /// list or mapping (whose span covers only its opening bracket) runs to its closing bracket
    /// on the same line.
    pub(super) fn written(&self, location: &Location) -> Option<&'a str> {
        let span = location.span();
        let start = usize::try_from(span.byte_offset()?).ok()?;
        let len = usize::try_from(span.byte_len()?).ok()?;
        let text = self.source.get(start..start.checked_add(len)?)?;
        if text.starts_with('*') {
            // An alias: its text is the alias's name, not the value.
            return None;
        }
        let (opener, closer) = match text {
            "[" => ('[', ']'),
            "{" => ('{', '}'),
            _ => return Some(text),
        };
        let rest = self.source.get(start..)?;
        let line = rest.lines().next().unwrap_or(rest);
        let mut depth = 0usize;
        for (offset, c) in line.char_indices() {
            if c == opener {
                depth += 1;
            } else if c == closer {
                depth -= 1;
                if depth == 0 {
                    return line.get(..offset + 1);
                }
            }
        }
        Some(line)
    }

    pub(super) fn at(&self, location: &Location) -> Option<At> {
        if *location == Location::UNKNOWN || location.line() == 0 {
            return None;
        }
        Some(At::in_lines(
            self.file,
            &self.lines,
            location.line() as usize,
            location.column() as usize,
        ))
    }

    pub(super) fn at_of<T>(&self, spanned: &Spanned<T>) -> Option<At> {
        self.at(&spanned.referenced)
    }

    /// Records a problem. `at` falls back to the whole file so every error names the file.
    pub(super) fn report(
        &mut self,
        at: Option<At>,
        host: Option<&str>,
        message: String,
        help: Option<String>,
    ) {
        let mut diagnostic = Diagnostic::new(message);
        diagnostic.at = Some(at.unwrap_or_else(|| At::file(self.file)));
        diagnostic.host = host.map(str::to_owned);
        diagnostic.help = help;
        self.problems.push(diagnostic);
    }

    /// An integer setting within `min..=max`.
    pub(super) fn number(
        &mut self,
        value: &Spanned<i64>,
        host: Option<&str>,
        what: &str,
        min: u16,
        max: u16,
    ) -> Option<u16> {
        match u16::try_from(value.value) {
            Ok(number) if (min..=max).contains(&number) => Some(number),
            _ => {
                let at = self.at_of(value);
                self.report(
                    at,
                    host,
                    format!("`{what}` is {}, outside {min}-{max}", value.value),
                    Some(format!("use a whole number from {min} to {max}")),
                );
                None
            }
        }
    }

    /// Items of a scalar-or-list value, each with the best location known for it.
    pub(super) fn items<'v>(&self, value: &'v Spanned<OneOrMany>) -> Vec<(&'v str, Option<At>)> {
        let outer = self.at_of(value);
        value
            .value
            .0
            .iter()
            .map(|item| {
                (
                    item.value.as_str(),
                    self.at_of(item).or_else(|| outer.clone()),
                )
            })
            .collect()
    }
}
