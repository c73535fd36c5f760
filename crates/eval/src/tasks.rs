//! Tasks from a repository's own documentation: every documented function
//! becomes a query (the first sentence of its doc) whose answer is the
//! function's line range, and every doc comment is blanked (line numbers
//! kept) so the answer cannot be found by the doc's own words.
//!
//! This is the CodeSearchNet protocol of `../shared/eval/make_pyeval.py`,
//! carried to every language writ chunks by syntax: Python docstrings,
//! Rust `///`, Go `//` above a declaration, and JSDoc `/** */` above a
//! JavaScript or TypeScript function (declarations, methods, arrow
//! functions, `X.prototype.f = function`, `exports.f = …`, object-literal
//! methods).

use tree_sitter::{Node, Parser};
use writ_core::Language;

/// One query and where its answer is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Task {
    /// The first sentence of the function's doc.
    pub query: String,
    /// The file, relative to the repository root.
    pub path: String,
    /// The function's first line (1-based; its doc excluded).
    pub start: usize,
    /// The function's last line (1-based, inclusive).
    pub end: usize,
    /// The file's language.
    pub language: Language,
}

/// A file with its docs blanked, and the tasks it yields.
#[derive(Debug, Clone)]
pub struct Blanked {
    /// The file's text, every doc line emptied (same number of lines).
    pub text: String,
    /// Queries for the documented functions of the file.
    pub tasks: Vec<Task>,
}

/// Queries shorter than this many words are dropped (as in
/// make_pyeval.py): "Returns x." says nothing a search could use.
const MIN_WORDS: usize = 4;

/// Python classes longer than this overlap almost any chunk of their file,
/// which makes them too easy to count (make_pyeval.py's rule).
const MAX_CLASS_LINES: usize = 60;

/// Blanks the docs of `text` (the file `rel` in `language`) and collects
/// its tasks. `None` when the language has no docs writ knows how to read
/// or the file does not parse.
pub fn blank_file(text: &str, rel: &str, language: Language) -> Option<Blanked> {
    let grammar = writ_index::chunk::grammar(language)?;
    let mut parser = Parser::new();
    parser.set_language(&grammar).ok()?;
    let tree = parser.parse(text, None)?;
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let mut cx = Collect {
        src: text.as_bytes(),
        lines: text.split('\n').collect(),
        language,
        blank: vec![false; lines.len()],
        edits: Vec::new(),
        found: Vec::new(),
    };
    cx.visit(tree.root_node());
    if language == Language::Rust || is_js(language) {
        cx.blank_all_docs();
    }
    let queries_allowed = task_file(rel) && !writ_index::is_declaration_path(rel);
    let mut tasks = Vec::new();
    for (query, start, end) in cx.found {
        if !queries_allowed || query.split_whitespace().count() < MIN_WORDS {
            continue;
        }
        tasks.push(Task {
            query,
            path: rel.to_string(),
            start: start + 1,
            end: end + 1,
            language,
        });
    }
    for (i, line) in lines.iter_mut().enumerate() {
        if cx.blank[i] {
            line.clear();
        }
    }
    for (row, text) in cx.edits {
        if let Some(line) = lines.get_mut(row) {
            *line = text;
        }
    }
    Some(Blanked {
        text: lines.join("\n"),
        tasks,
    })
}

/// Whether a file may give tasks: tests and docs are not what users search
/// for by a function's description (make_pyeval.py skips `tests/` and
/// `docs/`; the same rule covers each language's test files, by the test
/// convention search ranks by).
fn task_file(rel: &str) -> bool {
    !rel.starts_with("docs/") && !writ_index::is_test_path(rel)
}

fn is_js(language: Language) -> bool {
    matches!(
        language,
        Language::JavaScript | Language::TypeScript | Language::Tsx
    )
}

struct Collect<'a> {
    src: &'a [u8],
    lines: Vec<&'a str>,
    language: Language,
    /// Rows (0-based) to empty.
    blank: Vec<bool>,
    /// Rows rewritten (after blanking): a Python docstring's row keeps
    /// what stands before and after the docstring, and a body that was only
    /// its docstring becomes `...`.
    edits: Vec<(usize, String)>,
    /// (query, first row, last row) of each documented function.
    found: Vec<(String, usize, usize)>,
}

