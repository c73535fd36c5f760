//! The configuration file.
//!
//! Each key is looked up in four places; the later one wins:
//!
//! 1. the repository's `writ.toml` or `.writ/config.toml` (one of them);
//! 2. the user's `$XDG_CONFIG_HOME/writ/config.toml`, else
//!    `~/.config/writ/config.toml`;
//! 3. the environment (`WRIT_MODELS`, `WRIT_LLM`);
//! 4. the command line's flags.
//!
//! Keys nobody set keep the default that lives beside the flag
//! (`writ_ask::AskParams`, `writ_service::search::DEFAULT_K`,
//! [`crate::args::SERVE_ADDR`]).
//!
//! A repository's file is written by whoever wrote the repository, so it
//! may only tune the work writ does for the user ([`Key::repo_may_set`]:
//! `ask.k`, `ask.max_proposals`, `ask.max_tokens`, `search.k`). It may not
//! choose the model files writ loads, where the index and its ledger live,
//! which rules decide, or where `writ serve` listens: a file that tries is
//! refused, naming the key and where to set it instead. The ledger's key
//! folder and the review token are not configuration at all
//! (`WRIT_KEY_DIR` is read from the environment only). Unknown keys, wrong
//! types and bad values are refused with `file:line:col` and the fix, as
//! rule files are, and the command exits 1 naming the file.

use crate::exit::{ExitCode, Failure};
use anyhow::anyhow;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use toml::Spanned;

pub use crate::keys::{default_note, Key};

/// The repository's configuration files, in the order they are looked for
/// (only one may exist).
pub const REPO_FILES: [&str; 2] = ["writ.toml", ".writ/config.toml"];

/// Larger configuration files are refused unread.
const MAX_BYTES: u64 = 1 << 20;

/// A configured value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A file or folder.
    Path(PathBuf),
    /// A count of at least 1.
    Count(usize),
    /// An address to listen on.
    Addr(SocketAddr),
    /// Text (a URL, a model id).
    Text(String),
}

impl Value {
    pub fn json(&self) -> serde_json::Value {
        match self {
            Value::Path(p) => p.display().to_string().into(),
            Value::Count(n) => (*n).into(),
            Value::Addr(a) => a.to_string().into(),
            Value::Text(t) => t.clone().into(),
        }
    }

    pub fn text(&self) -> String {
        match self {
            Value::Path(p) => p.display().to_string(),
            Value::Count(n) => n.to_string(),
            Value::Addr(a) => a.to_string(),
            Value::Text(t) => t.clone(),
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// writ's default.
    Default,
    /// The repository's file.
    Repo(PathBuf),
    /// The user's file.
    User(PathBuf),
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl Source {
    pub fn name(&self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::Repo(_) => "repo",
            Source::User(_) => "user",
            Source::Env(_) => "env",
            Source::Flag(_) => "flag",
        }
    }

    pub fn detail(&self) -> Option<String> {
        match self {
            Source::Default => None,
            Source::Repo(p) | Source::User(p) => Some(p.display().to_string()),
            Source::Env(v) | Source::Flag(v) => Some((*v).to_string()),
        }
    }
}

/// A key's value in effect (`None`: writ's default machinery decides,
/// e.g. the pinned model) and where it came from.
#[derive(Debug, Clone)]
pub struct Setting {
    pub key: Key,
    pub value: Option<Value>,
    pub source: Source,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    models: Option<Spanned<String>>,
    embed_model: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
    index: Option<Spanned<String>>,
    rules: Option<Spanned<String>>,
    #[serde(default)]
    ask: RawAsk,
    #[serde(default)]
    search: RawSearch,
    #[serde(default)]
    serve: RawServe,
    #[serde(default)]
    llm: RawLlm,
    #[serde(default)]
    embed_server: RawLlm,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLlm {
    url: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAsk {
    k: Option<Spanned<i64>>,
    max_proposals: Option<Spanned<i64>>,
    max_tokens: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSearch {
    k: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServe {
    addr: Option<Spanned<String>>,
}

/// A raw value as written, before it is checked.
enum Raw<'a> {
    Text(&'a Spanned<String>),
    Number(&'a Spanned<i64>),
}

impl Raw<'_> {
    fn start(&self) -> usize {
        match self {
            Raw::Text(s) => s.span().start,
            Raw::Number(n) => n.span().start,
        }
    }
}

impl RawFile {
    fn entries(&self) -> Vec<(Key, Raw<'_>)> {
        let text = [
            (Key::Models, &self.models),
            (Key::EmbedModel, &self.embed_model),
            (Key::Model, &self.model),
            (Key::Index, &self.index),
            (Key::Rules, &self.rules),
            (Key::ServeAddr, &self.serve.addr),
            (Key::LlmUrl, &self.llm.url),
            (Key::LlmModel, &self.llm.model),
            (Key::EmbedUrl, &self.embed_server.url),
            (Key::EmbedUrlModel, &self.embed_server.model),
        ];
        let numbers = [
            (Key::AskK, &self.ask.k),
            (Key::AskMaxProposals, &self.ask.max_proposals),
            (Key::AskMaxTokens, &self.ask.max_tokens),
            (Key::SearchK, &self.search.k),
        ];
        let mut out: Vec<(Key, Raw<'_>)> = text
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, Raw::Text(v))))
            .chain(
                numbers
                    .into_iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| (k, Raw::Number(v)))),
            )
            .collect();
        out.sort_by_key(|(_, raw)| raw.start());
        out
    }
}

/// A problem in a configuration file, at `file:line:col`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is the file itself.
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.col)?;
        }
        write!(f, ": {} (hint: {})", self.message, self.hint)
    }
}

