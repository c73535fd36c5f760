//! Code by syntax: tree-sitter finds functions, methods, classes and impls.
//!
//! A definition that fits the token budget is one piece. A container
//! (class, impl, trait, module) over the budget, or holding more than one
//! definition, is opened: its members become pieces qualified by the
//! container's name (one embedding per method, not one blurred over the
//! class), and the lines between them become pieces named after the container.

use super::Piece;
use tree_sitter::{Node, Parser};
use writ_core::Language;

/// What a syntax node is to the chunker.
struct Def<'t> {
    kind: &'static str,
    name: String,
    /// For containers: the node whose named children are the members.
    body: Option<Node<'t>>,
    /// Which node gives the line range (a decorator or `export` wraps the def).
    outer: Node<'t>,
}

/// Pieces for a code file, or `None` when the language has no grammar or
/// the parser fails (the caller falls back to line windows).
pub(crate) fn pieces(
    text: &str,
    lines: &[&str],
    language: Language,
    max_tokens: usize,
    line_tokens: &[usize],
) -> Option<Vec<Piece>> {
    let grammar = grammar(language)?;
    let mut parser = Parser::new();
    parser.set_language(&grammar).ok()?;
    let tree = parser.parse(text, None)?;
    let mut cx = Collector {
        src: text.as_bytes(),
        language,
        max_tokens,
        line_tokens,
        defs: Vec::new(),
        scopes: Vec::new(),
        depth: 0,
    };
    cx.collect(tree.root_node(), &[]);
    for def in &mut cx.defs {
        def.start = attach_leading_comments(lines, def.start);
    }
    let defs = join_overloads(cx.defs, lines);
    Some(fill_gaps(defs, &cx.scopes, lines.len()))
}

/// The tree-sitter grammar writ parses `language` with, if it has one.
pub fn grammar(language: Language) -> Option<tree_sitter::Language> {
    Some(match language {
        Language::Rust => tree_sitter_rust::LANGUAGE.into(),
        Language::Python => tree_sitter_python::LANGUAGE.into(),
        Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
        Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
        Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
        Language::Go => tree_sitter_go::LANGUAGE.into(),
        Language::Markdown | Language::Text => return None,
    })
}

struct Collector<'a> {
    src: &'a [u8],
    language: Language,
    max_tokens: usize,
    line_tokens: &'a [usize],
    defs: Vec<Piece>,
    /// Opened containers, for naming the lines between their members.
    scopes: Vec<Scope>,
    /// Containers and wrappers opened around the current node.
    depth: usize,
}

/// Containers nested deeper than this are not opened (their lines stay
/// with the container): a hostile file of nested wrappers must not
/// overflow the stack.
const MAX_DEPTH: usize = 32;

