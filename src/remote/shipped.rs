//! The text that travels for a script: its source without comment lines and blank lines.
//!
//! Every command carries its whole script (`lib.sh` in front) in the SSH exec request, and half of
//! that text is comments, which say why for the people reading `src/remote/scripts/`. Over a real
//! network a request larger than TCP's congestion window (10 segments, about 14 KiB, on a new
//! connection) waits a round trip for more window, so what is sent matters as much as how often:
//! the survey's command shrinks from 28 KiB to 18 KiB, the apply step's (with `revert.sh` as an
//! argument) from 65 KiB to 40 KiB.
//!
//! Only whole lines are dropped, and only outside quotes: a line is a comment when it starts, after
//! blanks, with `#` while no quoted string is open (a multi-line awk program in single quotes keeps
//! its lines). The shebang line stays, and so does each file's first line (`# apply.sh IFACE …`:
//! which script a command runs shows in `ps` on the host). Trailing comments stay too (cutting
//! them needs a full shell lexer; they are few). The sources stay what shellcheck checks; the tests
//! run what is shipped.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// The shipped text of an embedded script, made once per script.
pub fn shipped(source: &'static str) -> &'static str {
    static CACHE: LazyLock<Mutex<HashMap<(usize, usize), &'static str>>> =
        LazyLock::new(Mutex::default);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry((source.as_ptr() as usize, source.len()))
        // Leaked once per embedded script (a dozen), for the life of the process.
        .or_insert_with(|| Box::leak(without_comment_lines(source).into_boxed_str()))
}

/// `source` without its comment lines and blank lines (see the module's docs).
pub fn without_comment_lines(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut open: Option<char> = None;
    for (index, line) in source.split_inclusive('\n').enumerate() {
        let body = line.trim_start();
        let comment = body.starts_with('#')
            && !(index == 0 && body.starts_with("#!"))
            && !is_file_header(body);
        if open.is_none() && (comment || body.is_empty()) {
            continue;
        }
        out.push_str(line);
        open = quote_after(line, open);
    }
    out
}

/// A script file's first line, `# NAME.sh ARGS: what it does`: kept, so a command names its
/// script (in `ps` on the host, and for the tests that tell commands apart).
fn is_file_header(line: &str) -> bool {
    line.strip_prefix("# ")
        .and_then(|rest| rest.split([' ', ':']).next())
        .and_then(|word| word.strip_suffix(".sh"))
        .is_some_and(|stem| {
            !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        })
}

/// The quote still open at the end of `line` (`'` or `"`), given the one open at its start.
/// A `#` that starts a word outside quotes ends the line's code (the rest is a comment, whose
/// apostrophes open nothing).
pub fn quote_after(line: &str, mut open: Option<char>) -> Option<char> {
    let mut chars = line.chars();
    let mut word_start = true;
    while let Some(c) = chars.next() {
        match open {
            Some('\'') => {
                if c == '\'' {
                    open = None;
                }
            }
            Some(_) => match c {
                '\\' => {
                    chars.next();
                }
                '"' => open = None,
                _ => {}
            },
            None => match c {
                '\\' => {
                    chars.next();
                }
                '\'' | '"' => open = Some(c),
                '#' if word_start => return None,
                _ => {}
            },
        }
        word_start = open.is_none() && (c.is_whitespace() || ";&|()".contains(c));
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_and_blank_lines_go_and_code_stays() {
        let source = "#!/bin/sh\n# apply.sh IFACE: why\n# why\n\n  # indented why\nx=1 # trailing stays\necho \"$#\" ${#x}\n# not.sh.txt\n";
        assert_eq!(
            without_comment_lines(source),
            "#!/bin/sh\n# apply.sh IFACE: why\nx=1 # trailing stays\necho \"$#\" ${#x}\n"
        );
    }

    #[test]
    fn lines_inside_quotes_stay_even_when_they_look_like_comments() {
        let source = "awk '\n# an awk comment\n\n{ print }' f\nprintf \"a\n# data\n\"\n# gone\n";
        assert_eq!(
            without_comment_lines(source),
            "awk '\n# an awk comment\n\n{ print }' f\nprintf \"a\n# data\n\"\n"
        );
    }

    #[test]
    fn an_apostrophe_in_a_trailing_comment_opens_nothing() {
        assert_eq!(quote_after("x=1 # it's fine\n", None), None);
        assert_eq!(quote_after("echo 'it''s' \"a\\\"b\"\n", None), None);
        assert_eq!(quote_after("echo 'open\n", None), Some('\''));
        assert_eq!(quote_after("close' # it's\n", Some('\'')), None);
    }

    /// Every embedded script ends outside quotes, so no line was judged inside a quote by mistake
    /// (the lexer would otherwise be out of step at the end), and what ships is much smaller.
    #[test]
    fn every_script_is_read_in_step_and_shrinks() {
        for (name, source) in crate::remote::ALL_SCRIPTS {
            let open = source
                .split_inclusive('\n')
                .fold(None, |open, line| quote_after(line, open));
            assert_eq!(open, None, "{name}: a quote is open at the end");
            let sent = shipped(source);
            assert!(sent.len() < source.len(), "{name}");
            for line in sent.lines().skip(1) {
                assert!(!line.trim().is_empty(), "{name}: a blank line was shipped");
            }
        }
        let lib = crate::remote::ALL_SCRIPTS[0].1;
        assert!(
            shipped(lib).len() * 10 < lib.len() * 7,
            "lib.sh shrinks by 30 % or more"
        );
    }
}