/// One configuration file, read and checked.
#[derive(Debug, Clone)]
pub struct File {
    pub path: PathBuf,
    values: Vec<(Key, Value)>,
}

impl File {
    fn get(&self, key: Key) -> Option<&Value> {
        self.values.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// `~/x` with the home folder.
fn expand(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(home) => PathBuf::from(home).join(rest),
            None => PathBuf::from(path),
        },
        None => PathBuf::from(path),
    }
}

/// Parses one file's text. `repo` is the repository root (paths of
/// `index` and `rules` are relative to it); `from_repo` says whether the
/// file is the repository's own, which may set only some keys.
pub fn parse(
    path: &Path,
    text: &str,
    repo: &Path,
    from_repo: bool,
) -> Result<File, Vec<ConfigError>> {
    let user_file = user_file().map_or_else(
        || "~/.config/writ/config.toml".to_string(),
        |p| p.display().to_string(),
    );
    let err = |offset: usize, message: String, hint: String| {
        let (line, col) = position(text, offset);
        ConfigError {
            file: path.to_path_buf(),
            line,
            col,
            message,
            hint,
        }
    };
    let keys = Key::ALL.map(Key::name).join(", ");
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        vec![err(
            e.span().map_or(0, |s| s.start),
            e.message().trim().to_string(),
            format!("the keys are {keys} (`ask.k` is `k` under `[ask]`; keys after a `[table]` line belong to that table, so put top-level keys first); the README's \"Configuration\" says what each takes (the ledger's key folder is WRIT_KEY_DIR, set in the environment only)"),
        )]
    })?;
    let mut errors = Vec::new();
    let mut values = Vec::new();
    for (key, raw) in raw.entries() {
        let at = raw.start();
        if from_repo && !key.repo_may_set() {
            errors.push(err(
                at,
                format!(
                    "a repository's configuration may not set `{}`: {}",
                    key.name(),
                    key.user_only()
                ),
                format!(
                    "set it in your own {user_file}{}, or with {}; a repository's file may set only {}",
                    key.env().map_or(String::new(), |v| format!(", with {v}")),
                    key.flag(),
                    Key::ALL
                        .iter()
                        .filter(|k| k.repo_may_set())
                        .map(|k| k.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            continue;
        }
        let value = match (key, raw) {
            (
                Key::AskK | Key::AskMaxProposals | Key::AskMaxTokens | Key::SearchK,
                Raw::Number(n),
            ) => match usize::try_from(*n.get_ref()) {
                Ok(v) if v >= 1 => Value::Count(v),
                _ => {
                    errors.push(err(
                        at,
                        format!("`{}` is {}, not a count", key.name(), n.get_ref()),
                        format!(
                            "write a whole number of at least 1: `{} = {}`",
                            key.name().rsplit('.').next().unwrap_or_default(),
                            default_count(key)
                        ),
                    ));
                    continue;
                }
            },
            (Key::ServeAddr, Raw::Text(s)) => match s.get_ref().parse::<SocketAddr>() {
                Ok(a) => Value::Addr(a),
                Err(_) => {
                    errors.push(err(
                        at,
                        format!("`serve.addr` is `{}`, not an address", s.get_ref()),
                        format!(
                            "write an IP address and port: `addr = \"{}\"`",
                            crate::args::SERVE_ADDR
                        ),
                    ));
                    continue;
                }
            },
            (Key::LlmUrl | Key::LlmModel | Key::EmbedUrl | Key::EmbedUrlModel, Raw::Text(s)) => {
                let t = s.get_ref().trim();
                if t.is_empty() || t.chars().any(char::is_control) {
                    let section = if matches!(key, Key::LlmUrl | Key::LlmModel) {
                        "llm"
                    } else {
                        "embed_server"
                    };
                    errors.push(err(
                        at,
                        format!("`{}` is empty or holds control characters", key.name()),
                        format!("write `url = \"http://127.0.0.1:8080/v1\"` (and `model = \"id\"`) under `[{section}]`"),
                    ));
                    continue;
                }
                Value::Text(t.to_string())
            }
            (Key::Index | Key::Rules, Raw::Text(s)) => {
                let p = expand(s.get_ref());
                Value::Path(if p.is_absolute() { p } else { repo.join(p) })
            }
            (_, Raw::Text(s)) => {
                let p = expand(s.get_ref());
                if !p.is_absolute() {
                    errors.push(err(
                        at,
                        format!("`{}` is `{}`, a relative path", key.name(), s.get_ref()),
                        "write an absolute path, or one starting with `~/`: a relative one would depend on the folder writ runs in".into(),
                    ));
                    continue;
                }
                Value::Path(p)
            }
            // Types are fixed by the raw structs: a number is never a path.
            (_, Raw::Number(n)) => Value::Count(usize::try_from(*n.get_ref()).unwrap_or(0)),
        };
        values.push((key, value));
    }
    if errors.is_empty() {
        Ok(File {
            path: path.to_path_buf(),
            values,
        })
    } else {
        Err(errors)
    }
}

fn default_count(key: Key) -> usize {
    match key {
        Key::AskK => writ_ask::AskParams::K,
        Key::AskMaxProposals => writ_ask::AskParams::PROPOSALS,
        Key::AskMaxTokens => writ_ask::AskParams::TOKENS,
        _ => writ_service::search::DEFAULT_K,
    }
}

/// writ's default for `key`, where it is a value (the rest are decided
/// later: the pinned models, the rules discovered in the repository).
pub fn default_value(key: Key, repo: Option<&Path>) -> Option<Value> {
    match key {
        Key::AskK | Key::AskMaxProposals | Key::AskMaxTokens | Key::SearchK => {
            Some(Value::Count(default_count(key)))
        }
        Key::ServeAddr => crate::args::SERVE_ADDR.parse().ok().map(Value::Addr),
        Key::Index => repo.map(|r| Value::Path(writ_service::index_dir(None, r))),
        Key::Models => {
            let env = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty());
            env("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .map(|d| Value::Path(d.join("writ").join("models")))
        }
        Key::EmbedModel
        | Key::Model
        | Key::Rules
        | Key::LlmUrl
        | Key::LlmModel
        | Key::EmbedUrl
        | Key::EmbedUrlModel => None,
    }
}

/// The user's configuration file: `$XDG_CONFIG_HOME/writ/config.toml`,
/// else `~/.config/writ/config.toml`.
pub fn user_file() -> Option<PathBuf> {
    let env = |v: &str| {
        std::env::var_os(v)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    env("XDG_CONFIG_HOME")
        .filter(|d| d.is_absolute())
        .or_else(|| env("HOME").map(|h| h.join(".config")))
        .map(|d| d.join("writ").join("config.toml"))
}

/// Reads a configuration file: `None` when there is none. A repository's
/// file must be a real file (not a link that could make writ read
/// something else as configuration); any file must be small UTF-8 text.
fn read(path: &Path, from_repo: bool) -> Result<Option<String>, ConfigError> {
    let problem = |message: String, hint: &str| ConfigError {
        file: path.to_path_buf(),
        line: 0,
        col: 0,
        message,
        hint: hint.into(),
    };
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(problem(
                format!("cannot read it: {e}"),
                "make it readable, or remove it",
            ))
        }
        Ok(m) => m,
    };
    if from_repo && meta.file_type().is_symlink() {
        return Err(problem(
            "a repository's configuration file is a symbolic link".into(),
            "make it a real file in the repository, or remove it",
        ));
    }
    let meta = std::fs::metadata(path).map_err(|e| {
        problem(
            format!("cannot read it: {e}"),
            "make it readable, or remove it",
        )
    })?;
    if !meta.is_file() {
        return Err(problem(
            "not a file".into(),
            "remove it, or make it a TOML file",
        ));
    }
    if meta.len() > MAX_BYTES {
        return Err(problem(
            format!(
                "{} bytes: larger than a configuration file can be ({MAX_BYTES})",
                meta.len()
            ),
            "keep only the keys you set",
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        problem(
            format!("cannot read it: {e}"),
            "make it readable, or remove it",
        )
    })?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| problem("not UTF-8 text".into(), "save it as UTF-8"))
}

/// The configuration files that apply to one repository.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The repository's file, if it has one.
    pub repo: Option<File>,
    /// Where the user's file is looked for.
    pub user_path: Option<PathBuf>,
    /// The user's file, if there is one.
    pub user: Option<File>,
}

impl Config {
    /// Reads the user's file and, with a repository root, the
    /// repository's.
    pub fn load(repo_root: Option<&Path>) -> Result<Config, Vec<ConfigError>> {
        let mut config = Config {
            user_path: user_file(),
            ..Config::default()
        };
        let base = repo_root.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        if let Some(root) = repo_root {
            let found: Vec<PathBuf> = REPO_FILES
                .iter()
                .map(|f| root.join(f))
                .filter(|p| std::fs::symlink_metadata(p).is_ok())
                .collect();
            if found.len() > 1 {
                return Err(vec![ConfigError {
                    file: found[1].clone(),
                    line: 0,
                    col: 0,
                    message: format!(
                        "the repository has two configuration files, `{}` and this one",
                        found[0].display()
                    ),
                    hint: "keep one of them".into(),
                }]);
            }
            if let Some(path) = found.first() {
                if let Some(text) = read(path, true).map_err(|e| vec![e])? {
                    config.repo = Some(parse(path, &text, root, true)?);
                }
            }
        }
        if let Some(path) = &config.user_path {
            if let Some(text) = read(path, false).map_err(|e| vec![e])? {
                config.user = Some(parse(path, &text, &base, false)?);
            }
        }
        Ok(config)
    }

    /// `key`'s value in effect, given the flag's value if it was given.
    pub fn get(&self, key: Key, flag: Option<Value>) -> Setting {
        let mut setting = Setting {
            key,
            value: None,
            source: Source::Default,
        };
        if let Some(f) = &self.repo {
            if let Some(v) = f.get(key) {
                setting.value = Some(v.clone());
                setting.source = Source::Repo(f.path.clone());
            }
        }
        if let Some(f) = &self.user {
            if let Some(v) = f.get(key) {
                setting.value = Some(v.clone());
                setting.source = Source::User(f.path.clone());
            }
        }
        if let Some(var) = key.env() {
            if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
                setting.value = Some(match key {
                    Key::LlmUrl | Key::LlmModel | Key::EmbedUrl | Key::EmbedUrlModel => {
                        Value::Text(v.to_string_lossy().into_owned())
                    }
                    _ => Value::Path(PathBuf::from(v)),
                });
                setting.source = Source::Env(var);
            }
        }
        if let Some(v) = flag {
            setting.value = Some(v);
            setting.source = Source::Flag(key.flag());
        }
        setting
    }

    /// A path key: the flag's value if given, else the configured one
    /// (`None`: the default machinery decides).
    pub fn path(&self, key: Key, flag: Option<&PathBuf>) -> Option<PathBuf> {
        match self.get(key, flag.cloned().map(Value::Path)).value {
            Some(Value::Path(p)) => Some(p),
            _ => None,
        }
    }

    /// A text key: the flag's value if given, else the configured one.
    pub fn text(&self, key: Key, flag: Option<&String>) -> Option<String> {
        match self.get(key, flag.cloned().map(Value::Text)).value {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// A count key, where the flag was not given on the command line.
    pub fn count(&self, key: Key, slot: &mut usize, given: bool) {
        if given {
            return;
        }
        if let Some(Value::Count(n)) = self.get(key, None).value {
            *slot = n;
        }
    }
}

/// The failure of a configuration that does not load: exit 1, naming the
/// file, each problem at `file:line:col`.
fn refused(errors: Vec<ConfigError>) -> Failure {
    let hint = errors.first().map(|e| e.hint.clone()).unwrap_or_default();
    let file = errors
        .first()
        .map(|e| e.file.display().to_string())
        .unwrap_or_default();
    let lines: Vec<String> = errors
        .iter()
        .map(|e| {
            let mut s = e.file.display().to_string();
            if e.line > 0 {
                s += &format!(":{}:{}", e.line, e.col);
            }
            s + ": " + &e.message
        })
        .collect();
    Failure::new(
        ExitCode::Error,
        anyhow!(
            "the configuration file `{file}` is refused:\n{}",
            lines.join("\n")
        ),
    )
    .hint(hint)
}

/// Loads the configuration for `repo_root`, or the failure to report.
pub fn load(repo_root: Option<&Path>) -> Result<Config, Failure> {
    Config::load(repo_root).map_err(refused)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
