//! `writ index`, `writ search`, `writ status` end to end: real models, real
//! FAISS and SQLite, git repositories made in temp dirs.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{hit_paths, Repo};

const RUST: &str = r#"/// Parses a configuration file into key/value settings.
pub fn parse_config(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

pub struct Cache { entries: Vec<u64> }

impl Cache {
    /// Evicts the oldest entry when the cache is full.
    pub fn evict_oldest(&mut self) -> Option<u64> {
        if self.entries.is_empty() { None } else { Some(self.entries.remove(0)) }
    }
}
"#;

const PYTHON: &str = r#"import hashlib


class Downloader:
    def fetch_url(self, url, retries=3):
        for attempt in range(retries):
            try:
                return self.session.get(url, timeout=10)
            except ConnectionError:
                continue
        raise RuntimeError("giving up on " + url)


def checksum(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
"#;

fn small_repo() -> Repo {
    let repo = Repo::new();
    repo.write("src/config.rs", RUST);
    repo.write("tools/download.py", PYTHON);
    repo.write(
        "web/store.ts",
        "export class CartStore {\n  total(items: number[]): number {\n    return items.reduce((a, b) => a + b, 0);\n  }\n}\n",
    );
    repo.write(
        "server/main.go",
        "package main\n\nimport \"net/http\"\n\n// ServeHealth answers the health check endpoint.\nfunc ServeHealth(w http.ResponseWriter, r *http.Request) {\n\tw.WriteHeader(200)\n}\n",
    );
    repo.write(
        "README.md",
        "# Demo\n\nA demo project.\n\n## Installing\n\nRun make install to build and copy the binary.\n",
    );
    repo.commit_all();
    repo
}

#[test]
fn walk_honours_ignores_and_records_skip_reasons() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = small_repo();
    repo.write(".gitignore", "ignored/\n");
    repo.write("ignored/secret.py", "def leaked(): pass\n");
    repo.write(".writignore", "generated.py\n");
    repo.write("generated.py", "def generated_code(): pass\n");
    repo.write("Cargo.lock", "# lock\n");
    repo.write("app.min.js", "var a=1;\n");
    repo.write("node_modules/lib/index.js", "module.exports = 1;\n");
    repo.write("blob.txt", b"binary\x00data\x00".as_slice());
    repo.write("huge.txt", "x".repeat(5000));
    repo.write(
        "latin1.py",
        b"def caf\xe9():\n    return 'na\xefve'\n".as_slice(),
    );
    repo.write(".hidden/conf.py", "def hidden(): pass\n");
    std::os::unix::fs::symlink(".", repo.path().join("loop")).unwrap();
    std::os::unix::fs::symlink("/etc", repo.path().join("outside")).unwrap();

    let report = repo.writ_json(&["index", "--max-file-size", "4096"]);
    assert_eq!(report["files_scanned"], 6, "{report}");
    let status = repo.writ_json(&["status"]);
    let skipped: Vec<(String, String)> = status["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reason = |path: &str| {
        skipped
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("`{path}` not in skipped: {skipped:?}"))
    };
    assert_eq!(reason("Cargo.lock"), "lock file");
    assert_eq!(reason("app.min.js"), "minified");
    assert_eq!(reason("node_modules/"), "vendored or build folder");
    assert!(reason("blob.txt").starts_with("binary"));
    assert!(reason("huge.txt").starts_with("too large"));
    assert!(reason("loop").contains("symbolic link"));
    assert!(reason("outside").contains("symbolic link"));
    assert_eq!(status["lossy"], serde_json::json!(["latin1.py"]));
    assert_eq!(status["stale"], serde_json::json!([]));
    let all = repo.search_hits(&["search", "def", "-k", "50", "--mode", "lexical"]);
    let paths = hit_paths(&all);
    for never in ["ignored/secret.py", "generated.py", ".hidden/conf.py"] {
        assert!(
            !paths.iter().any(|p| p == never),
            "{never} was indexed: {paths:?}"
        );
    }
    assert!(paths.iter().any(|p| p == "latin1.py"), "{paths:?}");
}

