//! Indexing and searching a repository.
//!
//! Layout:
//! - [`walk`](walk()) finds the files to index (`.gitignore`, `.ignore`,
//!   `.writignore`, writ's default exclusions), with a reason for each skip;
//! - [`chunk`] cuts files into syntax-aware chunks (tree-sitter for Rust,
//!   Python, JavaScript/TypeScript and Go; headings for Markdown; line
//!   windows for other text);
//! - [`Catalog`] is the SQLite source of truth: files, chunks, vectors,
//!   FTS5 terms, the manifest and the generation number;
//! - [`VectorStore`] is the FAISS side: a base segment (approximate from
//!   [`APPROXIMATE_AT`] vectors, memory-mapped) and small segments added by
//!   later runs, rebuilt from the catalog whenever it does not match;
//! - [`Indexer`] runs incremental indexing; [`Searcher`] runs hybrid search.
//!
//! Invariant: this crate knows embedding models only through
//! [`writ_core::Embedder`]; it never loads a model itself.
//!
//! ```
//! use writ_index::chunk::{chunk_file, ChunkBudget};
//! let count = |s: &str| s.split_whitespace().count() + 2;
//! let budget = ChunkBudget { max_tokens: 200, min_tokens: 1, count: &count };
//! let chunks = chunk_file("fn a() {}\n\nfn b() {}\n", writ_core::Language::Rust, &budget);
//! assert_eq!(chunks[0].symbol.as_deref(), Some("a"));
//! ```
#![deny(missing_docs)]

pub mod chunk;
mod error;
mod estimate;
mod feed;
mod hit;
mod indexer;
mod links;
mod lock;
mod run;
pub mod scale;
mod search;
mod shape;
mod status;
mod store;
pub mod terms;
mod vectors;
mod walk;

pub use error::{IndexError, Result};
pub use estimate::{Estimate, SAMPLE_CHUNKS};
pub use hit::Hit;
pub use indexer::{embed_text, IndexOptions, IndexReport, Indexer, Phases, Progress, WINDOW_BYTES};
pub use lock::{IndexLock, LOCK_FILE};
pub use search::{SearchMode, SearchOptions, Searcher, DEPTH, TEST_WEIGHT};
pub use shape::{is_declaration_path, is_test_path};
pub use status::{status, StaleFile, Status};
pub use store::{ignore_self, Catalog, ChunkRecord, Manifest, CATALOG_FILE, FORMAT_VERSION};
pub use vectors::{read_layout, Layout, SegmentInfo, VectorStore, APPROXIMATE_AT, NPROBE};
pub use walk::{
    count_files, read_walked, walk, Skipped, WalkOptions, WalkResult, WalkedFile, NOT_UTF8,
};