impl Collector<'_> {
    fn collect(&mut self, node: Node<'_>, scope: &[String]) {
        if self.depth > MAX_DEPTH {
            return;
        }
        self.depth += 1;
        self.collect_children(node, scope);
        self.depth -= 1;
    }

    fn collect_children(&mut self, node: Node<'_>, scope: &[String]) {
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
        for child in children {
            let Some(def) = self.classify(child) else {
                continue;
            };
            let start = def.outer.start_position().row;
            let end = def.outer.end_position().row;
            let mut qualified = scope.to_vec();
            if !def.name.is_empty() {
                qualified.push(def.name.clone());
            }
            let symbol = qualified.join(self.language.scope_separator());
            let size: usize = self.line_tokens[start..=end.min(self.line_tokens.len() - 1)]
                .iter()
                .sum();
            match def.body {
                // A wrapper (IIFE, UMD) is transparent: what it holds is
                // the file's own.
                Some(body) if def.kind == "wrapper" => {
                    self.collect(body, scope);
                }
                Some(body) if size > self.max_tokens || self.members(body) > 1 => {
                    self.scopes.push(Scope {
                        start,
                        end,
                        name: symbol,
                        kind: def.kind,
                    });
                    self.collect(body, &qualified);
                }
                _ => self.defs.push(Piece {
                    start,
                    end,
                    symbol: (!symbol.is_empty()).then_some(symbol),
                    kind: def.kind,
                    is_def: true,
                }),
            }
        }
    }

    /// How many definitions a container's body holds directly.
    fn members(&self, body: Node<'_>) -> usize {
        let mut cursor = body.walk();
        let children: Vec<Node<'_>> = body.named_children(&mut cursor).collect();
        children
            .into_iter()
            .filter(|c| self.classify(*c).is_some())
            .count()
    }

    fn text(&self, node: Node<'_>) -> String {
        node.utf8_text(self.src).unwrap_or("").to_string()
    }

    fn name_of(&self, node: Node<'_>) -> String {
        node.child_by_field_name("name")
            .map(|n| self.text(n))
            .unwrap_or_default()
    }

    /// A definition whose value is `value`, spanning `outer`: a function,
    /// a class, or an object literal holding methods (a container).
    fn js_value<'t>(&self, outer: Node<'t>, name: String, value: Node<'t>) -> Option<Def<'t>> {
        let (kind, body) = match value.kind() {
            "arrow_function" | "function_expression" | "function" | "generator_function" => {
                ("function", None)
            }
            "class" => ("class", value.child_by_field_name("body")),
            "object" if self.members(value) > 0 => ("object", Some(value)),
            _ => return None,
        };
        Some(Def {
            kind,
            name,
            body,
            outer,
        })
    }

    fn classify<'t>(&self, node: Node<'t>) -> Option<Def<'t>> {
        let leaf = |kind, name| {
            Some(Def {
                kind,
                name,
                body: None,
                outer: node,
            })
        };
        let container = |kind, name, body: Option<Node<'t>>| {
            Some(Def {
                kind,
                name,
                body,
                outer: node,
            })
        };
        match (self.language, node.kind()) {
            (Language::Rust, "function_item" | "function_signature_item") => {
                leaf("function", self.name_of(node))
            }
            (
                Language::Rust,
                "struct_item" | "enum_item" | "union_item" | "type_item" | "macro_definition"
                | "const_item" | "static_item",
            ) => leaf(rust_kind(node.kind()), self.name_of(node)),
            (Language::Rust, "trait_item" | "mod_item") => container(
                if node.kind() == "trait_item" {
                    "trait"
                } else {
                    "module"
                },
                self.name_of(node),
                node.child_by_field_name("body"),
            ),
            (Language::Rust, "impl_item") => {
                let ty = node
                    .child_by_field_name("type")
                    .map(|t| base_type_name(&self.text(t)))
                    .unwrap_or_default();
                container("impl", ty, node.child_by_field_name("body"))
            }
            (Language::Python, "function_definition") => leaf("function", self.name_of(node)),
            (Language::Python, "class_definition") => container(
                "class",
                self.name_of(node),
                node.child_by_field_name("body"),
            ),
            (Language::Python, "decorated_definition") => {
                let inner = node.child_by_field_name("definition")?;
                self.classify(inner).map(|d| Def { outer: node, ..d })
            }
            (
                Language::JavaScript | Language::TypeScript | Language::Tsx,
                "function_declaration" | "generator_function_declaration",
            ) => leaf("function", self.name_of(node)),
            // Declarations without a body: an overload joins the
            // implementation after it (`join_overloads`).
            (
                Language::TypeScript | Language::Tsx,
                "function_signature" | "method_signature" | "abstract_method_signature",
            ) => leaf("signature", self.name_of(node)),
            (Language::JavaScript | Language::TypeScript | Language::Tsx, "method_definition") => {
                leaf("method", self.name_of(node))
            }
            (
                Language::JavaScript | Language::TypeScript | Language::Tsx,
                "class_declaration" | "abstract_class_declaration" | "class",
            ) => container(
                "class",
                self.name_of(node),
                node.child_by_field_name("body"),
            ),
            (
                Language::TypeScript | Language::Tsx,
                "interface_declaration" | "type_alias_declaration" | "enum_declaration",
            ) => leaf("type", self.name_of(node)),
            (Language::JavaScript | Language::TypeScript | Language::Tsx, "export_statement") => {
                let inner = node.child_by_field_name("declaration")?;
                self.classify(inner).map(|d| Def { outer: node, ..d })
            }
            (
                Language::JavaScript | Language::TypeScript | Language::Tsx,
                "lexical_declaration" | "variable_declaration",
            ) => {
                // `const f = () => {…}`, `const C = class {…}` and
                // `const api = { f() {…}, … }` are definitions.
                let mut cursor = node.walk();
                let declarators: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
                declarators.into_iter().find_map(|d| {
                    let value = d.child_by_field_name("value")?;
                    self.js_value(node, self.name_of(d), value)
                })
            }
            (
                Language::JavaScript | Language::TypeScript | Language::Tsx,
                "expression_statement",
            ) => {
                let expr = node.named_child(0)?;
                match expr.kind() {
                    // CommonJS and prototype style: `exports.f = function`,
                    // `X.prototype.f = …`, `module.exports = {…}`.
                    "assignment_expression" => {
                        let left = expr.child_by_field_name("left")?;
                        let value = expr.child_by_field_name("right")?;
                        let name = js_assigned_name(&self.text(left));
                        self.js_value(node, name, value)
                    }
                    // An IIFE or UMD wrapper: its functions are the file's.
                    "call_expression" => {
                        let body = wrapped_body(expr)?;
                        container("wrapper", String::new(), Some(body))
                    }
                    _ => None,
                }
            }
            (Language::JavaScript | Language::TypeScript | Language::Tsx, "pair") => {
                let value = node.child_by_field_name("value")?;
                let key = node.child_by_field_name("key").map(|k| self.text(k))?;
                let key = key.trim_matches(['"', '\'']).to_string();
                match value.kind() {
                    "arrow_function" | "function_expression" | "function" => leaf("method", key),
                    _ => None,
                }
            }
            (Language::Go, "function_declaration") => leaf("function", self.name_of(node)),
            (Language::Go, "method_declaration") => {
                let receiver = node
                    .child_by_field_name("receiver")
                    .map(|r| go_receiver_type(&self.text(r)))
                    .unwrap_or_default();
                let name = self.name_of(node);
                let name = if receiver.is_empty() {
                    name
                } else {
                    format!("{receiver}.{name}")
                };
                leaf("method", name)
            }
            (Language::Go, "type_declaration") => {
                let mut cursor = node.walk();
                let name = node
                    .named_children(&mut cursor)
                    .find(|c| c.kind() == "type_spec" || c.kind() == "type_alias")
                    .map(|s| self.name_of(s))
                    .unwrap_or_default();
                leaf("type", name)
            }
            _ => None,
        }
    }
}