#[test]
fn search_finds_by_meaning_with_symbols_and_json_shape() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = small_repo();
    repo.writ_json(&["index"]);
    let hits = repo.search_hits(&["search", "retry downloading a web page", "-k", "3"]);
    let first = &hits[0];
    assert_eq!(first["path"], "tools/download.py", "{hits}");
    // A class that fits the token budget is one chunk, named after it.
    assert!(
        first["symbol"].as_str().unwrap().starts_with("Downloader"),
        "{hits}"
    );
    assert_eq!(first["language"], "python");
    for key in ["start_line", "end_line", "score", "chunk_id"] {
        assert!(first[key].is_number(), "missing {key}: {first}");
    }
    // Exact identifiers are found through the lexical side.
    let hits = repo.search_hits(&["search", "evict_oldest", "-k", "1"]);
    assert_eq!(hits[0]["symbol"], "Cache", "{hits}");
    assert!(
        hits[0]["start_line"].as_u64().unwrap() <= 13
            && hits[0]["end_line"].as_u64().unwrap() >= 15
    );
    // Language filter.
    let hits = repo.search_hits(&["search", "health check", "--lang", "go"]);
    assert!(
        hit_paths(&hits).iter().all(|p| p.ends_with(".go")),
        "{hits}"
    );
    // Human output: path:start-end  score  symbol.
    let out = repo.writ(&["search", "install the binary", "-k", "1"]);
    let line = common::text(&out.stdout);
    // Each heading section is its own chunk, named by its heading path.
    assert!(line.starts_with("README.md:5-7  "), "{line}");
    assert!(
        line.lines().next().unwrap().ends_with("Demo > Installing"),
        "{line}"
    );
}

#[test]
fn batch_search_answers_in_input_order() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = small_repo();
    repo.writ_json(&["index"]);
    let input = "evict the oldest cache entry\n{\"query\": \"sha256 of a file\"}\n";
    let queries = repo.path().join("q.txt");
    std::fs::write(&queries, input).unwrap();
    let out = repo.writ(&["search", "--batch", queries.to_str().unwrap(), "-k", "2"]);
    common::assert_ok(&out, &["search", "--batch"]);
    let lines: Vec<serde_json::Value> = common::text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["query"], "evict the oldest cache entry");
    assert_eq!(lines[0]["hits"][0]["symbol"], "Cache");
    assert_eq!(lines[1]["query"], "sha256 of a file");
    assert_eq!(lines[1]["hits"][0]["path"], "tools/download.py");
}

/// Queries read together are embedded as one batch, yet a client that
/// writes one query and waits for its answer gets it; a bad line fails
/// with its line number after the lines before it are answered.
#[test]
fn batch_search_streams_and_reports_a_bad_line() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    use std::io::{BufRead, Write};
    let repo = small_repo();
    repo.writ_json(&["index"]);
    let mut child = common::writ_cmd(repo.path(), &["search", "--batch", "-", "-k", "1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    for query in ["evict the oldest cache entry", "sha256 of a file"] {
        writeln!(stdin, "{query}").unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        stdout.read_line(&mut answer).unwrap();
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["query"], query);
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());

    let queries = repo.path().join("q.jsonl");
    std::fs::write(
        &queries,
        "evict the oldest cache entry\nsha256 of a file\n{\"q\": 1}\nlast\n",
    )
    .unwrap();
    let out = repo.writ(&["search", "--batch", queries.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(common::text(&out.stdout).lines().count(), 2, "{out:?}");
    assert!(
        common::text(&out.stderr).contains("q.jsonl:3: no string `query` field"),
        "{out:?}"
    );
}

#[test]
fn reindex_touches_only_what_changed() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = small_repo();
    let first = repo.writ_json(&["index"]);
    assert_eq!(first["files_added"], 5);
    let total = first["chunks_total"].as_u64().unwrap();

    // Nothing changed: nothing embedded, generation kept.
    let again = repo.writ_json(&["index"]);
    assert_eq!(again["chunks_embedded"], 0, "{again}");
    assert_eq!(again["files_unchanged"], 5);
    assert_eq!(again["generation"], first["generation"]);

    // Modify one function, delete one file, rename one file.
    repo.write(
        "src/config.rs",
        RUST.replace("Evicts the oldest entry", "Drops the least recent entry"),
    );
    repo.remove("web/store.ts");
    repo.rename("tools/download.py", "tools/fetcher.py");
    let report = repo.writ_json(&["index"]);
    assert_eq!(report["files_changed"], 1, "{report}");
    assert_eq!(report["files_added"], 1, "{report}");
    assert_eq!(report["files_deleted"], 2, "{report}");
    // Only the edited method is new content; the rename reuses its vectors.
    assert_eq!(report["chunks_embedded"], 1, "{report}");
    assert!(report["chunks_reused"].as_u64().unwrap() >= 2, "{report}");
    assert!(report["chunks_total"].as_u64().unwrap() < total, "{report}");

    let hits = repo.search_hits(&["search", "least recent entry", "-k", "1"]);
    assert_eq!(hits[0]["symbol"], "Cache", "{hits}");
    assert!(hits[0]["similarity"].as_f64().unwrap() > 0.3, "{hits}");
    let hits = repo.search_hits(&["search", "checksum of a file", "-k", "20"]);
    let paths = hit_paths(&hits);
    assert!(paths.contains(&"tools/fetcher.py".to_string()), "{paths:?}");
    assert!(
        !paths
            .iter()
            .any(|p| p == "tools/download.py" || p == "web/store.ts"),
        "{paths:?}"
    );
    let status = repo.writ_json(&["status"]);
    assert_eq!(status["stale"], serde_json::json!([]));
}

