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
    pub text: Option<String>,
}

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
        let text = text.map(str::to_owned);
        At {
            file: file.to_owned(),
            line,
            column: column.max(1),
            text,
        }
    }

    /// A whole file, when there is no better position (missing file, empty inventory).
    pub fn file(file: &Path) -> At {
        At {
            file: file.to_owned(),
            line: 0,
            column: 0,
            text: None,
        }
    }
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
                    .take(at.column.saturating_sub(1))
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
        let mut diagnostic =
            Diagnostic::new(format!("cannot {action} `{}`: {err}", path.display()));
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
    fn counts_several_errors() {
        let error = Error::from_all(vec![Diagnostic::new("a"), Diagnostic::new("b")]).unwrap();
        assert!(error.to_string().ends_with("2 errors\n"));
        assert!(Error::from_all(vec![]).is_none());
    }
}