impl Collect<'_> {
    /// Looks at every node, depth first, without recursion: a file of
    /// deeply nested brackets must not overflow the stack.
    fn visit(&mut self, root: Node<'_>) {
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            match self.language {
                Language::Python => self.python(node),
                Language::Rust => self.rust(node),
                Language::Go => self.go(node),
                _ => self.js(node),
            }
            // Inside a Go function body, comments above a local
            // declaration are remarks, not docs, and no function there is
            // a task: the body is not looked into.
            if self.language == Language::Go && node.kind() == "block" {
                continue;
            }
            let mut cursor = node.walk();
            let children: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
    }

    fn text(&self, node: Node<'_>) -> &str {
        node.utf8_text(self.src).unwrap_or("")
    }

    fn python(&mut self, node: Node<'_>) {
        let (body, is_function) = match node.kind() {
            "module" => (Some(node), false),
            "function_definition" => (node.child_by_field_name("body"), true),
            "class_definition" => (node.child_by_field_name("body"), false),
            _ => return,
        };
        let Some(body) = body else { return };
        let mut cursor = body.walk();
        let statements: Vec<Node<'_>> = body
            .named_children(&mut cursor)
            .filter(|c| c.kind() != "comment")
            .collect();
        let Some(first) = statements.first() else {
            return;
        };
        let doc = match first.named_child(0) {
            Some(s) if first.kind() == "expression_statement" && s.kind() == "string" => s,
            _ => return,
        };
        let (start, end) = (first.start_position().row, first.end_position().row);
        for row in start..=end {
            self.blank[row] = true;
        }
        // What stands before the docstring on its first row (indentation,
        // or a one-line definition's header, `def f():`) and after it on
        // its last (`; return x`) stays; a body that was only the
        // docstring becomes `...`. Columns are bytes, as tree-sitter's.
        let line = |row: usize| self.lines.get(row).copied().unwrap_or("");
        let head = line(start)
            .get(..first.start_position().column)
            .unwrap_or("");
        let tail = line(end)
            .get(first.end_position().column..)
            .unwrap_or("")
            .trim_start_matches([' ', '\t', ';', '\r']);
        let only = statements.len() == 1 && node.kind() != "module";
        let indent: String = head.chars().take_while(|c| c.is_whitespace()).collect();
        let first_row = match (only, start == end) {
            (true, _) => format!("{head}..."),
            (false, true) if !tail.is_empty() => format!("{head}{tail}"),
            (false, _) if head.trim().is_empty() => String::new(),
            (false, _) => format!("{head}..."),
        };
        self.edits.push((start, first_row));
        if end != start && !tail.is_empty() {
            self.edits.push((end, format!("{indent}{tail}")));
        }
        if node.kind() == "module" || (is_function && statements.len() < 2) {
            return;
        }
        let (s, e) = (node.start_position().row, node.end_position().row);
        if !is_function && e - s > MAX_CLASS_LINES {
            return;
        }
        let query = first_sentence(&python_string(self.text(doc)));
        self.found.push((query, s, e));
    }

    fn rust(&mut self, node: Node<'_>) {
        if node.kind() != "function_item" {
            return;
        }
        let has_body = node
            .child_by_field_name("body")
            .is_some_and(|b| b.named_child_count() > 0);
        let row = node.start_position().row;
        let doc = self.doc_above(row, |l| {
            l.strip_prefix("///").filter(|rest| !rest.starts_with('/'))
        });
        if has_body && !doc.is_empty() {
            let query = first_sentence(&first_paragraph(&doc));
            self.found.push((query, row, node.end_position().row));
        }
    }

    fn go(&mut self, node: Node<'_>) {
        let is_function = matches!(node.kind(), "function_declaration" | "method_declaration");
        // Docs sit above declarations at any depth: struct fields and
        // interface methods too (an interface's doc often repeats its
        // implementation's word for word).
        let documented = is_function
            || matches!(
                node.kind(),
                "type_declaration"
                    | "const_declaration"
                    | "var_declaration"
                    | "package_clause"
                    | "type_spec"
                    | "field_declaration"
                    | "method_elem"
                    | "method_spec"
                    | "const_spec"
                    | "var_spec"
            );
        if !documented {
            return;
        }
        let row = node.start_position().row;
        let doc = self.doc_above(row, |l| l.strip_prefix("//"));
        let mut r = row;
        while r > 0 && self.lines[r - 1].trim_start().starts_with("//") {
            r -= 1;
            self.blank[r] = true;
        }
        let has_body = node
            .child_by_field_name("body")
            .is_some_and(|b| b.named_child_count() > 0);
        if is_function && has_body && !doc.is_empty() {
            let query = first_sentence(&first_paragraph(&doc));
            self.found.push((query, row, node.end_position().row));
        }
    }

    fn js(&mut self, node: Node<'_>) {
        let Some((outer, function)) = js_function(node) else {
            return;
        };
        let has_body = match function.child_by_field_name("body") {
            Some(b) if b.kind() == "statement_block" => b.named_child_count() > 0,
            Some(_) => true,
            None => false,
        };
        let row = outer.start_position().row;
        // Decorators sit between a method's JSDoc and its name, and some
        // styles (express, koa) leave a blank line after the JSDoc.
        let mut above = row;
        while above > 0 && self.lines[above - 1].trim_start().starts_with('@') {
            above -= 1;
        }
        let mut separated = false;
        if above > 1 && self.lines[above - 1].trim().is_empty() {
            above -= 1;
            separated = true;
        }
        let Some((start, end)) = self.jsdoc_block(above) else {
            return;
        };
        // A JSDoc set apart by a blank line may be the file's header: the
        // first thing in the file, or one with a header's tags.
        let first = self.lines.iter().position(|l| !l.trim().is_empty());
        let header = first == Some(start)
            || self.lines[start..=end].iter().any(|l| {
                [
                    "@file",
                    "@module",
                    "@license",
                    "@copyright",
                    "@fileoverview",
                ]
                .iter()
                .any(|t| l.contains(t))
            });
        if separated && header {
            return;
        }
        let doc = self.jsdoc_text(start, end);
        if has_body {
            let query = first_sentence(&first_paragraph(&doc));
            self.found.push((query, row, outer.end_position().row));
        }
    }

    /// The doc comment of line comments directly above `row` (attributes
    /// may sit between), markers stripped, in order.
    fn doc_above(&self, row: usize, marker: impl Fn(&str) -> Option<&str>) -> String {
        let mut out = Vec::new();
        let mut r = row;
        while r > 0 {
            let line = self.lines[r - 1].trim_start();
            if let Some(rest) = marker(line) {
                out.push(rest.trim().to_string());
            } else if !(line.starts_with("#[") && self.language == Language::Rust) {
                break;
            }
            r -= 1;
        }
        out.reverse();
        out.join("\n")
    }

    /// The rows (first, last) of the JSDoc block that ends on the line
    /// above `row`. Only that one comment is read: the search upwards stops
    /// at the first line opening a comment, which must open a JSDoc (`/**`).
    fn jsdoc_block(&self, row: usize) -> Option<(usize, usize)> {
        let end = row.checked_sub(1)?;
        if !self.lines[end].trim_end().ends_with("*/") {
            return None;
        }
        // Lines inside a block comment start with `*` (or hold text);
        // the opener is the first line upwards that starts with `/*`.
        let start = (0..=end)
            .rev()
            .find(|r| self.lines[*r].trim_start().starts_with("/*"))?;
        self.lines[start]
            .trim_start()
            .starts_with("/**")
            .then_some((start, end))
    }

    /// A JSDoc block's text, markers stripped, cut at its first `@tag`.
    fn jsdoc_text(&self, start: usize, end: usize) -> String {
        let mut out = Vec::new();
        for line in &self.lines[start..=end] {
            let l = line.trim().trim_start_matches("/**").trim_end_matches("*/");
            let l = l.trim().trim_start_matches('*').trim();
            if l.starts_with('@') {
                break;
            }
            out.push(l.to_string());
        }
        out.join("\n")
    }

    /// Rust: every `///` and `//!` line and `/** */` or `/*! */` block.
    /// JavaScript and TypeScript: every JSDoc block. A block's last line is
    /// kept when code follows its `*/` on that line.
    fn blank_all_docs(&mut self) {
        let rust = self.language == Language::Rust;
        let mut in_block = false;
        for (i, line) in self.lines.iter().enumerate() {
            let t = line.trim();
            if rust && ((t.starts_with("///") && !t.starts_with("////")) || t.starts_with("//!")) {
                self.blank[i] = true;
                continue;
            }
            let opens =
                (t.starts_with("/**") && !t.starts_with("/***")) || (rust && t.starts_with("/*!"));
            if !in_block && opens {
                in_block = true;
            }
            if in_block {
                let closes = t.contains("*/");
                if !closes || t.ends_with("*/") {
                    self.blank[i] = true;
                }
                if closes {
                    in_block = false;
                }
            }
        }
    }
}

