//! The tasks and blanked text of each language's doc shapes.
#![allow(clippy::expect_used, reason = "tests fail by panicking")]

use super::*;

fn run(text: &str, rel: &str, language: Language) -> Blanked {
    blank_file(text, rel, language).expect("parses")
}

fn queries(b: &Blanked) -> Vec<(&str, usize, usize)> {
    b.tasks
        .iter()
        .map(|t| (t.query.as_str(), t.start, t.end))
        .collect()
}

#[test]
fn python_docstrings_become_queries_and_are_blanked() {
    let src = "\"\"\"Module doc.\"\"\"\n\ndef send(request):\n    \"\"\"Sends the prepared request over the wire. More text.\"\"\"\n    return request\n\n\nclass Session:\n    '''A session keeps cookies across many requests.'''\n\n    def only_doc(self):\n        \"\"\"Nothing but a docstring here at all.\"\"\"\n";
    let b = run(src, "pkg/api.py", Language::Python);
    assert_eq!(
        queries(&b),
        vec![
            ("Sends the prepared request over the wire.", 3, 5),
            ("A session keeps cookies across many requests.", 8, 12),
        ]
    );
    let lines: Vec<&str> = b.text.split('\n').collect();
    assert_eq!(lines.len(), src.split('\n').count(), "line numbers kept");
    assert_eq!(lines[0], "");
    assert_eq!(lines[3], "");
    assert_eq!(
        lines[11], "        ...",
        "a body that was only its docstring stays valid"
    );
    assert!(!b.text.contains("wire"));
}

#[test]
fn rust_doc_comments_above_attributes_and_in_impls() {
    let src = "//! Crate doc.\n\n/// Parses a version requirement from a string.\n///\n/// # Examples\n#[inline]\npub fn parse(s: &str) -> u32 {\n    s.len() as u32\n}\n\nimpl Foo {\n    /// Returns the number of items in the set.\n    fn len(&self) -> usize { self.0 }\n    /// An empty body is not a task at all.\n    fn nothing(&self) {}\n}\n";
    let b = run(src, "src/lib.rs", Language::Rust);
    assert_eq!(
        queries(&b),
        vec![
            ("Parses a version requirement from a string.", 7, 9),
            ("Returns the number of items in the set.", 13, 13),
        ]
    );
    assert!(!b.text.contains("///") && !b.text.contains("//!"));
    assert!(b.text.contains("#[inline]"));
}

#[test]
fn go_comments_above_declarations() {
    let src = "// Package x does things.\npackage x\n\n// NewReader returns a reader that reads from r.\nfunc NewReader(r io.Reader) *Reader {\n\treturn &Reader{r: r}\n}\n\n// Len reports the length of the buffer in bytes.\nfunc (b *Buf) Len() int { return len(b.x) }\n\n// Config holds the settings.\ntype Config struct{}\n";
    let b = run(src, "reader.go", Language::Go);
    assert_eq!(
        queries(&b),
        vec![
            ("NewReader returns a reader that reads from r.", 5, 7),
            ("Len reports the length of the buffer in bytes.", 10, 10),
        ]
    );
    assert!(!b.text.contains("//"));
}

#[test]
fn javascript_shapes_with_jsdoc() {
    let src = "/**\n * Creates an application from the given options.\n * @param {Object} opts\n */\nfunction create(opts) {\n  return opts;\n}\n\n/** Sets a header on the response object. */\nres.set = function set(field, val) {\n  this.x = val;\n};\n\nmodule.exports = {\n  /**\n   * Parses the cookie header into an object.\n   */\n  parse: function (str) {\n    return {};\n  },\n};\n\n/**\n * Formats a date with the given pattern string.\n */\nexport const format = (d, p) => d.toString(p);\n\nclass A {\n  /**\n   * Runs the whole middleware stack once.\n   */\n  @traced\n  run() {\n    return 1;\n  }\n}\n";
    let b = run(src, "lib/app.js", Language::JavaScript);
    assert_eq!(
        queries(&b),
        vec![
            ("Creates an application from the given options.", 5, 7),
            ("Sets a header on the response object.", 10, 12),
            ("Parses the cookie header into an object.", 18, 20),
            ("Formats a date with the given pattern string.", 26, 26),
            ("Runs the whole middleware stack once.", 32, 35),
        ]
    );
    assert!(!b.text.contains("Creates") && !b.text.contains("@param"));
}

#[test]
fn typescript_methods_and_declarations() {
    let src = "class Box {\n  /**\n   * Returns the value held in the box now.\n   */\n  get(): number {\n    return this.v;\n  }\n}\n";
    let b = run(src, "src/box.ts", Language::TypeScript);
    assert_eq!(
        queries(&b),
        vec![("Returns the value held in the box now.", 5, 7)]
    );
    let d = run(
        "/** Returns the value held in the box now. */\nexport function get(): number;\n",
        "types/index.d.ts",
        Language::TypeScript,
    );
    assert!(d.tasks.is_empty(), "declarations answer nothing");
    assert!(
        !d.text.contains("Returns"),
        "but their docs are blanked too"
    );
}