/// The symbol an assignment defines: `exports.f` and `module.exports.f` →
/// `f`, `X.prototype.f` → `X.f`, `module.exports` → `module.exports`.
fn js_assigned_name(left: &str) -> String {
    let left: String = left.chars().filter(|c| !c.is_whitespace()).collect();
    let left = left
        .strip_prefix("module.exports.")
        .or_else(|| left.strip_prefix("exports."))
        .unwrap_or(&left);
    left.replace(".prototype.", ".")
}

/// The body whose statements an IIFE or UMD wrapper runs, when `call`
/// calls a function expression: the called function's (`(function () {…})()`,
/// `(() => {…})()`), or, when a function is passed to it, the last such
/// argument's (UMD: `(function (root, factory) {…})(this, function () {…})`,
/// where the factory holds the library). A call of anything else
/// (`describe(…, function () {…})`, `$(function () {…})`) is no wrapper.
fn wrapped_body(call: Node<'_>) -> Option<Node<'_>> {
    let callee = function_body(call.child_by_field_name("function")?)?;
    let args = call.child_by_field_name("arguments");
    let mut cursor = call.walk();
    let factory = args.and_then(|a| {
        let list: Vec<Node<'_>> = a.named_children(&mut cursor).collect();
        list.into_iter().rev().find_map(function_body)
    });
    Some(factory.unwrap_or(callee))
}

/// The statement block of a function expression (parentheses around it
/// allowed).
fn function_body(node: Node<'_>) -> Option<Node<'_>> {
    let mut n = node;
    while n.kind() == "parenthesized_expression" {
        n = n.named_child(0)?;
    }
    match n.kind() {
        "function_expression" | "function" | "arrow_function" => n
            .child_by_field_name("body")
            .filter(|b| b.kind() == "statement_block"),
        _ => None,
    }
}

fn rust_kind(kind: &str) -> &'static str {
    match kind {
        "struct_item" => "struct",
        "enum_item" => "enum",
        "union_item" => "union",
        "type_item" => "type",
        "macro_definition" => "macro",
        _ => "item",
    }
}

/// `Foo<T>` → `Foo`, `&'a mut Bar` → `Bar`, `crate::x::Baz` → `Baz`.
fn base_type_name(ty: &str) -> String {
    let no_generics = ty.split('<').next().unwrap_or(ty);
    let last = no_generics.rsplit("::").next().unwrap_or(no_generics);
    last.trim_start_matches(['&', '\'', '*'])
        .split_whitespace()
        .last()
        .unwrap_or("")
        .to_string()
}

/// `(s *Server[T])` → `Server`.
fn go_receiver_type(receiver: &str) -> String {
    let inner = receiver
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')');
    let ty = inner.split_whitespace().last().unwrap_or("");
    ty.trim_start_matches('*')
        .split('[')
        .next()
        .unwrap_or("")
        .to_string()
}