/// A JavaScript/TypeScript function definition at `node`: the node whose
/// lines it spans (with `export`, the statement or the object pair) and the
/// function node itself.
fn js_function(node: Node<'_>) -> Option<(Node<'_>, Node<'_>)> {
    let is_function = |n: Node<'_>| {
        matches!(
            n.kind(),
            "function_expression" | "function" | "arrow_function" | "generator_function"
        )
    };
    match node.kind() {
        "function_declaration" | "generator_function_declaration" | "method_definition" => {
            let outer = match node.parent() {
                Some(p) if p.kind() == "export_statement" => p,
                _ => node,
            };
            Some((outer, node))
        }
        "lexical_declaration" | "variable_declaration" => {
            let d = node.named_child(0)?;
            let value = d.child_by_field_name("value")?;
            let outer = match node.parent() {
                Some(p) if p.kind() == "export_statement" => p,
                _ => node,
            };
            is_function(value).then_some((outer, value))
        }
        "expression_statement" => {
            let a = node.named_child(0)?;
            let right = a.child_by_field_name("right")?;
            (a.kind() == "assignment_expression" && is_function(right)).then_some((node, right))
        }
        "pair" | "public_field_definition" | "field_definition" => {
            let value = node.child_by_field_name("value")?;
            is_function(value).then_some((node, value))
        }
        _ => None,
    }
}

