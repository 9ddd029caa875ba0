//! Colour in one place: whether to use it (`--color`, `NO_COLOR`, a terminal) and how each kind of
//! text is coloured. Off unless [`set`] turns it on, so piped output and tests stay plain.
//!
//! The choice is per thread (everything is printed from the CLI's thread): a test that turns it on
//! cannot colour another test's output.

use std::cell::Cell;
use std::ffi::OsStr;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(false) };
}

/// `--color`: `auto` colours only on a terminal and when `NO_COLOR` is unset or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Auto,
    Always,
    Never,
}

/// Whether to colour: `always` and `never` say so themselves (an explicit option wins over the
/// environment, as no-color.org asks); `auto` colours a terminal unless `NO_COLOR` has a value.
pub fn decide(choice: Choice, no_color: Option<&OsStr>, stdout_is_terminal: bool) -> bool {
    match choice {
        Choice::Always => true,
        Choice::Never => false,
        Choice::Auto => stdout_is_terminal && no_color.is_none_or(OsStr::is_empty),
    }
}

/// Turns colour on or off for what this thread prints from now on.
pub fn set(enabled: bool) {
    ENABLED.with(|cell| cell.set(enabled));
}

pub fn enabled() -> bool {
    ENABLED.with(Cell::get)
}

const GREEN: &str = "32";
const RED: &str = "31";
const YELLOW: &str = "33";
const CYAN: &str = "36";

fn paint(code: &str, text: &str) -> String {
    if enabled() && !text.is_empty() {
        format!("\u{1b}[{code}m{text}\u{1b}[0m")
    } else {
        text.to_owned()
    }
}

/// A line's mark: `=` in sync (green), `~` changing (yellow), `!` failed and `-` removed (red).
pub fn mark(mark: char) -> String {
    let code = match mark {
        '=' => GREEN,
        '~' => YELLOW,
        '!' | '-' => RED,
        _ => return mark.to_string(),
    };
    paint(code, &mark.to_string())
}

/// A verdict: ✓ green, ⚠ yellow, ✗ red.
pub fn verdict(symbol: &str) -> String {
    match symbol {
        "✓" => paint(GREEN, symbol),
        "⚠" => paint(YELLOW, symbol),
        "✗" => paint(RED, symbol),
        _ => symbol.to_owned(),
    }
}

/// A line of a unified diff: `+` green, `-` red, `@@` cyan, context plain.
pub fn diff_line(line: &str) -> String {
    if line.starts_with("@@") {
        paint(CYAN, line)
    } else if line.starts_with('+') {
        paint(GREEN, line)
    } else if line.starts_with('-') {
        paint(RED, line)
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colours_only_a_terminal_without_no_color() {
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        assert!(decide(Choice::Auto, None, true));
        assert!(decide(Choice::Auto, empty, true));
        assert!(!decide(Choice::Auto, set, true));
        assert!(!decide(Choice::Auto, None, false));
        assert!(decide(Choice::Always, set, false));
        assert!(!decide(Choice::Never, None, true));
    }

    #[test]
    fn plain_unless_turned_on() {
        assert_eq!(mark('!'), "!");
        assert_eq!(verdict("✓"), "✓");
        assert_eq!(diff_line("+a"), "+a");
        set(true);
        assert_eq!(mark('!'), "\u{1b}[31m!\u{1b}[0m");
        assert_eq!(mark('='), "\u{1b}[32m=\u{1b}[0m");
        assert_eq!(verdict("⚠"), "\u{1b}[33m⚠\u{1b}[0m");
        assert_eq!(diff_line("@@ -1 +1 @@"), "\u{1b}[36m@@ -1 +1 @@\u{1b}[0m");
        assert_eq!(diff_line("-old"), "\u{1b}[31m-old\u{1b}[0m");
        assert_eq!(diff_line(" same"), " same");
        set(false);
        assert_eq!(verdict("✗"), "✗");
    }
}