#[test]
fn path_filter_applies_before_top_k() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = Repo::new();
    for i in 0..12 {
        repo.write(
            &format!("pkg/parser{i}.py"),
            format!("def parse_config_file_{i}(path):\n    \"\"\"Parse the configuration file.\"\"\"\n    return open(path).read().split('=')\n"),
        );
    }
    repo.write(
        "docs/guide.md",
        "# Guide\n\nSettings live in a text file that writ reads at start.\n",
    );
    repo.commit_all();
    repo.writ_json(&["index"]);
    let global = repo.search_hits(&["search", "parse the configuration file", "-k", "3"]);
    assert!(
        !hit_paths(&global).iter().any(|p| p.starts_with("docs/")),
        "{global}"
    );
    let filtered = repo.search_hits(&[
        "search",
        "parse the configuration file",
        "-k",
        "3",
        "--path",
        "docs/**",
    ]);
    assert_eq!(hit_paths(&filtered), ["docs/guide.md"], "{filtered}");
}

#[test]
fn a_missing_faiss_file_is_rebuilt_from_sqlite_without_reembedding() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = small_repo();
    let report = repo.writ_json(&["index"]);
    assert_eq!(report["generation"], 1, "{report}");
    let faiss = repo.path().join(".writ/seg-0.faiss");
    assert!(faiss.is_file());
    std::fs::remove_file(&faiss).unwrap();
    let out = repo.writ(&["search", "health check endpoint", "-k", "1", "--json"]);
    common::assert_ok(&out, &["search"]);
    assert!(
        common::text(&out.stderr).contains("rebuilt them in memory from SQLite"),
        "{}",
        common::text(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["hits"][0]["symbol"], "ServeHealth");
    std::fs::remove_file(&faiss).unwrap_or(());
    let report = repo.writ_json(&["index"]);
    assert_eq!(report["chunks_embedded"], 0, "{report}");
    assert_eq!(report["vectors_rebuilt"], true, "{report}");
    // Written back under the next segment number.
    assert!(repo.path().join(".writ/seg-1.faiss").is_file());
}

