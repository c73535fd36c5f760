//! An index run: walk, diff against the catalog, then read and chunk the
//! changed files on one thread while this one embeds them and publishes a
//! window of chunk text at a time (see [`IndexOptions::window_bytes`]).

use crate::error::Result;
use crate::feed::Fed;
use crate::indexer::{embed_text, mismatch, Changes, IndexReport, Indexer, Pending, Progress};
use crate::store::Catalog;
use crate::vectors::remove_stale;
use crate::walk::walk;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// An index run's state between windows.
struct Run<'a> {
    report: IndexReport,
    /// What the walk passed over, with reasons.
    skipped: &'a [crate::Skipped],
    /// Files gone since the last generation (at the walk, or when the
    /// reader came to them), until a publish takes them.
    deleted: Vec<String>,
    /// Files whose content is unchanged but size or mtime moved, until a
    /// publish takes them.
    touched: Vec<(i64, u64, i64)>,
    /// Changed files received from the reader, and their bytes, of
    /// `total_bytes` to read.
    fetched: usize,
    fetched_bytes: u64,
    total_bytes: u64,
    /// Chunks queued for embedding so far.
    queued: usize,
    /// Files that were there at the walk and gone when read.
    late_deleted: usize,
}

impl Run<'_> {
    /// Chunks the whole run will embed, extrapolated from the bytes read so
    /// far (the progress bar's length, so its ETA covers the whole run).
    fn estimate(&self) -> usize {
        if self.fetched_bytes == 0 {
            return self.queued;
        }
        let scale = self.total_bytes as f64 / self.fetched_bytes as f64;
        (self.queued as f64 * scale.max(1.0)).round() as usize
    }
}

