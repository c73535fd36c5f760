//! Chunk boundaries and symbols for each language, as compact snapshots:
//! one `start-end kind symbol` line per chunk.

#![allow(clippy::expect_used, reason = "tests fail by panicking")]

use super::*;

fn count(s: &str) -> usize {
    s.split_whitespace().count() + 2
}

fn snapshot(text: &str, language: Language, max_tokens: usize) -> String {
    let budget = ChunkBudget {
        max_tokens,
        min_tokens: 4,
        count: &count,
    };
    chunk_file(text, language, &budget)
        .iter()
        .map(|c| {
            format!(
                "{}-{} {} {}",
                c.start_line,
                c.end_line,
                c.kind,
                c.symbol.as_deref().unwrap_or("-")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const RUST: &str = r#"use std::fmt;

/// A point.
pub struct Point {
    x: i32,
    y: i32,
}

impl Point {
    /// Makes a point at the given coordinates, checking nothing at all here.
    pub fn new(x: i32, y: i32) -> Self {
        Point { x, y }
    }

    /// The distance from the origin in taxicab terms, which is simple enough.
    pub fn norm(&self) -> i32 {
        self.x.abs() + self.y.abs()
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.x, self.y)
    }
}
"#;

#[test]
fn rust_opens_large_impls_and_qualifies_methods() {
    assert_eq!(
        snapshot(RUST, Language::Rust, 30),
        "1-7 struct Point\n9-9 impl Point\n10-13 function Point::new\n15-19 function Point::norm\n21-25 impl Point"
    );
}

#[test]
fn rust_opens_impls_with_several_methods_and_keeps_single_ones_whole() {
    assert_eq!(
        snapshot(RUST, Language::Rust, 400),
        "1-7 struct Point\n9-13 function Point::new\n15-19 function Point::norm\n21-25 impl Point"
    );
}

const PYTHON: &str = r#"import os


class Session:
    """A session."""

    def __init__(self, base):
        self.base = base
        self.headers = {"user-agent": "writ", "accept": "everything at all"}

    @property
    def url(self):
        return os.path.join(self.base, "api", "v1", "resource", "items", "list")


def helper(a, b):
    return a + b
"#;

#[test]
fn python_classes_methods_and_decorators() {
    assert_eq!(
        snapshot(PYTHON, Language::Python, 24),
        "1-5 class Session\n7-9 function Session.__init__\n11-13 function Session.url\n16-17 function helper"
    );
}

const TS: &str = r#"import { x } from "./x";

export class Store {
  private items: string[] = [];

  add(item: string): void {
    this.items.push(item); this.items.sort(); this.items.reverse(); this.items.push(item);
  }

  size(): number {
    return this.items.length + this.items.length + this.items.length + this.items.length;
  }
}

export const double = (n: number) => n * 2 + n * 2 + n * 2 + n * 2 + n * 2 + n * 2 + n;

export interface Shape { area(): number; perimeter(): number; name: string; sides: number }
"#;

#[test]
fn typescript_classes_arrows_and_interfaces() {
    assert_eq!(
        snapshot(TS, Language::TypeScript, 25),
        "1-1 code -\n3-4 class Store\n6-8 method Store.add\n10-13 method Store.size\n15-15 function double\n17-17 type Shape"
    );
}

const GO: &str = r#"package server

import "net/http"

// Server serves.
type Server struct {
	addr string
}

// Start starts the server and blocks until it stops, returning its error.
func (s *Server) Start() error {
	return http.ListenAndServe(s.addr, nil)
}

// New makes a server listening on the given address, with nothing else set.
func New(addr string) *Server {
	return &Server{addr: addr}
}
"#;

#[test]
fn go_methods_are_qualified_by_receiver() {
    assert_eq!(
        snapshot(GO, Language::Go, 60),
        "1-3 code -\n5-8 type Server\n10-13 method Server.Start\n15-18 function New"
    );
}

const MD: &str = "# Title\n\nIntro text that is long enough to stand alone as a chunk here.\n\n## Install\n\nRun the installer with the right flags and wait for it.\n\n```sh\n# not a heading\nmake install\n```\n\n## Use\n\nCall it with a path to a repository and read what it prints.\n";

#[test]
fn markdown_by_headings_ignoring_fences() {
    assert_eq!(
        snapshot(MD, Language::Markdown, 200),
        "1-3 section Title\n5-12 section Title > Install\n14-16 section Title > Use"
    );
}

#[test]
fn oversized_definitions_split_into_windows_with_the_same_symbol() {
    let body: String = (0..30)
        .map(|i| format!("    let v{i} = {i} + 1 + 2 + 3;\n"))
        .collect();
    let text = format!("fn big() {{\n{body}}}\n");
    let snap = snapshot(&text, Language::Rust, 40);
    assert!(snap.lines().count() > 2, "{snap}");
    assert!(snap.lines().all(|l| l.ends_with("function big")), "{snap}");
}

#[test]
fn text_files_by_windows_and_blank_files_give_nothing() {
    let text: String = (0..50)
        .map(|i| format!("line {i} of some text\n"))
        .collect();
    let snap = snapshot(&text, Language::Text, 60);
    assert_eq!(snap.lines().next(), Some("1-12 lines -"));
    assert_eq!(snapshot("\n \n\t\n", Language::Text, 60), "");
}

#[test]
fn unparseable_code_still_chunks() {
    let snap = snapshot("fn (((( {{{{ broken\nstill text here\n", Language::Rust, 60);
    assert!(!snap.is_empty());
}

const COMMONJS: &str = r#"'use strict';

var res = Object.create(http.ServerResponse.prototype);

/**
 * Set the status code of the response and return it for chaining calls.
 */
res.status = function status(code) {
  this.statusCode = code;
  return this;
};

exports.send = function (body) {
  var chunk = body;
  return this.end(chunk);
};

module.exports = {
  parse: function (str) {
    return str.split(';').map(function (s) { return s.trim(); });
  },
  serialize(name, value) {
    return name + '=' + encodeURIComponent(value);
  },
};
"#;

#[test]
fn commonjs_prototype_exports_and_object_methods_are_named_definitions() {
    assert_eq!(
        snapshot(COMMONJS, Language::JavaScript, 60),
        "1-3 code -\n5-11 function res.status\n13-16 function send\n18-21 method module.exports.parse\n22-25 method module.exports.serialize"
    );
}

const UMD: &str = r#"(function (root, factory) {
  if (typeof define === 'function' && define.amd) {
    define([], factory);
  } else {
    root.lib = factory();
  }
})(this, function () {
  function escapeHtml(text) {
    return text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  }

  function unescapeHtml(text) {
    return text.replace(/&lt;/g, '<').replace(/&amp;/g, '&');
  }

  return { escapeHtml: escapeHtml, unescapeHtml: unescapeHtml };
});
"#;

#[test]
fn functions_inside_an_umd_wrapper_are_the_files_own() {
    assert_eq!(
        snapshot(UMD, Language::JavaScript, 60),
        "1-7 code -\n8-10 function escapeHtml\n12-14 function unescapeHtml\n16-17 code -"
    );
}

const OVERLOADS: &str = r#"export function pick(o: Obj, key: string): Value;
export function pick(o: Obj, keys: string[]): Value[];
export function pick(o: Obj, k: string | string[]): Value | Value[] {
  return Array.isArray(k) ? k.map((x) => o[x]) : o[k];
}

export function other(): number {
  return 1 + 2 + 3 + 4 + 5 + 6 + 7;
}
"#;

#[test]
fn typescript_overload_signatures_join_their_implementation() {
    assert_eq!(
        snapshot(OVERLOADS, Language::TypeScript, 60),
        "1-5 function pick\n7-9 function other"
    );
}

#[test]
fn no_chunk_is_only_closing_brackets() {
    // A function over the budget splits into windows; its last lines,
    // closing brackets only, stay with the window before them.
    let mut body = String::from("fn long() {\n    if a {\n");
    for i in 0..12 {
        body.push_str(&format!(
            "        call_number_{i}(alpha, beta, gamma, delta);\n"
        ));
    }
    body.push_str("    }\n}\n");
    let budget = ChunkBudget {
        max_tokens: 40,
        min_tokens: 4,
        count: &count,
    };
    let chunks = chunk_file(&body, Language::Rust, &budget);
    assert!(chunks.len() > 1);
    for c in &chunks {
        assert!(!closing_only(&c.text), "{c:?}");
    }
    assert_eq!(chunks.last().map(|c| c.end_line), Some(16));
}

#[test]
fn a_call_with_a_callback_is_no_wrapper_and_deep_wrappers_do_not_overflow() {
    let src = "describe('router', function () {\n  function helper(x) {\n    return x + 1;\n  }\n  it('works', function () {\n    helper(1);\n  });\n});\n";
    assert_eq!(snapshot(src, Language::JavaScript, 60), "1-8 code -");
    let deep = format!(
        "{}function f() {{ return 1; }}{}\n",
        "(function () {\n".repeat(3000),
        "\n})();".repeat(3000)
    );
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || snapshot(&deep, Language::JavaScript, 60).len())
        .expect("spawn");
    assert!(handle.join().is_ok(), "no stack overflow");
}

#[test]
fn rust_struct_and_its_impl_stay_apart() {
    let src = "pub struct Error {\n    kind: u8,\n}\n\nimpl Error {\n    pub fn kind(&self) -> u8 {\n        self.kind\n    }\n}\n";
    let chunks = snapshot(src, Language::Rust, 60);
    assert_eq!(chunks.lines().count(), 2, "{chunks}");
}