/// Joins TypeScript's overload signatures to the implementation of the
/// same symbol right after them (nothing but blank lines between). One
/// symbol, one chunk: a one-line signature alone would compete with the
/// code it declares. Other definitions stay whole and apart.
fn join_overloads(mut defs: Vec<Piece>, lines: &[&str]) -> Vec<Piece> {
    defs.sort_by_key(|p| (p.start, p.end));
    let mut out: Vec<Piece> = Vec::with_capacity(defs.len());
    for def in defs {
        match out.last_mut() {
            Some(prev)
                if prev.kind == "signature"
                    && prev.symbol.is_some()
                    && prev.symbol == def.symbol
                    && prev.end < def.start
                    && lines[prev.end + 1..def.start]
                        .iter()
                        .all(|l| l.trim().is_empty()) =>
            {
                prev.end = def.end;
                prev.kind = def.kind;
            }
            _ => out.push(def),
        }
    }
    out
}

/// A container that was opened because it was over the budget.
struct Scope {
    start: usize,
    end: usize,
    name: String,
    kind: &'static str,
}

/// Moves a definition's first line up over the comments, attributes and
/// decorators directly above it (no blank line between), so a doc comment
/// is embedded with what it documents.
fn attach_leading_comments(lines: &[&str], mut start: usize) -> usize {
    while start > 0 {
        let above = lines[start - 1].trim_start();
        let is_comment = ["//", "/*", "*", "#", "@", "--"]
            .iter()
            .any(|p| above.starts_with(p));
        if above.is_empty() || !is_comment {
            break;
        }
        start -= 1;
    }
    start
}

/// Adds pieces for the lines no definition covers, named after the
/// innermost opened container around them.
fn fill_gaps(mut defs: Vec<Piece>, scopes: &[Scope], n_lines: usize) -> Vec<Piece> {
    defs.sort_by_key(|p| (p.start, p.end));
    let mut out = Vec::with_capacity(defs.len() * 2);
    let mut next = 0;
    let gap = |start: usize, end: usize, out: &mut Vec<Piece>| {
        // Split the gap where the innermost scope changes.
        let mut s = start;
        while s <= end {
            let scope_at = |line: usize| {
                scopes
                    .iter()
                    .filter(|sc| sc.start <= line && line <= sc.end)
                    .min_by_key(|sc| sc.end - sc.start)
                    .map(|sc| (sc.name.clone(), sc.kind))
            };
            let here = scope_at(s);
            let mut e = s;
            while e < end && scope_at(e + 1) == here {
                e += 1;
            }
            let (symbol, kind) = match here {
                Some((name, kind)) => (Some(name), kind),
                None => (None, "code"),
            };
            out.push(Piece {
                start: s,
                end: e,
                symbol,
                kind,
                is_def: false,
            });
            s = e + 1;
        }
    };
    for def in defs {
        if def.start < next {
            // Overlapping definitions on one line: keep the first.
            if def.end >= next {
                out.push(Piece { start: next, ..def });
                next = out.last().map_or(next, |p| p.end + 1);
            }
            continue;
        }
        if def.start > next {
            gap(next, def.start - 1, &mut out);
        }
        next = def.end + 1;
        out.push(def);
    }
    if next < n_lines {
        gap(next, n_lines - 1, &mut out);
    }
    out
}