#[test]
fn tests_and_docs_give_no_tasks() {
    let src = "def f(x):\n    \"\"\"Computes the thing from the input value.\"\"\"\n    return x\n";
    for rel in ["tests/test_api.py", "docs/conf.py", "pkg/test_x.py"] {
        assert!(run(src, rel, Language::Python).tasks.is_empty(), "{rel}");
    }
    assert_eq!(run(src, "pkg/x.py", Language::Python).tasks.len(), 1);
}

#[test]
fn first_sentence_follows_make_pyeval() {
    assert_eq!(
        first_sentence("Returns a  value.\nMore."),
        "Returns a value."
    );
    assert_eq!(
        first_sentence("Version 1.2 of the thing"),
        "Version 1.2 of the thing"
    );
    assert_eq!(first_sentence("e.g. this. That"), "e.g.");
}

#[test]
fn a_plain_block_comment_does_not_borrow_the_jsdoc_above_it() {
    let src = "/**\n * Reads the whole configuration file from disk.\n */\nfunction read() {\n  return 1;\n}\n\n/* istanbul ignore next */\nfunction other() {\n  return 2;\n}\n";
    let b = run(src, "lib/x.js", Language::JavaScript);
    assert_eq!(
        queries(&b),
        vec![("Reads the whole configuration file from disk.", 4, 6)]
    );
}

#[test]
fn a_file_header_is_not_the_first_functions_doc() {
    let src = "/**\n * Express, a fast web framework for node.\n * MIT Licensed\n */\n\nfunction createApplication() {\n  return app;\n}\n";
    assert!(run(src, "lib/express.js", Language::JavaScript)
        .tasks
        .is_empty());
}

#[test]
fn python_one_line_definitions_keep_their_header() {
    let src = "class Error(Exception): \"\"\"Raised when the archive cannot be read at all.\"\"\"\n\n\tdef f(self):\n\t\t\"\"\"Only a docstring in this method body here.\"\"\"\n";
    let b = run(src, "pkg/errors.py", Language::Python);
    let lines: Vec<&str> = b.text.split('\n').collect();
    assert_eq!(lines[0], "class Error(Exception): ...");
    assert_eq!(lines[3], "\t\t...", "tab indentation kept");
    assert_eq!(
        queries(&b),
        vec![("Raised when the archive cannot be read at all.", 1, 1)]
    );
}

#[test]
fn go_field_and_interface_method_docs_are_blanked() {
    let src = "package x\n\ntype Store interface {\n\t// Get returns the value stored under the key.\n\tGet(key string) string\n}\n\ntype Config struct {\n\t// Path is where the store keeps its files.\n\tPath string\n}\n";
    let b = run(src, "x.go", Language::Go);
    assert!(!b.text.contains("//"), "{}", b.text);
}

#[test]
fn rust_block_docs_are_blanked() {
    let src = "/** Opens the archive and reads its index. */\npub fn open() -> u8 {\n    1\n}\n/*! Crate docs. */\n";
    let b = run(src, "src/lib.rs", Language::Rust);
    assert!(
        !b.text.contains("Opens") && !b.text.contains("Crate"),
        "{}",
        b.text
    );
}

#[test]
fn deeply_nested_input_does_not_overflow_the_stack() {
    let src = format!("const x = {}1{};\n", "[".repeat(20_000), "]".repeat(20_000));
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || blank_file(&src, "a.js", Language::JavaScript).map(|b| b.tasks.len()))
        .expect("spawn")
        .join()
        .expect("no overflow");
}

#[test]
fn python_inline_docstrings_keep_the_code_around_them() {
    let src = "def add(a, b): \"\"\"Return the sum of both numbers given.\"\"\"; return a + b\n";
    let b = run(src, "pkg/m.py", Language::Python);
    assert_eq!(b.text, "def add(a, b): return a + b\n");
    assert_eq!(queries(&b).len(), 1);
}

#[test]
fn a_glob_in_a_jsdoc_does_not_end_it() {
    let src = "/**\n * Matches paths such as `/*` or `/api/*` against the route table.\n */\nfunction match(p) {\n  return p;\n}\n";
    let b = run(src, "lib/glob.js", Language::JavaScript);
    assert_eq!(queries(&b).len(), 1, "{:?}", b.tasks);
}

#[test]
fn go_remarks_inside_functions_stay() {
    let src = "package x\n\n// Run runs the whole job from start to finish.\nfunc Run() {\n\t// the limit for one batch\n\tconst limit = 4\n\t_ = limit\n}\n";
    let b = run(src, "x.go", Language::Go);
    assert!(b.text.contains("the limit for one batch"), "{}", b.text);
    assert!(!b.text.contains("Run runs"), "{}", b.text);
}
