//! One evaluation: copy the repository with its docs blanked, index the
//! copy, answer every task in each of writ's modes and the peers', and
//! score.

use crate::baseline::Baseline;
use crate::tasks::{blank_file, Task};
use crate::{EvalError, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use writ_core::Embedder;
use writ_index::{Hit, IndexOptions, Indexer, SearchMode, SearchOptions, Searcher, WalkOptions};

/// How deep a query is looked at: MRR@10, R@10.
const K: usize = 10;

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Which files are indexed (and give tasks): writ's own walk rules.
    pub walk: WalkOptions,
    /// At most this many tasks, spread evenly over the repository
    /// (0: all). Default: 1,000.
    pub max_queries: usize,
    /// Also run the peers' baseline (windows, BM25, their fusion).
    /// Default: true.
    pub baseline: bool,
    /// How many of the worst misses to list. Default: 10.
    pub misses: usize,
    /// A folder never walked (the repository's own index).
    pub exclude: Option<PathBuf>,
    /// Where to build the blanked copy and its index, kept afterwards; it
    /// must be new or empty (nothing in it is ever deleted). A temporary
    /// folder, removed afterwards, when `None`.
    pub work_dir: Option<PathBuf>,
    /// Search settings besides mode and k (path filters, languages).
    pub search: SearchOptions,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            walk: WalkOptions::default(),
            max_queries: 1000,
            baseline: true,
            misses: 10,
            exclude: None,
            work_dir: None,
            search: SearchOptions::default(),
        }
    }
}

/// Scores of one mode over a set of tasks.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    /// `hybrid`, `vector`, `lexical`, `peer-rrf`, `peer-vector`, `peer-bm25`.
    pub mode: String,
    /// Tasks scored.
    pub n: usize,
    /// Mean reciprocal rank of the first right hit in the top 10.
    pub mrr10: f64,
    /// Share of tasks answered at rank 1.
    pub r1: f64,
    /// Share of tasks answered in the top 10.
    pub r10: f64,
}

/// Scores of every mode on one language's tasks.
#[derive(Debug, Clone, Serialize)]
pub struct LanguageScores {
    /// Language name.
    pub language: String,
    /// Tasks in this language.
    pub n: usize,
    /// One score per mode, in [`Report::modes`] order.
    pub scores: Vec<Score>,
}

/// What writ ranked first for a query.
#[derive(Debug, Clone, Serialize)]
pub struct TopHit {
    /// File.
    pub path: String,
    /// First line.
    pub start_line: usize,
    /// Last line.
    pub end_line: usize,
    /// Symbol, when the chunk has one.
    pub symbol: Option<String>,
}

/// A task hybrid search did not answer in its top 10.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    /// The task.
    #[serde(flatten)]
    pub task: Task,
    /// The rank (1-10) each mode gave the right chunk, if any.
    pub ranks: BTreeMap<String, Option<usize>>,
    /// What hybrid search ranked first instead.
    pub top: Option<TopHit>,
}

/// The result of an evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The repository evaluated.
    pub root: String,
    /// Files indexed.
    pub files: usize,
    /// Chunks writ cut them into.
    pub chunks: u64,
    /// Peer windows (0 without the baseline).
    pub windows: usize,
    /// Documented functions found.
    pub tasks_found: usize,
    /// Tasks asked (at most `max_queries`).
    pub tasks: usize,
    /// Modes, in the order of every score list.
    pub modes: Vec<String>,
    /// Every task.
    pub overall: Vec<Score>,
    /// By language, most tasks first.
    pub languages: Vec<LanguageScores>,
    /// The worst misses: hybrid's top 10 lacked the answer; those another
    /// mode found come first.
    pub misses: Vec<Miss>,
    /// Seconds spent in all.
    pub seconds: f64,
}

