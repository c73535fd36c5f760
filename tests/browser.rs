//! The review page in a real browser: headless Chromium driven over the
//! WebDriver protocol (chromedriver, plain HTTP). A reviewer approves a
//! held proposal with the mouse and with the keyboard alone; the page must
//! then show the new state without a reload, and the ledger must hold one
//! approval, never a refused second one. The page must fit 360, 800 and
//! 1400 px without horizontal overflow (screenshots are kept as test
//! artifacts in `$CARGO_TARGET_DIR/tmp/artifacts/`), highlight cited code
//! per language without changing its text, open deep links, filter and
//! page "All proposals", show the facts and rule text behind a decision,
//! and pass an axe-core audit with no serious or critical violation.
//!
//! The page's contract with these tests: list rows are links
//! (`#list a[href="#P1"]`, inside `li[data-id]`), the open proposal is
//! `#detail article[data-id][data-state]`, highlighted code is
//! `pre[data-lang]`, and "All proposals" has `#state-filter`, `#prev` and
//! `#next`.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::browser::*;
use common::server::Server;
use common::{text, Repo};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[test]
fn a_reviewer_approves_a_held_proposal_in_the_browser() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "src/lib.rs",
        "/// Adds.\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
    );
    repo.commit_all();
    repo.writ_json(&["index"]);
    let hits = repo.search_hits(&["search", "add two numbers", "-k", "1"]);
    let chunk = hits[0]["chunk_id"].as_i64().unwrap();
    let proposal = json!({ "kind": "edit", "title": "Document overflow", "rationale": "callers should know", "citations": [chunk],
        "diff": "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,2 +1,2 @@\n-/// Adds.\n+/// Adds; overflows like `+`.\n pub fn add(a: i32, b: i32) -> i32 {\n" });
    let file = repo.path().join(".writ/p.json");
    std::fs::write(&file, proposal.to_string()).unwrap();
    let out = repo.writ(&["propose", "--file", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(10), "{}", text(&out.stdout));

    let server = Server::start(repo.path());
    let browser = Browser::start();
    browser.cmd(
        "POST",
        "/url",
        json!({ "url": format!("http://{}/", server.addr) }),
    );
    browser.type_into("#token", &server.review_token);
    browser.click("li[data-id='P1']");
    browser.find("#diff");
    assert!(browser.text_of("#diff").contains("overflows like"));
    browser.find("#cites pre");
    assert!(browser.text_of("#cites").contains("pub fn add"));
    browser.type_into("#reviewer", "browser-reviewer");
    browser.type_into("#reason", "checked the doc comment");
    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("review-page.png");
    browser.screenshot(&shot);
    eprintln!("screenshot of the review page: {}", shot.display());
    browser.click("#approve");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let msg = browser.text_of("#msg");
        if msg.contains("recorded") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no approval on the page: {msg:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    browser.screenshot(&artifacts.join("review-page-approved.png"));
    assert!(std::fs::read(&shot).unwrap().starts_with(b"\x89PNG"));
    drop(browser);
    drop(server);

    let chain = repo.writ_json(&["explain", "P1"]);
    let events = chain["events"].to_string();
    assert!(events.contains("human:browser-reviewer"), "{events}");
    assert!(events.contains("checked the doc comment"), "{events}");
    assert_eq!(chain["action"]["id"], "A1");
    assert_eq!(repo.writ(&["verify"]).status.code(), Some(0));
}

/// Python whose strings hold comment markers and markup: a highlighter
/// that cuts at the first `#` or `//`, or that re-processes its own
/// output, shows it wrong.
const PY: &str = r#"import os


def floor_half(a, b):
    """Halve a // b; see # not a comment."""
    s = "class=\"str\"> // not a comment <b>&amp;"
    return a // b  # floor division
"#;

const RS: &str = "/// Adds.\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n";

/// A repository with a Rust and a Python file, indexed, and `writ serve`
/// on it; proposals arrive over the API (as from an agent).
struct Fixture {
    /// Kept: the repository lives as long as the fixture.
    _repo: Repo,
    server: Server,
    rs_chunk: i64,
    py_chunk: i64,
}

impl Fixture {
    fn new() -> Fixture {
        let repo = Repo::new();
        repo.write("src/lib.rs", RS);
        repo.write("src/util.py", PY);
        repo.commit_all();
        repo.writ_json(&["index"]);
        let hits = repo.search_hits(&["search", "floor division, add two numbers", "-k", "5"]);
        let chunk_of = |path: &str| {
            hits.as_array()
                .unwrap()
                .iter()
                .find(|h| h["path"] == path)
                .and_then(|h| h["chunk_id"].as_i64())
                .unwrap_or_else(|| panic!("no chunk of {path} in {hits}"))
        };
        let (rs_chunk, py_chunk) = (chunk_of("src/lib.rs"), chunk_of("src/util.py"));
        let server = Server::start(repo.path());
        Fixture {
            _repo: repo,
            server,
            rs_chunk,
            py_chunk,
        }
    }

    /// Proposes over the API; returns the new id.
    fn propose(&self, proposal: Value) -> String {
        let sub = json!({ "source": "browser-test", "proposal": proposal });
        let (code, v) = self.server.post("/v1/proposals", &sub.to_string());
        assert_eq!(code, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// The usual four: a held edit (P1) citing both files, a held note
    /// (P2), a held command (P3), and an edit forbidden by a rule (P4).
    fn propose_four(&self) {
        let edit = json!({ "kind": "edit", "title": "Document overflow", "rationale": "callers should know",
            "citations": [self.rs_chunk, self.py_chunk],
            "diff": "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,2 +1,2 @@\n-/// Adds.\n+/// Adds; overflows like `+` (see \"floor_half\" for // and #).\n pub fn add(a: i32, b: i32) -> i32 {\n" });
        assert_eq!(self.propose(edit), "P1");
        let note = json!({ "kind": "note", "title": "Floor division", "rationale": "it truncates", "citations": [self.py_chunk], "text": "a // b rounds toward minus infinity" });
        assert_eq!(self.propose(note), "P2");
        let command = json!({ "kind": "command", "title": "Run the tests", "rationale": "to check", "citations": [self.py_chunk], "argv": ["python3", "-m", "pytest", "-q"] });
        assert_eq!(self.propose(command), "P3");
        let secret = json!({ "kind": "edit", "title": "Add a key", "rationale": "config", "citations": [self.py_chunk],
            "diff": "--- /dev/null\n+++ b/.env\n@@ -0,0 +1 @@\n+KEY=1\n" });
        assert_eq!(self.propose(secret), "P4");
    }

    fn url(&self, fragment: &str) -> String {
        format!("http://{}/{fragment}", self.server.addr)
    }

    /// The ledger's events of `id`, through the API.
    fn events(&self, id: &str) -> Vec<Value> {
        let (code, v) = self.server.get(&format!("/v1/explain/{id}"));
        assert_eq!(code, 200, "{v}");
        v["events"].as_array().unwrap().clone()
    }
}

fn artifacts() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The JS expression: the open proposal is `id` in `state`.
fn showing(id: &str, state: &str) -> String {
    format!("document.querySelector('#detail article[data-id=\"{id}\"][data-state=\"{state}\"]')")
}

#[test]
fn a_reviewer_approves_with_the_keyboard_alone_and_sees_the_new_state() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let f = Fixture::new();
    f.propose_four();
    let browser = Browser::start();
    browser.open(&f.url(""));
    browser.find("#list a[href='#P1']");
    // A reload would lose this marker: the page must update in place.
    browser.script("window.writNoReload = 1;", json!([]));
    browser.tab_to("#token");
    browser.keys(&f.server.review_token);
    browser.tab_to("#list a[href='#P1']");
    browser.keys(&ENTER.to_string());
    browser.wait_until(&showing("P1", "held"), "Enter on the row opens P1");
    browser.tab_to("#reviewer");
    browser.keys("keyboard-reviewer");
    browser.tab_to("#reason");
    browser.keys("read it with the keyboard");
    browser.tab_to("#approve");
    // Two quick activations: the second lands while the first is in flight.
    browser.keys(&format!("{ENTER}{ENTER}"));
    browser.wait_until(
        &showing("P1", "recorded"),
        "after approving, the page shows P1's new state",
    );
    browser.wait_until(
        "window.writNoReload === 1",
        "the page updated without a reload",
    );
    browser.wait_until(
        "!document.querySelector('#approve') && !document.querySelector('#reject')",
        "no approve or reject buttons once P1 is no longer held",
    );
    let badge = browser.text_of("#detail article .state");
    assert_eq!(badge, "recorded", "the state shown");
    // A third activation, on whatever has the focus now.
    browser.keys(&format!("{ENTER}{SPACE}"));
    std::thread::sleep(Duration::from_millis(1500));
    browser.screenshot(&artifacts().join("review-page-keyboard-approved.png"));

    // A page left open while P2 is rejected elsewhere: approving it there
    // shows P2 as it is now and records nothing.
    browser.open(&f.url("#P2"));
    browser.wait_until(&showing("P2", "held"), "/#P2 opens P2");
    let (code, v) = f.server.review(
        "/v1/proposals/P2/reject",
        &json!({ "reviewer": "elsewhere", "reason": "not needed" }).to_string(),
    );
    assert_eq!(code, 200, "{v}");
    browser.type_into("#reason", "stale page");
    browser.click("#approve");
    browser.wait_until(
        &showing("P2", "rejected"),
        "the stale page shows P2 as rejected",
    );
    assert!(browser.text_of("#msg").contains("nothing was recorded"));
    drop(browser);
    let events = f.events("P2");
    assert!(
        events.iter().all(|e| e["kind"] == "transition"),
        "a stale page recorded a refused transition: {events:#?}"
    );

    let events = f.events("P1");
    let approvals: Vec<&Value> = events
        .iter()
        .filter(|e| e["actor"] == "human:keyboard-reviewer")
        .collect();
    assert_eq!(approvals.len(), 1, "one approval: {events:#?}");
    assert_eq!(approvals[0]["to"], "approved");
    assert_eq!(approvals[0]["reason"], "read it with the keyboard");
    assert!(
        events.iter().all(|e| e["kind"] == "transition"),
        "a second activation recorded a refused transition: {events:#?}"
    );
}

#[test]
fn the_page_fits_360_800_and_1400_px_without_horizontal_overflow() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let f = Fixture::new();
    f.propose_four();
    let long_line = format!("// {}", "a_long_line_that_never_wraps ".repeat(12));
    let wide = json!({ "kind": "edit", "title": format!("Widen {}", "x".repeat(90)), "rationale": "y".repeat(200),
        "citations": [f.rs_chunk],
        "diff": format!("--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,2 +1,3 @@\n /// Adds.\n+{long_line}\n pub fn add(a: i32, b: i32) -> i32 {{\n") });
    assert_eq!(f.propose(wide), "P5");
    let browser = Browser::start();
    let overflow = "return [document.documentElement.scrollWidth, innerWidth];";
    for width in [360, 800, 1400] {
        browser.viewport(width, 900);
        browser.open(&f.url("#P5"));
        browser.wait_until(&showing("P5", "held"), "the deep link opens P5");
        browser.find("#cites pre");
        let [scroll, inner] =
            [0, 1].map(|i| browser.script(overflow, json!([]))[i].as_i64().unwrap());
        let shot = artifacts().join(format!("review-page-{width}.png"));
        browser.screenshot(&shot);
        eprintln!("screenshot at {width} px: {}", shot.display());
        assert!(
            scroll <= inner,
            "at {width} px the document scrolls sideways: scrollWidth {scroll} > innerWidth {inner} (see {})",
            shot.display()
        );
        // The long line scrolls inside the diff's own box; what a reviewer
        // acts on is inside the viewport.
        let pre = browser.script(
            "const d = document.querySelector('#diff'); return d.scrollWidth > d.clientWidth && getComputedStyle(d).overflowX === 'auto';",
            json!([]),
        );
        assert_eq!(
            pre,
            json!(true),
            "at {width} px the diff does not scroll in its box"
        );
        for css in ["#approve", "#reject", "#reason", ".ruletext", "#diff"] {
            let right = browser.script(
                "const r = document.querySelector(arguments[0]).getBoundingClientRect(); return [r.left, r.right];",
                json!([css]),
            );
            let (left, right) = (right[0].as_f64().unwrap(), right[1].as_f64().unwrap());
            assert!(
                left >= 0.0 && right <= inner as f64,
                "at {width} px `{css}` is clipped: [{left}, {right}] outside [0, {inner}]"
            );
        }
        browser.script(
            "document.querySelector('#reason').scrollIntoView({ block: 'center' });",
            json!([]),
        );
        browser.screenshot(&artifacts().join(format!("review-page-{width}-review.png")));
        browser.open(&f.url("#all"));
        browser.find("#list a[href='#P5']");
        let [scroll, inner] =
            [0, 1].map(|i| browser.script(overflow, json!([]))[i].as_i64().unwrap());
        assert!(
            scroll <= inner,
            "at {width} px the list scrolls sideways: {scroll} > {inner}"
        );
    }
}

#[test]
fn cited_code_is_highlighted_once_per_language_and_keeps_its_text() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let f = Fixture::new();
    f.propose_four();
    let browser = Browser::start();
    browser.open(&f.url(""));
    browser.click("li[data-id='P1']");
    browser.find("#cites pre[data-lang='python']");
    browser.find("#cites pre[data-lang='rust']");
    let spans = |css: &str| -> Vec<String> {
        let js = "return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent);";
        browser
            .script(js, json!([css]))
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    // The text shown is the chunk's text, character for character: no
    // markup of the highlighter's own leaks into it.
    for (lang, chunk) in [("python", f.py_chunk), ("rust", f.rs_chunk)] {
        let shown = spans(&format!("#cites pre[data-lang='{lang}']"));
        let (code, source) = f.server.get(&format!("/v1/chunks/{chunk}"));
        assert_eq!(code, 200, "{source}");
        assert_eq!(shown.len(), 1, "{lang}: {shown:?}");
        assert_eq!(
            shown[0].as_str(),
            source["text"].as_str().unwrap(),
            "the {lang} chunk as shown"
        );
    }
    assert_eq!(
        spans("#cites pre[data-lang='python'] .com"),
        ["# floor division"],
        "Python comments start at `#` outside strings; `//` is floor division"
    );
    assert_eq!(
        spans("#cites pre[data-lang='python'] .str"),
        [
            r#""""Halve a // b; see # not a comment.""""#,
            r#""class=\"str\"> // not a comment <b>&amp;""#
        ],
        "Python strings"
    );
    let kw = spans("#cites pre[data-lang='python'] .kw");
    for k in ["def", "return"] {
        assert!(kw.iter().any(|w| w == k), "`{k}` is a keyword: {kw:?}");
    }
    assert_eq!(spans("#cites pre[data-lang='rust'] .com"), ["/// Adds."]);
    let kw = spans("#cites pre[data-lang='rust'] .kw");
    assert!(
        kw.iter().any(|w| w == "fn") && kw.iter().any(|w| w == "pub"),
        "{kw:?}"
    );
    // The diff: its lines by kind, the code in them as Rust.
    browser.find("#diff");
    assert_eq!(spans("#diff .add").len(), 1, "one added line");
    assert_eq!(spans("#diff .del").len(), 1, "one removed line");
    assert!(spans("#diff .meta").iter().any(|m| m == "+++ b/src/lib.rs"));
    let text = browser.text_of("#detail");
    for markup in ["class=\"kw", "class=\"com", "class=\"str\">/", "<span"] {
        assert!(
            !text.contains(markup),
            "literal markup `{markup}` on the page"
        );
    }
}

#[test]
fn a_deep_link_opens_a_proposal_with_its_facts_and_rules_and_history_works() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let f = Fixture::new();
    f.propose_four();
    let browser = Browser::start();
    browser.open(&f.url("#P3"));
    browser.wait_until(&showing("P3", "held"), "/#P3 opens P3");
    // The facts the rules saw and the text of the rule that decided.
    let rules = browser.text_of("#detail .ruletext");
    assert!(rules.contains("id = \"hold-commands\""), "{rules}");
    assert!(rules.contains("when = { kind = [\"command\"] }"), "{rules}");
    let facts = browser.text_of("#detail .facts");
    assert!(
        facts.contains("kind") && facts.contains("command"),
        "{facts}"
    );
    assert!(
        facts.contains("channel") && facts.contains("http"),
        "{facts}"
    );
    // Navigating updates the address; back and forward follow it.
    browser.click("#list a[href='#P2']");
    browser.wait_until(&showing("P2", "held"), "the row opens P2");
    browser.wait_until("location.hash === '#P2'", "the address names P2");
    browser.cmd("POST", "/back", json!({}));
    browser.wait_until(&showing("P3", "held"), "back shows P3 again");
    browser.cmd("POST", "/forward", json!({}));
    browser.wait_until(&showing("P2", "held"), "forward shows P2 again");
    // A forbidden proposal: the forbidding rule's text, no review buttons.
    browser.open(&f.url("#P4"));
    browser.wait_until(&showing("P4", "forbidden"), "/#P4 opens P4");
    let rules = browser.text_of("#detail .ruletext");
    assert!(rules.contains("id = \"forbid-secrets\""), "{rules}");
    assert!(browser
        .script("return !document.querySelector('#approve');", json!([]))
        .as_bool()
        .unwrap());
    // What a proposer sent is shown as text, never run: a held one's
    // title, and a refused one as received, with the reasons.
    let title = "<img src=x onerror=\"window.pwned=1\">";
    let held = json!({ "kind": "command", "title": title, "rationale": "r", "citations": [f.py_chunk], "argv": ["true"] });
    let refused = json!({ "kind": "command", "title": title, "rationale": { "not": "a string" }, "citations": "none", "argv": "rm -rf /" });
    for (id, state) in [(f.propose(held), "held"), (f.propose(refused), "refused")] {
        browser.open(&f.url(&format!("#{id}")));
        browser.wait_until(&showing(&id, state), "the hostile proposal opens");
        assert!(browser.text_of("#detail").contains("<img src=x"), "{id}");
        let ran = browser.script(
            "return [!!document.querySelector('#detail img'), !!window.pwned];",
            json!([]),
        );
        assert_eq!(ran, json!([false, false]), "{id}");
    }
    assert!(browser
        .text_of("#detail")
        .contains("refused: not a proposal"));
    // An unknown id says so.
    browser.open(&f.url("#P99"));
    browser.wait_until(
        "document.querySelector('#detail').textContent.includes('P99')",
        "an unknown id is named",
    );
}