/// The contents of a Python string literal: prefix and quotes removed.
fn python_string(literal: &str) -> String {
    let s = literal.trim_start_matches(['r', 'R', 'u', 'U', 'b', 'B', 'f', 'F']);
    for q in ["\"\"\"", "'''", "\"", "'"] {
        if let Some(inner) = s.strip_prefix(q) {
            return inner.strip_suffix(q).unwrap_or(inner).to_string();
        }
    }
    s.to_string()
}

/// A doc up to its first blank line or section heading (`# Examples`).
fn first_paragraph(doc: &str) -> String {
    let mut out = Vec::new();
    for line in doc.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            if out.is_empty() {
                continue;
            }
            break;
        }
        out.push(t);
    }
    out.join(" ")
}

/// The first sentence of a doc, whitespace collapsed: up to the first `.`,
/// `!` or `?` followed by a space or the end (make_pyeval.py's rule).
pub fn first_sentence(doc: &str) -> String {
    let flat = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars: Vec<(usize, char)> = flat.char_indices().collect();
    for (i, (at, c)) in chars.iter().enumerate() {
        let ends = chars.get(i + 1).is_none_or(|(_, n)| n.is_whitespace());
        if i > 0 && matches!(c, '.' | '!' | '?') && ends {
            return flat[..at + c.len_utf8()].trim().to_string();
        }
    }
    flat.trim().to_string()
}

#[cfg(test)]
mod tests;