/// Evaluates writ's retrieval on the repository at `root` with `embedder`.
/// `progress` hears one line per stage; setting `cancel` stops the run
/// between batches with [`EvalError::Interrupted`] (a temporary folder is
/// still removed).
pub fn evaluate(
    root: &Path,
    embedder: &dyn Embedder,
    options: &EvalOptions,
    cancel: &AtomicBool,
    progress: &dyn Fn(&str),
) -> Result<Report> {
    let started = Instant::now();
    let temp;
    let work = match &options.work_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("writ-eval-")
                .tempdir()
                .map_err(|e| EvalError::io(std::env::temp_dir(), e))?;
            temp.path().to_path_buf()
        }
    };
    let used = match std::fs::read_dir(&work) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(EvalError::io(&work, e)),
    };
    if used {
        return Err(EvalError::WorkDirUsed { path: work });
    }
    private_dir(&work)?;
    let corpus = work.join("corpus");
    let index = work.join("index");
    // Both made here, private, and new: a folder someone else put in their
    // place since the emptiness check is refused, not written into.
    for dir in [&corpus, &index] {
        new_private_dir(dir)?;
    }
    progress("copying the repository with its docs blanked");
    let (files, mut tasks) = copy_blanked(root, &corpus, options)?;
    stop_if(cancel)?;
    if tasks.is_empty() {
        return Err(EvalError::NoTasks {
            root: root.to_path_buf(),
        });
    }
    let tasks_found = tasks.len();
    // Functions whose docs open with the same sentence (pflag's `BoolVarP`
    // method and function, overloads documented alike) cannot be told
    // apart by that sentence: a query is answered by any of them.
    let mut alike: HashMap<String, Vec<Answer>> = HashMap::new();
    for t in &tasks {
        alike
            .entry(t.query.clone())
            .or_default()
            .push((t.path.clone(), t.start, t.end));
    }
    tasks = sample(tasks, options.max_queries);
    let answers: Vec<&[Answer]> = tasks
        .iter()
        .map(|t| alike.get(&t.query).map_or(&[][..], Vec::as_slice))
        .collect();
    if options.work_dir.is_some() {
        // The questions asked, beside the copy, for rerunning them with
        // `writ search --batch`.
        let path = work.join("tasks.jsonl");
        let mut lines = String::new();
        for t in &tasks {
            lines.push_str(&serde_json::to_string(t).unwrap_or_default());
            lines.push('\n');
        }
        write_private(&path, lines.as_bytes())?;
    }
    progress(&format!(
        "{} files, {tasks_found} documented functions, asking {}; indexing the copy",
        files.len(),
        tasks.len()
    ));
    let index_options = IndexOptions {
        walk: options.walk.clone(),
        ..IndexOptions::default()
    };
    let report = Indexer::new(&corpus, &index, embedder, index_options).run(cancel, &|_| {})?;
    if report.interrupted {
        return Err(EvalError::Interrupted);
    }
    let queries: Vec<&str> = tasks.iter().map(|t| t.query.as_str()).collect();
    let mut modes: Vec<String> = Vec::new();
    let mut ranks: Vec<Vec<Option<usize>>> = Vec::new();
    let mut tops: Vec<Option<TopHit>> = vec![None; tasks.len()];
    let mut searcher = Searcher::open(&index, embedder)?;
    for (name, mode) in [
        ("hybrid", SearchMode::Hybrid),
        ("vector", SearchMode::Vector),
        ("lexical", SearchMode::Lexical),
    ] {
        stop_if(cancel)?;
        progress(&format!("searching: {name}"));
        let search = SearchOptions {
            k: K,
            mode,
            ..options.search.clone()
        };
        let hits_of_mode = searcher.search_many(&queries, &search)?;
        if mode == SearchMode::Hybrid {
            tops = hits_of_mode
                .iter()
                .map(|hits| hits.first().map(top))
                .collect();
        }
        ranks.push(
            answers
                .iter()
                .zip(&hits_of_mode)
                .map(|(a, hits)| {
                    rank_of(a, hits.iter().map(|h| (&h.path, h.start_line, h.end_line)))
                })
                .collect(),
        );
        modes.push(name.to_string());
    }
    let mut windows = 0;
    if options.baseline {
        stop_if(cancel)?;
        progress("the peers' baseline: embedding 40-line windows");
        let baseline =
            Baseline::build(&files, embedder, cancel).ok_or(EvalError::Interrupted)??;
        windows = baseline.windows().len();
        let dim = embedder.info().dim;
        let mut vectors = Vec::with_capacity(queries.len() * dim);
        for batch in queries.chunks(64) {
            vectors.extend(embedder.embed(batch)?);
        }
        let ranked: Vec<_> = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| baseline.rank(&t.query, &vectors[i * dim..(i + 1) * dim], K))
            .collect();
        let w = baseline.windows();
        let pick = |list: &[usize], a: &[Answer]| {
            rank_of(
                a,
                list.iter().map(|i| (&w[*i].path, w[*i].start, w[*i].end)),
            )
        };
        for (name, which) in [("peer-rrf", 0), ("peer-vector", 1), ("peer-bm25", 2)] {
            ranks.push(
                answers
                    .iter()
                    .zip(&ranked)
                    .map(|(a, r)| match which {
                        0 => pick(&r.fused, a),
                        1 => pick(&r.vector, a),
                        _ => pick(&r.lexical, a),
                    })
                    .collect(),
            );
            modes.push(name.to_string());
        }
    }
    let all: Vec<usize> = (0..tasks.len()).collect();
    let overall = scores(&modes, &ranks, &all);
    let mut by_language: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, t) in tasks.iter().enumerate() {
        by_language.entry(t.language.name()).or_default().push(i);
    }
    let mut languages: Vec<LanguageScores> = by_language
        .into_iter()
        .map(|(language, ids)| LanguageScores {
            language: language.to_string(),
            n: ids.len(),
            scores: scores(&modes, &ranks, &ids),
        })
        .collect();
    languages.sort_by(|a, b| b.n.cmp(&a.n).then(a.language.cmp(&b.language)));
    let misses = worst_misses(&tasks, &modes, &ranks, &tops, options.misses);
    Ok(Report {
        root: root.display().to_string(),
        files: files.len(),
        chunks: report.chunks_total,
        windows,
        tasks_found,
        tasks: tasks.len(),
        modes,
        overall,
        languages,
        misses,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A copied file: its path relative to the root, and its blanked text.
type CopiedFile = (String, String);

/// Copies every walked file of `root` into `corpus`, docs blanked, and
/// returns (path, text) of each copy with the tasks found.
fn copy_blanked(
    root: &Path,
    corpus: &Path,
    options: &EvalOptions,
) -> Result<(Vec<CopiedFile>, Vec<Task>)> {
    let walked = writ_index::walk(root, options.exclude.as_deref(), &options.walk);
    let mut files = Vec::with_capacity(walked.files.len());
    let mut tasks = Vec::new();
    for file in walked.files {
        // The file was a regular one when walked; read it only if it still
        // is, without following a link or waiting on a FIFO put in its place.
        let Some(bytes) = writ_index::read_walked(&file.abs, options.walk.max_file_size)
            .map_err(|e| EvalError::io(&file.abs, e))?
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let text = match blank_file(&text, &file.rel, file.language) {
            Some(b) => {
                tasks.extend(b.tasks);
                b.text
            }
            None => text,
        };
        let dest = corpus.join(&file.rel);
        if let Some(parent) = dest.parent() {
            private_dir(parent)?;
        }
        write_private(&dest, text.as_bytes())?;
        files.push((file.rel, text));
    }
    Ok((files, tasks))
}

fn stop_if(cancel: &AtomicBool) -> Result<()> {
    if cancel.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(EvalError::Interrupted);
    }
    Ok(())
}

/// Creates `dir`, which must not exist yet, readable by the user only.
fn new_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|e| EvalError::io(dir, e))
}

