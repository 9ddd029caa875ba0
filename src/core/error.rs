//! The one error type of wgdeploy and its one renderer.
//!
//! Every failure a user can cause becomes a [`Diagnostic`]: a lowercase message with names in
//! backticks, where it happened (file, line, column and the offending line), which host it concerns,
//! and how to fix it. Several diagnostics travel together so a user sees every problem of an
//! inventory in one run instead of fixing them one at a time.
//!
//! Diagnostics never carry key material: callers build messages from names and locations only.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a source file, 1-based, plus the text of that line for the snippet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The line, or the part of a long line around the column (cut with `…`).
    pub text: Option<String>,
    /// The column within `text` (1-based) where the caret goes: `column` unless the line was cut.
    pub caret: usize,
}

/// Characters of a source line shown around the column; a longer line (a 10 MB value, a whole
/// inventory in flow style on one line) is cut so that an error stays a few lines long.
const EXCERPT_CHARS: usize = 100;

impl At {
    /// A location inside `source` (the whole text of `file`), with that line captured for display.
    pub fn in_source(file: &Path, source: &str, line: usize, column: usize) -> At {
        let text = line
            .checked_sub(1)
            .and_then(|index| source.lines().nth(index));
        At::with_text(file, text, line, column)
    }

    /// Like [`At::in_source`] with the source already split into lines, for callers that make many
    /// locations (one per inventory value) and must not rescan the file each time.
    pub fn in_lines(file: &Path, lines: &[&str], line: usize, column: usize) -> At {
        let text = line
            .checked_sub(1)
            .and_then(|index| lines.get(index).copied());
        At::with_text(file, text, line, column)
    }

    fn with_text(file: &Path, text: Option<&str>, line: usize, column: usize) -> At {
        let column = column.max(1);
        let (text, caret) = match text {
            Some(text) => {
                let (text, caret) = excerpt(text, column);
                (Some(text), caret)
            }
            None => (None, column),
        };
        At {
            file: file.to_owned(),
            line,
            column,
            text,
            caret,
        }
    }

    /// A whole file, when there is no better position (missing file, empty inventory).
    pub fn file(file: &Path) -> At {
        At {
            file: file.to_owned(),
            line: 0,
            column: 0,
            text: None,
            caret: 0,
        }
    }
}

/// At most [`EXCERPT_CHARS`] characters of `line` around `column` (1-based, in characters), with
/// `…` where it was cut, and the caret's column within the excerpt.
fn excerpt(line: &str, column: usize) -> (String, usize) {
    let length = line.chars().count();
    if length <= EXCERPT_CHARS {
        return (line.to_owned(), column);
    }
    let index = column.saturating_sub(1).min(length);
    let start = index.saturating_sub(EXCERPT_CHARS / 3);
    let end = (start + EXCERPT_CHARS).min(length);
    let mut text: String = line.chars().skip(start).take(end - start).collect();
    let mut caret = index - start + 1;
    if start > 0 {
        text.insert(0, '…');
        caret += 1;
    }
    if end < length {
        text.push('…');
    }
    (text, caret)
}

/// One problem, with everything a person needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub at: Option<At>,
    pub host: Option<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            at: None,
            host: None,
            help: None,
        }
    }

    pub fn at(mut self, at: At) -> Diagnostic {
        self.at = Some(at);
        self
    }

    pub fn host(mut self, host: impl Into<String>) -> Diagnostic {
        self.host = Some(host.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if let Some(at) = &self.at {
            if at.line == 0 {
                writeln!(f, "  --> {}", at.file.display())?;
            } else {
                writeln!(f, "  --> {}:{}:{}", at.file.display(), at.line, at.column)?;
            }
            if let Some(text) = &at.text {
                let number = at.line.to_string();
                let gutter = " ".repeat(number.len());
                // The caret sits under the column; tabs are kept so it lines up in a terminal.
                let pad: String = text
                    .chars()
                    .take(at.caret.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                writeln!(f, " {gutter} |")?;
                writeln!(f, " {number} | {text}")?;
                writeln!(f, " {gutter} | {pad}^")?;
            }
        }
        if let Some(host) = &self.host {
            writeln!(f, "  = host: {host}")?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

/// A set of diagnostics: the error type of every fallible wgdeploy operation. Empty only for a
/// failure that was already reported in the command's own output (e.g. `check` finding
/// unreachable pairs), which exits 1 without printing anything more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    diagnostics: Vec<Diagnostic>,
}

impl Error {
    /// A failure whose explanation is already in the output.
    pub fn silent() -> Error {
        Error {
            diagnostics: Vec::new(),
        }
    }

    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    /// Adds one more diagnostic (a failure with several causes reports them all).
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Collects diagnostics into an error, or `None` when there were none.
    pub fn from_all(diagnostics: Vec<Diagnostic>) -> Option<Error> {
        if diagnostics.is_empty() {
            None
        } else {
            Some(Error { diagnostics })
        }
    }

    /// An I/O failure on a named path, with the fix when the cause is a common one.
    pub fn io(action: &str, path: &Path, err: &std::io::Error) -> Error {
        // std's text ends in " (os error 2)", which means nothing to a user.
        let text = err.to_string();
        let text = text
            .rfind(" (os error ")
            .map_or(text.as_str(), |index| &text[..index]);
        let mut diagnostic = Diagnostic::new(format!(
            "cannot {action} `{}`: {}",
            path.display(),
            text.to_lowercase()
        ));
        diagnostic.help = match err.kind() {
            std::io::ErrorKind::NotFound => {
                Some("check the path; it is relative to the current directory".into())
            }
            std::io::ErrorKind::PermissionDenied => {
                Some("check the file's permissions and owner".into())
            }
            _ => None,
        };
        diagnostic.into()
    }
}

impl From<Diagnostic> for Error {
    fn from(diagnostic: Diagnostic) -> Error {
        Error {
            diagnostics: vec![diagnostic],
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.diagnostics.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        if self.diagnostics.len() > 1 {
            writeln!(f, "\n{} errors", self.diagnostics.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_snippet_host_and_help() {
        let source = "hosts:\n  laptop:\n    via: db1\n";
        let diagnostic = Diagnostic::new("`via` names `db1`, which is not a relay")
            .at(At::in_source(Path::new("inv.yaml"), source, 3, 10))
            .host("laptop")
            .help("set `relay: true` on `db1`");
        let text = diagnostic.to_string();
        assert_eq!(
            text,
            "error: `via` names `db1`, which is not a relay\n  --> inv.yaml:3:10\n   |\n 3 |     via: db1\n   |          ^\n  = host: laptop\n  = help: set `relay: true` on `db1`\n"
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_column() {
        let line = format!("  port: {}x{}", "a".repeat(5000), "b".repeat(5000));
        let at = At::in_source(Path::new("i.yaml"), &line, 1, 5009);
        let text = at.text.clone().unwrap();
        assert!(text.chars().count() <= EXCERPT_CHARS + 2, "{text}");
        assert!(text.starts_with('…') && text.ends_with('…'));
        assert_eq!(text.chars().nth(at.caret - 1), Some('x'));
        assert_eq!((at.line, at.column), (1, 5009));
        let short = At::in_source(Path::new("i.yaml"), "  port: x", 1, 9);
        assert_eq!((short.text.as_deref(), short.caret), (Some("  port: x"), 9));
    }

    #[test]
    fn counts_several_errors() {
        let error = Error::from_all(vec![Diagnostic::new("a"), Diagnostic::new("b")]).unwrap();
        assert!(error.to_string().ends_with("2 errors\n"));
        assert!(Error::from_all(vec![]).is_none());
    }
}
