//! The strict parser and the exact applier.

#![allow(clippy::panic, reason = "tests fail by panicking")]

use super::*;

fn one(d: &str) -> Result<FilePatch, String> {
    parse_diff(d).map(|mut p| p.remove(0))
}

#[test]
fn parses_two_files_with_git_headers() {
    let d = "diff --git a/x.md b/x.md\nindex 1..2 100644\n--- a/x.md\n+++ b/x.md\n@@ -1,2 +1,2 @@\n a\n-b\n+c\ndiff --git a/y.md b/y.md\nnew file mode 100644\n--- /dev/null\n+++ b/y.md\n@@ -0,0 +1 @@\n+new\n";
    let p = parse_diff(d).unwrap_or_default();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].paths(), ["x.md"]);
    assert_eq!((p[0].added, p[0].removed), (1, 1));
    assert_eq!(p[1].old_path, None);
    assert_eq!(p[1].apply("").as_deref(), Some("new\n"));
    assert_eq!(p[0].apply("a\nb\n").as_deref(), Some("a\nc\n"));
    assert_eq!(p[0].apply("a\nz\n"), None);
}

#[test]
fn rejects_garbage() {
    assert!(parse_diff("hello").is_err());
    assert!(parse_diff("--- a/x\n+++ b/x\n@@ -1 +1 @@ broken\n").is_err());
    assert!(parse_diff("--- a/x\n+++ b/x\n@@ -1 +x @@\n-a\n+b\n").is_err());
}

#[test]
fn lines_beyond_a_hunks_counts_are_refused_not_dropped() {
    // Reads as a change of the call; the extra `-` line would delete the
    // check. A lenient parser shows it and drops it on apply.
    let d = "--- a/app.py\n+++ b/app.py\n@@ -1,1 +1,1 @@\n-    check_auth(req)\n+    check_auth(req, strict=True)\n-    check_auth(req)\n";
    let e = one(d).err().unwrap_or_default();
    assert!(e.contains("line 6") && e.contains("hunk"), "{e}");
    // Too few lines for the counts.
    let e = one("--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n")
        .err()
        .unwrap_or_default();
    assert!(e.contains("ends inside a hunk"), "{e}");
}

#[test]
fn a_hunk_applies_at_its_line_or_not_at_all() {
    // The header says line 3; the context sits at line 1.
    let p =
        one("--- a/x\n+++ b/x\n@@ -3,2 +3,2 @@\n a\n-b\n+c\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.apply("a\nb\nq\nr\n"), None);
    assert_eq!(p.apply("q\nr\na\nb\n").as_deref(), Some("q\nr\na\nc\n"));
}

#[test]
fn no_newline_markers_and_insertions() {
    let p = one("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+a\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.apply("a").as_deref(), Some("a\n"));
    assert_eq!(p.apply("a\n"), None);
    assert!(p
        .render()
        .contains("-a\n\\ No newline at end of file\n+a\n"));
    // Pure insertion after line 1.
    let p = one("--- a/x\n+++ b/x\n@@ -1,0 +2 @@\n+b\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.apply("a\nc\n").as_deref(), Some("a\nb\nc\n"));
}

#[test]
fn renames_modes_binaries_and_quoted_paths_are_refused() {
    for (d, why) in [
        ("--- a/x\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n", "renames"),
        (
            "old mode 100644\nnew mode 100755\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
            "modes",
        ),
        (
            "new file mode 100755\n--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+a\n",
            "modes",
        ),
        ("Binary files a/x and b/x differ\n", "binary"),
        (
            "--- \"a/x\\033\"\n+++ \"b/x\\033\"\n@@ -1 +1 @@\n-a\n+b\n",
            "quoted",
        ),
        (
            "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n--- a/x\n+++ b/x\n@@ -3 +3 @@\n-a\n+b\n",
            "twice",
        ),
    ] {
        let e = parse_diff(d).err().unwrap_or_default();
        assert!(e.contains(why), "{d:?}: {e}");
    }
}

#[test]
fn render_is_what_apply_applies() {
    let d = "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@ fn misleading_section()\n a\n-b\n+c\n";
    let p = one(d).unwrap_or_else(|e| panic!("{e}"));
    let r = p.render();
    assert_eq!(r, "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n");
    let again = one(&r).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.hunks, p.hunks);
}

#[test]
fn a_bare_carriage_return_or_a_mid_hunk_newline_marker_is_refused() {
    let cr = "--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n a\n+b\r-c\n";
    assert!(parse_diff(cr)
        .err()
        .unwrap_or_default()
        .contains("carriage return"));
    // CRLF endings stay fine.
    assert!(parse_diff("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\r\n+b\r\n").is_ok());
    let mid =
        "--- a/x\n+++ b/x\n@@ -1,1 +1,2 @@\n+#\n\\ No newline at end of file\n     check(req)\n";
    assert!(parse_diff(mid)
        .err()
        .unwrap_or_default()
        .contains("middle of a hunk"));
}

#[test]
fn an_unended_line_never_joins_the_next_one() {
    // The marker after the last new line, but the file goes on: applying
    // would glue `    #` to `    check_auth(req)`.
    let p = one("--- a/x\n+++ b/x\n@@ -1,1 +1,2 @@\n def view(req):\n+    #\n\\ No newline at end of file\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.apply("def view(req):\n    check_auth(req)\n"), None);
    // An insertion after a last line without an ending.
    let p = one("--- a/x\n+++ b/x\n@@ -2,0 +3 @@\n+y\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.apply("a\nx"), None);
    // At the very end of the file it is what the marker means.
    let p = one("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n\\ No newline at end of file\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.apply("a\n").as_deref(), Some("b"));
}

#[test]
fn a_new_range_that_misstates_where_the_change_lands_is_refused() {
    let e = parse_diff("--- a/x\n+++ b/x\n@@ -100,1 +1,1 @@\n-a\n+b\n")
        .err()
        .unwrap_or_default();
    assert!(e.contains("new range starts at 1"), "{e}");
    // The conventions of git and diff: an insertion lands after its old
    // line, a deletion of everything at 0, later hunks shifted by earlier.
    for ok in [
        "--- /dev/null\n+++ b/x\n@@ -0,0 +1,2 @@\n+a\n+b\n",
        "--- a/x\n+++ b/x\n@@ -1,0 +2 @@\n+b\n",
        "--- a/x\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n",
        "--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n a\n+b\n@@ -5 +6 @@\n-e\n+f\n",
    ] {
        assert!(parse_diff(ok).is_ok(), "{ok:?}: {:?}", parse_diff(ok).err());
    }
}