/// Creates `dir` and its parents, readable by the user only: the copy
/// holds the repository's code.
fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| EvalError::io(dir, e))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| EvalError::io(path, e))?;
    file.write_all(bytes).map_err(|e| EvalError::io(path, e))
}

/// At most `max` tasks (0: all), spread evenly so every part of the
/// repository is asked about.
fn sample(tasks: Vec<Task>, max: usize) -> Vec<Task> {
    if max == 0 || tasks.len() <= max {
        return tasks;
    }
    let n = tasks.len();
    (0..max).map(|i| tasks[i * n / max].clone()).collect()
}

/// A right answer: a file and a function's first and last line.
type Answer = (String, usize, usize);

/// The rank (1-based) of the first result in an answer's file whose lines
/// overlap the answer's.
fn rank_of<'a>(
    answers: &[Answer],
    results: impl Iterator<Item = (&'a String, usize, usize)>,
) -> Option<usize> {
    results
        .take(K)
        .position(|(path, start, end)| {
            answers
                .iter()
                .any(|(p, s, e)| p == path && start <= *e && end >= *s)
        })
        .map(|p| p + 1)
}

fn top(hit: &Hit) -> TopHit {
    TopHit {
        path: hit.path.clone(),
        start_line: hit.start_line,
        end_line: hit.end_line,
        symbol: hit.symbol.clone(),
    }
}

fn scores(modes: &[String], ranks: &[Vec<Option<usize>>], ids: &[usize]) -> Vec<Score> {
    modes
        .iter()
        .zip(ranks)
        .map(|(mode, ranks)| {
            let n = ids.len().max(1) as f64;
            let found: Vec<usize> = ids.iter().filter_map(|i| ranks[*i]).collect();
            Score {
                mode: mode.clone(),
                n: ids.len(),
                mrr10: found.iter().map(|r| 1.0 / *r as f64).sum::<f64>() / n,
                r1: found.iter().filter(|r| **r == 1).count() as f64 / n,
                r10: found.len() as f64 / n,
            }
        })
        .collect()
}

fn worst_misses(
    tasks: &[Task],
    modes: &[String],
    ranks: &[Vec<Option<usize>>],
    tops: &[Option<TopHit>],
    limit: usize,
) -> Vec<Miss> {
    let mut misses: Vec<(usize, usize)> = (0..tasks.len())
        .filter(|i| ranks[0][*i].is_none())
        .map(|i| {
            let best = ranks[1..]
                .iter()
                .filter_map(|r| r[i])
                .min()
                .unwrap_or(K + 1);
            (best, i)
        })
        .collect();
    misses.sort();
    misses
        .into_iter()
        .take(limit)
        .map(|(_, i)| Miss {
            task: tasks[i].clone(),
            ranks: modes
                .iter()
                .zip(ranks)
                .map(|(m, r)| (m.clone(), r[i]))
                .collect(),
            top: tops[i].clone(),
        })
        .collect()
}