#[test]
fn all_proposals_filter_by_state_and_page() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let f = Fixture::new();
    f.propose_four();
    for i in 0..20 {
        let note = json!({ "kind": "note", "title": format!("Note {i}"), "rationale": "r", "citations": [f.py_chunk], "text": "t" });
        f.propose(note);
    }
    // 24 proposals: 23 held, 1 forbidden.
    let browser = Browser::start();
    browser.open(&f.url(""));
    browser.click("#nav-all");
    browser.wait_until(
        "location.hash.startsWith('#all')",
        "the address names the view",
    );
    browser.find("#state-filter");
    let rows = "document.querySelectorAll('#list a[data-id]').length";
    browser.wait_until(&format!("{rows} === 20"), "a page of 20 rows");
    browser.click("#next");
    browser.wait_until(&format!("{rows} === 4"), "the second page has the other 4");
    browser.wait_until("/page=2/.test(location.hash)", "the address names page 2");
    browser.cmd("POST", "/back", json!({}));
    browser.wait_until(&format!("{rows} === 20"), "back to page 1");
    browser.click("#state-filter option[value='forbidden']");
    browser.wait_until(
        "/state=forbidden/.test(location.hash)",
        "the address names the filter",
    );
    browser.wait_until(&format!("{rows} === 1"), "one forbidden proposal");
    let states = "[...document.querySelectorAll('#list a[data-id] .state')].map((e) => e.textContent).join()";
    browser.wait_until(&format!("{states} === 'forbidden'"), "only forbidden rows");
    browser.click("#state-filter option[value='held']");
    browser.wait_until(&format!("{rows} === 20"), "20 held on page 1");
    browser.wait_until(
        &format!("{states}.split(',').every((s) => s === 'held')"),
        "only held rows",
    );
    // The filter survives a reload: it is in the address.
    browser.cmd("POST", "/refresh", json!({}));
    browser.wait_until(
        &format!("{rows} === 20"),
        "the filtered view after a reload",
    );
    assert_eq!(
        browser.script(
            "return document.querySelector('#state-filter').value;",
            json!([])
        ),
        json!("held")
    );
}

