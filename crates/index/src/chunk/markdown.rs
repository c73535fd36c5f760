//! Markdown by headings: each section is a piece named by its heading path.

use super::Piece;

/// One piece per ATX heading section (`#`…`######`), outside code fences;
/// the symbol is the heading path, e.g. `Install > From source`.
pub(crate) fn pieces(lines: &[&str]) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut start = 0;
    let mut fence: Option<&str> = None;
    let symbol = |path: &[(usize, String)]| {
        (!path.is_empty()).then(|| {
            path.iter()
                .map(|(_, t)| t.as_str())
                .collect::<Vec<_>>()
                .join(" > ")
        })
    };
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            if trimmed.starts_with(open) {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
            continue;
        }
        let level = trimmed.bytes().take_while(|&b| b == b'#').count();
        let is_heading = (1..=6).contains(&level)
            && trimmed[level..].starts_with([' ', '\t'])
            && line.len() - trimmed.len() < 4;
        if !is_heading {
            continue;
        }
        if i > start {
            out.push(section(start, i - 1, symbol(&path)));
        }
        path.retain(|(l, _)| *l < level);
        path.push((
            level,
            trimmed[level..]
                .trim()
                .trim_end_matches('#')
                .trim()
                .to_string(),
        ));
        start = i;
    }
    if start < lines.len() {
        out.push(section(start, lines.len() - 1, symbol(&path)));
    }
    out
}

fn section(start: usize, end: usize, symbol: Option<String>) -> Piece {
    Piece {
        start,
        end,
        symbol,
        kind: "section",
        is_def: true,
    }
}