#[test]
fn a_matching_doc_hands_its_place_to_the_code_it_names() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "docs/usage.rst",
        "Retrying\n========\n\nWhen the remote server drops the connection, wait a little and send the\n\
         request again, up to a few attempts, doubling the pause each time. Use\n\
         ``retry_request`` for this.\n",
    );
    repo.write(
        "src/net.py",
        "import time\n\n\ndef retry_request(send, attempts=3):\n    delay = 0.5\n    for _ in range(attempts):\n        try:\n            return send()\n        except OSError:\n            time.sleep(delay)\n            delay *= 2\n    return send()\n\n\n\
         def parse_headers(raw):\n    return dict(line.split(': ', 1) for line in raw.splitlines() if line)\n\n\n\
         def encode_body(data):\n    return '&'.join(f'{k}={v}' for k, v in data.items())\n",
    );
    repo.commit_all();
    repo.writ_json(&["index"]);
    let query = "wait and send the request again when the server drops the connection";
    // Each engine alone ranks the prose first...
    for mode in ["vector", "lexical"] {
        let hits = repo.search_hits(&["search", query, "-k", "3", "--mode", mode]);
        assert_eq!(hit_paths(&hits)[0], "docs/usage.rst", "{mode}: {hits}");
    }
    // ...hybrid search puts the function the doc names first, the doc next.
    let hits = repo.search_hits(&["search", query, "-k", "3"]);
    assert_eq!(hits[0]["symbol"], "retry_request", "{hits}");
    assert_eq!(hits[1]["path"], "docs/usage.rst", "{hits}");
    assert!(
        hits[0]["score"].as_f64() >= hits[1]["score"].as_f64(),
        "{hits}"
    );
}

#[test]
fn index_estimate_says_what_a_run_will_do_and_writes_nothing() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = small_repo();
    let estimate = repo.writ_json(&["index", "--estimate"]);
    assert!(!repo.path().join(".writ").exists(), "{estimate}");
    assert!(
        estimate["tokens_per_second"].as_f64().unwrap() > 0.0,
        "{estimate}"
    );
    let report = repo.writ_json(&["index"]);
    assert_eq!(
        estimate["chunks"], report["chunks_total"],
        "{estimate} {report}"
    );
    assert_eq!(
        estimate["files"], report["files_scanned"],
        "{estimate} {report}"
    );
    let again = repo.writ(&["index", "--estimate"]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing to embed"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

/// An index keeps the precision it was built with: search follows it with
/// no flag, another precision is refused (exit 5, both named) until
/// `--rebuild`, and int8 and f32 vectors answer the same question alike.
#[test]
fn an_index_keeps_its_precision_and_refuses_another() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let repo = small_repo();
    let precision = |repo: &Repo| {
        let status = repo.writ_json(&["status"]);
        status["manifest"]["model"]["precision"].clone()
    };
    let top = |repo: &Repo| {
        let out = repo.writ(&["search", "health check endpoint", "-k", "1", "--json"]);
        common::assert_ok(&out, &["search"]);
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        answer["hits"][0]["symbol"].clone()
    };
    let out = repo.writ(&["index", "--precision", "int8"]);
    common::assert_ok(&out, &["index"]);
    // writ says what computes the vectors.
    let said = common::text(&out.stderr);
    assert!(
        said.contains("embedding with all-MiniLM-L6-v2 on the CPU in int8"),
        "{said}"
    );
    assert_eq!(precision(&repo), "int8");
    assert_eq!(top(&repo), "ServeHealth");
    for args in [
        &["index", "--precision", "f32"][..],
        &["search", "--precision", "f32", "health"][..],
    ] {
        let out = repo.writ(args);
        assert_eq!(out.status.code(), Some(5), "{args:?}");
        let err = common::text(&out.stderr);
        assert!(
            err.contains("precision int8") && err.contains("precision f32"),
            "{err}"
        );
        assert!(err.contains("--rebuild"), "{err}");
    }
    let report = repo.writ_json(&["index", "--rebuild", "--precision", "f32"]);
    assert!(report["chunks_embedded"].as_u64().unwrap() > 0, "{report}");
    // f32 is the default of the manifest field: absent on disk.
    assert_eq!(precision(&repo), serde_json::Value::Null);
    assert_eq!(top(&repo), "ServeHealth");
    // A plain run keeps f32 (the index's own), whatever the CPU's default.
    let report = repo.writ_json(&["index"]);
    assert_eq!(report["chunks_embedded"], 0, "{report}");
    // A rebuild is a new index: the CPU's default.
    repo.writ_json(&["index", "--rebuild"]);
    let default = match writ_embed::default_precision() {
        writ_embed::Precision::F32 => serde_json::Value::Null,
        other => serde_json::Value::from(other.as_str()),
    };
    assert_eq!(precision(&repo), default);
    assert_eq!(top(&repo), "ServeHealth");
}
