//! The one table aligner: columns padded by display width (a terminal's columns, not `char`s), so
//! ✓/⚠/✗, `…`, CJK names and emoji line up; colour codes take no width.

use std::fmt::Write;
use unicode_width::UnicodeWidthStr;

/// Columns a terminal gives `text`: East Asian wide characters and emoji count two, combining
/// marks none, and ANSI colour sequences (`ESC [ … m`) none.
pub fn width(text: &str) -> usize {
    if !text.contains('\u{1b}') {
        return text.width();
    }
    let mut total = 0;
    let mut rest = text;
    while let Some(at) = rest.find('\u{1b}') {
        total += rest[..at].width();
        rest = &rest[at..];
        // An SGR sequence ends at its `m`; anything else is measured as it is.
        match rest.strip_prefix("\u{1b}[").and_then(|tail| {
            let end = tail.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
            (tail[end..].starts_with('m')).then(|| &tail[end + 1..])
        }) {
            Some(after) => rest = after,
            None => {
                total += rest[..1].width();
                rest = &rest[1..];
            }
        }
    }
    total + rest.width()
}

/// `text` followed by spaces up to `columns` display columns (nothing when it is already as wide).
pub fn pad(text: &str, columns: usize) -> String {
    let mut padded = String::from(text);
    padded.extend(std::iter::repeat_n(
        ' ',
        columns.saturating_sub(width(text)),
    ));
    padded
}

/// Rows of left-aligned columns, two spaces apart, each line starting with `indent`. The last cell
/// of a row is not padded and no line ends in spaces. Rows may have different lengths.
pub fn render(rows: &[Vec<String>], indent: &str) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| width(cell))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = String::from(indent);
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{}  ", pad(cell, widths[column]));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(row: &[&str]) -> Vec<String> {
        row.iter().map(|cell| (*cell).to_owned()).collect()
    }

    /// The display column where each cell of a rendered line starts (cells are two spaces apart
    /// and contain no double spaces); colour codes are left out.
    fn starts(line: &str) -> Vec<usize> {
        let line = line.replace("\u{1b}[32m", "").replace("\u{1b}[0m", "");
        let mut starts = Vec::new();
        let mut column = 0;
        let mut previous_space = 0;
        for c in line.chars() {
            if c == ' ' {
                previous_space += 1;
            } else {
                if previous_space >= 2 || column == 0 {
                    starts.push(column);
                }
                previous_space = 0;
            }
            column += width(&c.to_string());
        }
        starts
    }

    #[test]
    fn widths_are_terminal_columns() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("✓"), 1);
        assert_eq!(width("⚠"), 1);
        assert_eq!(width("✗"), 1);
        assert_eq!(width("ab…"), 3);
        assert_eq!(width("東京"), 4);
        assert_eq!(width("🚀"), 2);
        assert_eq!(width("\u{1b}[32m✓\u{1b}[0m"), 1);
        assert_eq!(width("\u{1b}[1;31mFAILED\u{1b}[0m x"), 8);
    }

    #[test]
    fn symbols_cjk_and_emoji_align_by_display_width() {
        let rows = vec![
            cells(&["from \\ to", "東京", "web", "🚀rocket"]),
            cells(&["東京", "·", "✓", "⚠"]),
            cells(&["web", "✗", "·", "✓"]),
            cells(&["🚀rocket", "\u{1b}[32m✓\u{1b}[0m", "✗", "·"]),
            cells(&["a…", "⚠", "✓", "✗"]),
        ];
        let text = render(&rows, "  ");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        let header = starts(lines[0]);
        assert_eq!(header, vec![2, 13, 19, 24]);
        for line in &lines[1..] {
            assert_eq!(starts(line), header, "misaligned: {line:?}\n{text}");
        }
        assert!(text.lines().all(|line| !line.ends_with(' ')));
    }

    #[test]
    fn the_last_cell_is_not_padded_and_empty_cells_leave_no_trailing_spaces() {
        let rows = vec![
            cells(&["peer", "state", ""]),
            cells(&["東京…", "ok", "STALE"]),
        ];
        assert_eq!(render(&rows, ""), "peer   state\n東京…  ok     STALE\n");
    }

    #[test]
    fn padding_is_by_display_width() {
        assert_eq!(pad("東", 4), "東  ");
        assert_eq!(pad("abcdef", 4), "abcdef");
    }
}
