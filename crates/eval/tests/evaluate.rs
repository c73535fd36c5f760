//! The evaluation pipeline end to end on a small repository, with the
//! hashing fake embedder (the subject is the pipeline: tasks, the blanked
//! copy, the modes and the scores, not the model).
#![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

use std::path::Path;
use std::sync::atomic::AtomicBool;
use writ_eval::{evaluate, EvalError, EvalOptions};
use writ_testkit::HashEmbedder;

const GO: &str = "package store\n\n// OpenArchive opens the archive file and reads its table of contents.\nfunc OpenArchive(path string) (*Archive, error) {\n\treturn readToc(path)\n}\n\n// CloseArchive flushes pending writes and closes the archive handle.\nfunc CloseArchive(a *Archive) error {\n\treturn a.flush()\n}\n";
const PY: &str = "def parse_header(line):\n    \"\"\"parse_header splits one header line into a name and a value.\"\"\"\n    name, _, value = line.partition(':')\n    return name, value\n";
const RS: &str = "/// checksum_block computes the running checksum of one data block.\npub fn checksum_block(data: &[u8]) -> u32 {\n    data.iter().map(|b| *b as u32).sum()\n}\n";

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in [
        ("store/archive.go", GO),
        ("headers.py", PY),
        ("src/sum.rs", RS),
    ] {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

#[test]
fn scores_every_language_and_mode_and_leaves_the_repository_alone() {
    let repo = repo();
    let work = tempfile::tempdir().unwrap();
    let options = EvalOptions {
        work_dir: Some(work.path().join("run")),
        ..EvalOptions::default()
    };
    let report = evaluate(
        repo.path(),
        &HashEmbedder::new(),
        &options,
        &AtomicBool::new(false),
        &|_| {},
    )
    .unwrap();
    assert_eq!(report.tasks, 4);
    assert_eq!(report.tasks_found, 4);
    assert_eq!(
        report.modes,
        [
            "hybrid",
            "vector",
            "lexical",
            "peer-rrf",
            "peer-vector",
            "peer-bm25"
        ]
    );
    let languages: Vec<(&str, usize)> = report
        .languages
        .iter()
        .map(|l| (l.language.as_str(), l.n))
        .collect();
    assert_eq!(languages, [("go", 2), ("python", 1), ("rust", 1)]);
    // Each query names its function, so the lexical engines find all of them.
    let lexical = &report.overall[2];
    assert_eq!((lexical.mode.as_str(), lexical.r10), ("lexical", 1.0));
    assert!(report
        .overall
        .iter()
        .all(|s| s.mrr10 <= 1.0 && s.r1 <= s.r10));
    // The repository is untouched; the copy has no doc left.
    assert_eq!(
        std::fs::read_to_string(repo.path().join("headers.py")).unwrap(),
        PY
    );
    let copy = std::fs::read_to_string(work.path().join("run/corpus/store/archive.go")).unwrap();
    assert!(!copy.contains("//"), "{copy}");
    assert_eq!(copy.lines().count(), GO.lines().count());
    assert!(work.path().join("run/index").is_dir());
}

#[test]
fn no_baseline_means_writ_modes_only_and_the_sample_is_bounded() {
    let repo = repo();
    let options = EvalOptions {
        baseline: false,
        max_queries: 2,
        ..EvalOptions::default()
    };
    let report = evaluate(
        repo.path(),
        &HashEmbedder::new(),
        &options,
        &AtomicBool::new(false),
        &|_| {},
    )
    .unwrap();
    assert_eq!(report.modes, ["hybrid", "vector", "lexical"]);
    assert_eq!(
        (report.tasks_found, report.tasks, report.windows),
        (4, 2, 0)
    );
}

#[test]
fn a_repository_without_docs_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.py"), "def f():\n    return 1\n").unwrap();
    let err = evaluate(
        dir.path(),
        &HashEmbedder::new(),
        &EvalOptions::default(),
        &AtomicBool::new(false),
        &|_| {},
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::NoTasks { ref root } if root == Path::new(dir.path())));
    assert!(err.to_string().contains("no documented function"), "{err}");
}

#[test]
fn a_used_work_folder_is_refused_and_left_alone() {
    let repo = repo();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("mine.txt"), "mine").unwrap();
    let options = EvalOptions {
        work_dir: Some(work.path().to_path_buf()),
        ..EvalOptions::default()
    };
    let err = evaluate(
        repo.path(),
        &HashEmbedder::new(),
        &options,
        &AtomicBool::new(false),
        &|_| {},
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::WorkDirUsed { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(work.path().join("mine.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn a_cancelled_run_stops() {
    let repo = repo();
    let err = evaluate(
        repo.path(),
        &HashEmbedder::new(),
        &EvalOptions::default(),
        &AtomicBool::new(true),
        &|_| {},
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::Interrupted), "{err}");
}

#[test]
fn functions_documented_alike_answer_each_others_query() {
    let dir = tempfile::tempdir().unwrap();
    let doc = "def load(path):\n    \"\"\"Load the settings file from the given path.\"\"\"\n    return open(path).read()\n";
    std::fs::write(dir.path().join("a.py"), doc).unwrap();
    std::fs::write(dir.path().join("b.py"), doc).unwrap();
    let options = EvalOptions {
        baseline: false,
        ..EvalOptions::default()
    };
    let report = evaluate(
        dir.path(),
        &HashEmbedder::new(),
        &options,
        &AtomicBool::new(false),
        &|_| {},
    )
    .unwrap();
    assert_eq!(report.tasks, 2);
    // Whichever copy ranks first answers both queries.
    assert!(
        report.overall.iter().all(|s| s.r1 == 1.0),
        "{:?}",
        report.overall
    );
}
