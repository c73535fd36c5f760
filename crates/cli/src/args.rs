//! Command-line arguments. Parsing only: no I/O happens here.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// writ advises on a code repository and never acts on its own authority.
#[derive(Debug, Parser)]
#[command(name = "writ", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where models and the index live.
#[derive(Debug, Args, Clone)]
pub struct Locations {
    /// Model cache folder [env: WRIT_MODELS; default: ~/.cache/writ/models]
    #[arg(long, global = true, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// A sentence-embedding model folder (config.json, tokenizer.json,
    /// model.safetensors) to use instead of the pinned all-MiniLM-L6-v2
    #[arg(long, global = true, value_name = "DIR")]
    pub embed_model: Option<PathBuf>,
    /// Index folder [default: <repo>/.writ]
    #[arg(long, global = true, value_name = "DIR")]
    pub index: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Index a repository (incremental: only changed chunks are embedded)
    Index(IndexArgs),
    /// Search the index by meaning and by words
    Search(SearchArgs),
    /// Show what the index holds and what changed since
    Status(StatusArgs),
    /// Measure writ (embedding throughput, search latency)
    Bench(BenchArgs),
    /// Check and test rule files
    Rules(RulesArgs),
    /// Print a JSON Schema (`writ schema proposal`)
    Schema {
        /// Which schema: proposal
        #[arg(value_parser = ["proposal"])]
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub what: RulesWhat,
}

#[derive(Debug, Subcommand)]
pub enum RulesWhat {
    /// Validate the rule files; errors give file:line:col and a hint
    Check {
        /// Rules folder (*.toml) [default: ./rules]
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
    },
    /// Run the rule set against the fixtures in <rules>/tests/*.toml
    Test {
        /// Rules folder (*.toml) [default: ./rules]
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Repository root [default: .]
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub loc: Locations,
    /// Drop the index and build it again (after changing the model)
    #[arg(long)]
    pub rebuild: bool,
    /// Index hidden files and folders too
    #[arg(long)]
    pub hidden: bool,
    /// Skip files larger than this many bytes
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_file_size: u64,
    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Mode {
    Hybrid,
    Vector,
    Lexical,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for (omit with --batch)
    #[arg(required_unless_present = "batch")]
    pub query: Option<String>,
    /// Number of hits
    #[arg(short, default_value_t = 10)]
    pub k: usize,
    /// Only paths matching this glob (repeatable), applied before top-k
    #[arg(long = "path", value_name = "GLOB")]
    pub paths: Vec<String>,
    /// Only this language (repeatable): rust, python, javascript, typescript, tsx, go, markdown, text
    #[arg(long = "lang", value_name = "LANG")]
    pub langs: Vec<String>,
    /// Engines: hybrid (default), vector or lexical
    #[arg(long, value_enum, default_value = "hybrid")]
    pub mode: Mode,
    /// Queries from FILE (- for stdin): one per line, or JSON objects with a
    /// `query` field; prints one JSON line per query
    #[arg(long, value_name = "FILE", conflicts_with = "query")]
    pub batch: Option<PathBuf>,
    /// Repository root [default: the nearest folder upwards holding .writ, else .]
    #[arg(long)]
    pub repo: Option<PathBuf>,
    #[command(flatten)]
    pub loc: Locations,
    /// JSON output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Repository root [default: the nearest folder upwards holding .writ, else .]
    #[arg(long)]
    pub repo: Option<PathBuf>,
    #[command(flatten)]
    pub loc: Locations,
    /// JSON output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Embedding throughput on a corpus's chunks (writes the chunk texts for
    /// the sentence-transformers baseline)
    Embed {
        /// Corpus to chunk
        corpus: PathBuf,
        /// Write the chunk texts as JSONL here
        #[arg(long, value_name = "FILE")]
        texts_out: Option<PathBuf>,
        #[command(flatten)]
        loc: Locations,
    },
    /// Search latency, cold (new process state) and warm (model loaded)
    Search {
        /// Repository with an index
        #[arg(long)]
        repo: Option<PathBuf>,
        /// Queries, one per line
        queries: PathBuf,
        #[command(flatten)]
        loc: Locations,
    },
}