/// axe-core's `axe.min.js`: `$WRIT_AXE_JS` (scripts/setup.sh sets it), else
/// where setup.sh installs it. In the slow tier a missing one fails.
fn axe_js() -> String {
    let path = std::env::var_os("WRIT_AXE_JS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("WRIT_CACHE").map_or_else(
                || std::path::PathBuf::from("/var/cache/writ"),
                std::path::PathBuf::from,
            );
            cache.join("npm-axe-core/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing ({}: {e}): scripts/setup.sh installs it with WRIT_BROWSER=1 and sets WRIT_AXE_JS",
            path.display()
        )
    })
}

#[test]
fn an_axe_audit_finds_no_serious_or_critical_violation() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let axe = axe_js();
    let f = Fixture::new();
    f.propose_four();
    let browser = Browser::start();
    let mut found = Vec::new();
    let mut audit = |view: &str, browser: &Browser| {
        for v in browser.axe(&axe) {
            eprintln!("axe, {view}: {} ({}): {}", v["id"], v["impact"], v["help"]);
            for n in v["nodes"].as_array().unwrap() {
                eprintln!("    {}", n.as_str().unwrap_or(""));
            }
            found.push((view.to_string(), v));
        }
    };
    browser.open(&f.url(""));
    browser.click("li[data-id='P1']");
    browser.find("#diff");
    browser.find("#cites pre");
    browser.find("#reason");
    audit("held proposal, 1400 px", &browser);
    browser.viewport(360, 800);
    audit("held proposal, 360 px", &browser);
    browser.viewport(1400, 1000);
    browser.click("#nav-all");
    browser.find("#list li[data-id='P4']");
    audit("all proposals", &browser);
    browser.click("li[data-id='P4']");
    browser.find("#diff");
    audit("forbidden proposal", &browser);
    let bad: Vec<String> = found
        .iter()
        .filter(|(_, v)| v["impact"] == "serious" || v["impact"] == "critical")
        .map(|(view, v)| format!("{view}: {} ({}): {}", v["id"], v["impact"], v["help"]))
        .collect();
    assert!(
        bad.is_empty(),
        "axe-core found serious or critical violations:\n{}",
        bad.join("\n")
    );
}