impl Indexer<'_> {
    /// Runs one incremental index. `cancel` set (by Ctrl-C) stops after the
    /// current batch; what was finished is published.
    pub fn run(&self, cancel: &AtomicBool, progress: &dyn Fn(Progress)) -> Result<IndexReport> {
        let started = Instant::now();
        let _lock = crate::lock::IndexLock::acquire(&self.dir)?;
        // FAISS names its files by UTF-8 path: refuse another before any work.
        crate::vectors::faiss_name(&self.dir)?;
        let mut catalog = Catalog::open(&self.dir)?;
        let wanted = self.manifest();
        // A rebuild drops the manifest unread: one this writ cannot parse
        // (corrupt, or from a newer writ) is what the user rebuilds for.
        // An index that never published a generation holds nothing a
        // reader uses: another model or precision starts it over.
        let start_over = self.options.rebuild
            || match catalog.manifest()? {
                Some(found) if !found.compatible(&wanted) => {
                    if catalog.generation()? > 0 {
                        return Err(mismatch(&self.dir, &found, &wanted));
                    }
                    true
                }
                _ => false,
            };
        if start_over {
            catalog.wipe()?;
            remove_stale(&self.dir, None);
        }
        // Vectors are committed before the first generation is: the
        // manifest goes first, so a run killed before it publishes leaves
        // vectors whose model and precision the next run can check.
        if catalog.manifest()?.is_none() {
            catalog.set_manifest(&wanted)?;
        }

        let walked = walk(&self.root, Some(&self.dir), &self.options.walk);
        progress(Progress::Scanned {
            files: walked.files.len(),
        });
        let known = catalog.files()?;
        let mut report = IndexReport {
            files_scanned: walked.files.len(),
            files_skipped: walked.skipped.len(),
            ..Default::default()
        };

        // Diff against the catalog: (size, mtime) first, content hash second.
        let mut changed = Vec::new();
        for file in &walked.files {
            match known.get(&file.rel) {
                Some(row) if row.size == file.size && row.mtime_ns == file.mtime_ns => {
                    report.files_unchanged += 1;
                }
                _ => changed.push(file.clone()),
            }
        }
        let present: HashSet<&str> = walked.files.iter().map(|f| f.rel.as_str()).collect();
        let deleted: Vec<String> = known
            .keys()
            .filter(|p| !present.contains(p.as_str()))
            .cloned()
            .collect();

        report.phases.walk = started.elapsed().as_secs_f64();
        // Read and chunk on a thread of its own while this one embeds and
        // publishes a window of chunk text at a time: memory is bounded by
        // the window, not by the tree, and an interrupted first index keeps
        // every window it published.
        let total = changed.len();
        let mut run = Run {
            report,
            skipped: &walked.skipped,
            deleted: deleted.clone(),
            touched: Vec::new(),
            fetched: 0,
            fetched_bytes: 0,
            total_bytes: changed.iter().map(|f| f.size).sum(),
            queued: 0,
            late_deleted: 0,
        };
        let mut window: Vec<Pending> = Vec::new();
        let mut window_bytes = 0usize;
        let known = &known;
        let chunk_busy = std::thread::scope(|scope| -> Result<f64> {
            let (tx, rx) = std::sync::mpsc::sync_channel(crate::feed::READ_AHEAD);
            let reader = scope.spawn(move || crate::feed::feed(self, changed, known, &tx));
            let result = (|| -> Result<()> {
                for item in &rx {
                    run.fetched += 1;
                    match item? {
                        Fed::Gone(rel) => {
                            if known.contains_key(&rel) {
                                run.deleted.push(rel);
                                run.late_deleted += 1;
                            }
                        }
                        Fed::Touched(touch) => {
                            run.fetched_bytes += touch.1;
                            run.touched.push(touch);
                            run.report.files_unchanged += 1;
                        }
                        Fed::Changed { pending, added } => {
                            if added {
                                run.report.files_added += 1;
                            } else {
                                run.report.files_changed += 1;
                            }
                            if pending.update.lossy {
                                run.report.files_lossy.push(pending.file.rel.clone());
                            }
                            run.fetched_bytes += pending.file.size;
                            window_bytes += pending.text_bytes();
                            window.push(pending);
                        }
                    }
                    if run.report.chunks_embedded == 0 {
                        progress(Progress::Chunking {
                            done: run.fetched,
                            total,
                        });
                    }
                    if cancel.load(Ordering::SeqCst) {
                        run.report.interrupted = true;
                        break;
                    }
                    if window_bytes >= self.options.window_bytes {
                        self.flush(&mut catalog, &mut window, &mut run, false, cancel, progress)?;
                        window_bytes = 0;
                        if run.report.interrupted {
                            break;
                        }
                    }
                }
                Ok(())
            })();
            // Hanging up stops the reader at its next file; a panic there
            // is this run's (never a quiet "all files read").
            drop(rx);
            let busy = match reader.join() {
                Ok(busy) => busy,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            result.map(|()| busy)
        })?;
        run.report.phases.chunk = chunk_busy;
        // The last window publishes the rest, and the generation even when
        // nothing changed.
        self.flush(&mut catalog, &mut window, &mut run, true, cancel, progress)?;
        let mut report = run.report;
        report.files_pending += total - run.fetched.min(total);
        report.files_deleted = deleted.len() + run.late_deleted;
        if !report.interrupted {
            catalog.prune_vectors()?;
        }
        report.chunks_total = catalog.count("chunks")?;
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Embeds what `window`'s chunks lack (longest first, so batches are
    /// of similar length, each batch committed) and publishes the files
    /// whose chunks all have vectors, with the deletions and touched files
    /// not yet published; the `last` window always publishes, and may
    /// rebuild the vector store's base (earlier windows only merge).
    fn flush(
        &self,
        catalog: &mut Catalog,
        window: &mut Vec<Pending>,
        run: &mut Run<'_>,
        last: bool,
        cancel: &AtomicBool,
        progress: &dyn Fn(Progress),
    ) -> Result<()> {
        let started = Instant::now();
        let hashes: Vec<&str> = window
            .iter()
            .flat_map(|p| p.update.chunks.iter().map(|c| c.content_hash.as_str()))
            .collect();
        let mut have = catalog.present_vectors(&hashes)?;
        let mut to_embed: Vec<(&str, String)> = Vec::new();
        let mut queued = HashSet::new();
        for p in window.iter() {
            for c in &p.update.chunks {
                if have.contains(&c.content_hash) || !queued.insert(c.content_hash.as_str()) {
                    run.report.chunks_reused += 1;
                } else {
                    to_embed.push((c.content_hash.as_str(), embed_text(&p.file.rel, c)));
                }
            }
        }
        run.queued += to_embed.len();
        let estimate = run.estimate();
        let report = &mut run.report;
        to_embed.sort_by_key(|(_, text)| std::cmp::Reverse(text.len()));
        let dim = self.embedder.info().dim;
        let total = estimate.max(report.chunks_embedded + to_embed.len());
        if !to_embed.is_empty() {
            progress(Progress::Embedding {
                done: report.chunks_embedded,
                total,
            });
        }
        for batch in to_embed.chunks(self.options.batch.max(1)) {
            if cancel.load(Ordering::SeqCst) {
                report.interrupted = true;
                break;
            }
            let texts: Vec<&str> = batch.iter().map(|(_, t)| t.as_str()).collect();
            let hashes: Vec<&str> = batch.iter().map(|(h, _)| *h).collect();
            let vectors = self.embedder.embed(&texts)?;
            catalog.put_vectors(&hashes, &vectors, dim)?;
            have.extend(hashes.iter().map(|h| h.to_string()));
            report.chunks_embedded += batch.len();
            progress(Progress::Embedding {
                done: report.chunks_embedded,
                total,
            });
        }
        drop(to_embed);
        report.phases.embed += started.elapsed().as_secs_f64();
        let publishing = Instant::now();
        let (ready, waiting): (Vec<Pending>, Vec<Pending>) = window.drain(..).partition(|p| {
            p.update
                .chunks
                .iter()
                .all(|c| have.contains(&c.content_hash))
        });
        report.files_pending += waiting.len();

        // A window with nothing ready leaves the generation alone, and so
        // does an interrupted first run that finished no file (readers go
        // on saying "not indexed" rather than showing an empty index).
        let first_unfinished =
            run.report.interrupted && ready.is_empty() && catalog.generation()? == 0;
        if (last && !first_unfinished) || !ready.is_empty() {
            if last {
                progress(Progress::Publishing);
            }
            let deleted = std::mem::take(&mut run.deleted);
            let touched = std::mem::take(&mut run.touched);
            let changes = Changes {
                ready: &ready,
                deleted: &deleted,
                touched: &touched,
                skipped: run.skipped,
                // Ctrl-C does not start a base rebuild on its way out.
                last_window: last && !run.report.interrupted,
            };
            self.publish(catalog, changes, &mut run.report)?;
        }
        run.report.phases.publish += publishing.elapsed().as_secs_f64();
        Ok(())
    }
}
