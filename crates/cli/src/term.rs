//! Text from outside writ, made safe to show on a terminal.
//!
//! A proposal's title, diff or argv, a proposer's or reviewer's name, a
//! file name, a chunk's text and a model's output are all written by
//! someone else. Printed raw, an `ESC[2K` or a `\r` can erase what came
//! before on the line and print something harmless in its place, and a
//! bidi override can reorder what a reviewer reads. Every human-readable
//! output passes such text through [`clean`] (one line) or [`block`]
//! (several lines), which write those characters as visible escapes:
//! `\x1b`, `\r`, `\u{202e}`. JSON output needs none of this: it is exact,
//! and serde_json escapes the C0 controls itself.
//!
//! Escaped: the C0 controls and DEL (`\n` kept by [`block`], `\t` kept by
//! [`block`]), the C1 controls (U+0080..U+009F), Unicode's invisible format
//! characters (bidi embeddings, overrides, isolates and marks, zero-width
//! characters, the BOM, the tag characters), the line and paragraph
//! separators, the variation selectors and the Hangul fillers (invisible
//! characters that can hide text or make two names look alike).
//! Backslashes are not escaped, so code reads as written.

use std::borrow::Cow;
use std::fmt::Write as _;

/// One line of outside text (a title, a name, a reason, a path): every
/// character that could move the cursor, end the line or reorder or hide
/// text is escaped, `\n` and `\t` included.
pub fn clean(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Several lines of outside text (a diff, a note, chunk text, model
/// output): as [`clean`], but `\n` and `\t` are kept.
pub fn block(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

/// A command line as one line: each argument cleaned, and single-quoted
/// (shell style) when it is empty or holds a space or a quote, so
/// `["rm", "a b"]` does not read as three arguments.
pub fn argv(args: &[String]) -> String {
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            let a = clean(a);
            if a.is_empty() || a.contains([' ', '"', '\'']) {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a.into_owned()
            }
        })
        .collect();
    shown.join(" ")
}

fn escape(s: &str, multiline: bool) -> Cow<'_, str> {
    let kept = |c: char| multiline && (c == '\n' || c == '\t');
    if !s.chars().any(|c| hidden(c) && !kept(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !hidden(c) || kept(c) {
            out.push(c);
            continue;
        }
        // Writing to a String cannot fail.
        let _ = match c {
            '\n' => write!(out, "\\n"),
            '\r' => write!(out, "\\r"),
            '\t' => write!(out, "\\t"),
            c if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32),
            c => write!(out, "\\u{{{:x}}}", c as u32),
        };
    }
    Cow::Owned(out)
}

/// Whether `c` is a control or an invisible format character.
fn hidden(c: char) -> bool {
    matches!(c as u32,
        0x00..=0x1f | 0x7f | 0x80..=0x9f // C0, DEL, C1
        | 0xad // soft hyphen
        | 0x34f // combining grapheme joiner
        | 0x61c // Arabic letter mark
        | 0x115f | 0x1160 | 0x3164 | 0xffa0 // Hangul fillers
        | 0x17b4 | 0x17b5 // Khmer inherent vowels
        | 0x180b..=0x180f // Mongolian selectors and vowel separator
        | 0x200b..=0x200f // zero-width space, joiners, LRM, RLM
        | 0x2028..=0x202e // line/paragraph separators, bidi embeddings and overrides
        | 0x2060..=0x206f // word joiner, invisible operators, bidi isolates
        | 0xfe00..=0xfe0f // variation selectors
        | 0xfeff // byte order mark
        | 0xfff9..=0xfffb // interlinear annotation
        | 0x1d173..=0x1d17a // musical formatting
        | 0xe0000..=0xe007f // tag characters
        | 0xe0100..=0xe01ef // variation selectors supplement
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for s in ["", "Fix the guide", "naïve café 日本 ✓", "a\\x1b b"] {
            assert!(matches!(clean(s), Cow::Borrowed(t) if t == s), "{s}");
        }
        assert!(matches!(block("a\n\tb\n"), Cow::Borrowed("a\n\tb\n")));
    }

    #[test]
    fn a_line_that_would_overwrite_itself_shows_its_escapes() {
        let s = "rm -rf /\x1b[2K\rls";
        assert_eq!(clean(s), "rm -rf /\\x1b[2K\\rls");
        assert_eq!(block(s), "rm -rf /\\x1b[2K\\rls");
        assert_eq!(clean("ci\x1b[2K\rhuman:root"), "ci\\x1b[2K\\rhuman:root");
    }

    #[test]
    fn newlines_and_tabs_are_kept_only_in_blocks() {
        assert_eq!(clean("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(block("a\nb\tc"), "a\nb\tc");
        assert_eq!(block("a\r\nb"), "a\\r\nb");
    }

    #[test]
    fn c0_del_and_c1_controls_are_escaped() {
        assert_eq!(clean("\0\x07\x08\x7f"), "\\x00\\x07\\x08\\x7f");
        // U+009B is an 8-bit CSI to some terminals.
        assert_eq!(clean("a\u{9b}31mb\u{85}"), "a\\u{9b}31mb\\u{85}");
    }

    #[test]
    fn bidi_and_invisible_characters_are_escaped() {
        assert_eq!(
            clean("allow\u{202e}txt.exe\u{202c}"),
            "allow\\u{202e}txt.exe\\u{202c}"
        );
        assert_eq!(clean("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert_eq!(
            clean("src/ma\u{200b}in.rs\u{feff}"),
            "src/ma\\u{200b}in.rs\\u{feff}"
        );
        assert_eq!(block("a\u{2028}b"), "a\\u{2028}b");
        assert_eq!(clean("x\u{e0041}"), "x\\u{e0041}");
    }

    #[test]
    fn argv_keeps_argument_boundaries_visible() {
        let args = ["rm".to_string(), "a b".into(), String::new(), "-x\r".into()];
        assert_eq!(argv(&args), r"rm 'a b' '' -x\r");
        assert_eq!(argv(&["it's".to_string()]), r"'it'\''s'");
    }
}
