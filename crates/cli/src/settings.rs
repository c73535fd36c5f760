//! The configuration applied: what each command's flags left unset is
//! filled from [`crate::config`], found for the repository that command
//! works in; and `writ config`, which shows every value in effect and
//! where it came from.

use crate::args::{Cli, Command};
use crate::config::{default_note, default_value, load, Config, Key, Setting, Value, REPO_FILES};
use crate::exit::{ExitCode, Failure};
use clap::parser::ValueSource;
use clap::ArgMatches;
use std::path::{Path, PathBuf};

/// The repository a command works in, as that command finds it; `None`
/// when it names one that does not exist (the command says so itself).
fn repo_of(explicit: Option<&Path>) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    writ_service::find_repo(&cwd, explicit).ok()
}

/// Whether `id` was given on the command line of the innermost subcommand.
fn given(matches: &ArgMatches, id: &str) -> bool {
    let mut m = matches;
    while let Some((_, sub)) = m.subcommand() {
        m = sub;
    }
    m.value_source(id) == Some(ValueSource::CommandLine)
}

/// Fills what the command line left unset from the configuration:
/// flags win, then the environment, then the user's file, then the
/// repository's. Commands that read no configuration (`schema`,
/// `completions`, `man`, `config` itself) are left alone.
pub fn apply(cli: &mut Cli, matches: &ArgMatches) -> Result<(), Failure> {
    use crate::args::{BenchWhat, GateArgs, Locations, ModelArgs, RulesWhat};
    fn gate(c: &Config, g: &mut GateArgs) {
        g.index = c.path(Key::Index, g.index.as_ref());
        g.rules = c.path(Key::Rules, g.rules.as_ref());
    }
    // The model file and the model server exclude each other: the one on
    // the command line wins over the other's configuration (so `--model`
    // never sends a prompt to a configured server); configured both, with
    // neither on the command line, is refused rather than guessed.
    fn models(c: &Config, m: &mut ModelArgs) -> Result<(), Failure> {
        let file_flag = m.model.is_some();
        let url_flag = m.llm_url.is_some();
        if !url_flag {
            m.model = c.path(Key::Model, m.model.as_ref());
        }
        if !file_flag {
            m.llm_url = c.text(Key::LlmUrl, m.llm_url.as_ref());
            m.llm_model = c.text(Key::LlmModel, m.llm_model.as_ref());
        }
        if m.model.is_some() && m.llm_url.is_some() {
            let from = |k: Key| c.get(k, None).source.detail().unwrap_or_default();
            return Err(Failure::new(
                ExitCode::Usage,
                anyhow::anyhow!(
                    "both a model file (`model`, from {}) and a model server (`llm.url`, from {}) are configured",
                    from(Key::Model),
                    from(Key::LlmUrl)
                ),
            )
            .hint("keep one of them, or choose on the command line with --model or --llm-url"));
        }
        m.models = c.path(Key::Models, m.models.as_ref());
        embedding(
            c,
            &mut m.embed_model,
            &mut m.embed_url,
            &mut m.embed_url_model,
        )
    }
    fn loc(c: &Config, l: &mut Locations) -> Result<(), Failure> {
        l.models = c.path(Key::Models, l.models.as_ref());
        l.index = c.path(Key::Index, l.index.as_ref());
        embedding(
            c,
            &mut l.embed_model,
            &mut l.embed_url,
            &mut l.embed_url_model,
        )
    }
    // Likewise the embedding model folder and the embedding server.
    fn embedding(
        c: &Config,
        folder: &mut Option<PathBuf>,
        url: &mut Option<String>,
        model: &mut Option<String>,
    ) -> Result<(), Failure> {
        let (folder_flag, url_flag) = (folder.is_some(), url.is_some());
        if !url_flag {
            *folder = c.path(Key::EmbedModel, folder.as_ref());
        }
        if !folder_flag {
            *url = c.text(Key::EmbedUrl, url.as_ref());
            *model = c.text(Key::EmbedUrlModel, model.as_ref());
        }
        if folder.is_some() && url.is_some() {
            let from = |k: Key| c.get(k, None).source.detail().unwrap_or_default();
            return Err(Failure::new(
                ExitCode::Usage,
                anyhow::anyhow!(
                    "both an embedding model folder (`embed_model`, from {}) and an embedding server (`embed_server.url`, from {}) are configured",
                    from(Key::EmbedModel),
                    from(Key::EmbedUrl)
                ),
            )
            .hint("keep one of them, or choose on the command line with --embed-model or --embed-url"));
        }
        Ok(())
    }
    let cwd_repo = || repo_of(None);
    match &mut cli.command {
        Command::Schema { .. }
        | Command::Completions { .. }
        | Command::Man { .. }
        | Command::Config(_) => {}
        Command::Index(a) => {
            let cwd = std::env::current_dir().ok();
            let root = cwd.and_then(|cwd| {
                writ_service::existing(&cwd, a.path.as_deref().unwrap_or(Path::new("."))).ok()
            });
            let c = load(root.as_deref())?;
            loc(&c, &mut a.loc)?;
        }
        Command::Eval(a) => {
            let cwd = std::env::current_dir().ok();
            let root = cwd.and_then(|cwd| {
                writ_service::existing(&cwd, a.path.as_deref().unwrap_or(Path::new("."))).ok()
            });
            let c = load(root.as_deref())?;
            loc(&c, &mut a.loc)?;
        }
        Command::Search(a) => {
            let c = load(repo_of(a.repo.as_deref()).as_deref())?;
            loc(&c, &mut a.loc)?;
            c.count(Key::SearchK, &mut a.k, given(matches, "k"));
        }
        Command::Status(a) => {
            let c = load(repo_of(a.repo.as_deref()).as_deref())?;
            loc(&c, &mut a.loc)?;
        }
        Command::Bench(b) => match &mut b.what {
            BenchWhat::Embed { loc: l, .. } => loc(&load(cwd_repo().as_deref())?, l)?,
            BenchWhat::Llm { model, loc: l, .. } => {
                let c = load(cwd_repo().as_deref())?;
                *model = c.path(Key::Model, model.as_ref());
                loc(&c, l)?;
            }
            BenchWhat::Search { repo, loc: l, .. } => {
                loc(&load(repo_of(repo.as_deref()).as_deref())?, l)?;
            }
            BenchWhat::Gate { .. } | BenchWhat::Vectors { .. } => {}
        },
        Command::Ask(a) => {
            let c = load(repo_of(a.gate.repo.as_deref()).as_deref())?;
            gate(&c, &mut a.gate);
            models(&c, &mut a.models)?;
            c.count(Key::AskK, &mut a.k, given(matches, "k"));
            c.count(
                Key::AskMaxProposals,
                &mut a.max_proposals,
                given(matches, "max_proposals"),
            );
            c.count(
                Key::AskMaxTokens,
                &mut a.max_tokens,
                given(matches, "max_tokens"),
            );
        }
        Command::Serve(a) => {
            let c = load(repo_of(a.gate.repo.as_deref()).as_deref())?;
            gate(&c, &mut a.gate);
            models(&c, &mut a.models)?;
            if !given(matches, "addr") {
                if let Some(Value::Addr(addr)) = c.get(Key::ServeAddr, None).value {
                    a.addr = addr;
                }
            }
        }
        Command::Mcp(a) => {
            let c = load(repo_of(a.gate.repo.as_deref()).as_deref())?;
            gate(&c, &mut a.gate);
            models(&c, &mut a.models)?;
        }
        Command::Models(a) => {
            let c = load(cwd_repo().as_deref())?;
            a.models = c.path(Key::Models, a.models.as_ref());
        }
        Command::Rules(r) => match &mut r.what {
            RulesWhat::Check { rules } | RulesWhat::Test { rules } => {
                let c = load(cwd_repo().as_deref())?;
                *rules = c.path(Key::Rules, rules.as_ref());
            }
            RulesWhat::Suggest { gate: g, .. } | RulesWhat::Explain { gate: g, .. } => {
                gate(&load(repo_of(g.repo.as_deref()).as_deref())?, g);
            }
        },
        Command::Proposals(a) => gate(
            &load(repo_of(a.gate.repo.as_deref()).as_deref())?,
            &mut a.gate,
        ),
        Command::Show(a) => gate(
            &load(repo_of(a.gate.repo.as_deref()).as_deref())?,
            &mut a.gate,
        ),
        Command::Propose(a) => gate(
            &load(repo_of(a.gate.repo.as_deref()).as_deref())?,
            &mut a.gate,
        ),
        Command::Review(a) => gate(
            &load(repo_of(a.gate.repo.as_deref()).as_deref())?,
            &mut a.gate,
        ),
        Command::Explain(a) => gate(
            &load(repo_of(a.gate.repo.as_deref()).as_deref())?,
            &mut a.gate,
        ),
        Command::Verify(a) => gate(
            &load(repo_of(a.gate.repo.as_deref()).as_deref())?,
            &mut a.gate,
        ),
        Command::Actions(a) => gate(&load(repo_of(a.repo.as_deref()).as_deref())?, a),
        Command::Apply(a) => gate(
            &load(repo_of(a.gate.repo.as_deref()).as_deref())?,
            &mut a.gate,
        ),
    }
    Ok(())
}

/// `writ config`: every key's value in effect and where it came from.
pub fn show(args: &crate::args::ConfigArgs) -> crate::exit::CmdResult {
    use crate::out::{outln, print_json};
    use crate::term::clean;
    let cwd = crate::ctx::cwd()?;
    let root = writ_service::find_repo(&cwd, args.repo.as_deref())?;
    let config = load(Some(&root))?;
    let flag = |key: Key| -> Option<Value> {
        let text = match key {
            Key::EmbedUrl => args.loc.embed_url.clone(),
            Key::EmbedUrlModel => args.loc.embed_url_model.clone(),
            _ => None,
        };
        if let Some(t) = text {
            return Some(Value::Text(t));
        }
        let p = match key {
            Key::Models => args.loc.models.clone(),
            Key::EmbedModel => args.loc.embed_model.clone(),
            Key::Index => args.loc.index.clone(),
            Key::Model => args.model.clone(),
            Key::Rules => args.rules.clone(),
            _ => None,
        };
        p.map(Value::Path)
    };
    let settings: Vec<Setting> = Key::ALL
        .iter()
        .map(|&k| {
            let mut s = config.get(k, flag(k));
            if s.value.is_none() {
                s.value = default_value(k, Some(&root));
            }
            s
        })
        .collect();
    let repo_file = config.repo.as_ref().map(|f| f.path.clone());
    if args.json {
        let mut values = serde_json::Map::new();
        for s in &settings {
            let mut v = serde_json::json!({
                "value": s.value.as_ref().map_or(serde_json::Value::Null, Value::json),
                "source": s.source.name(),
                "repo_may_set": s.key.repo_may_set(),
            });
            if let Some(d) = s.source.detail() {
                v["from"] = d.into();
            }
            if s.value.is_none() {
                v["default"] = default_note(s.key).into();
            }
            values.insert(s.key.name().to_string(), v);
        }
        print_json(&serde_json::json!({
            "repo": root.display().to_string(),
            "repo_file": repo_file.map(|p| p.display().to_string()),
            "user_file": config.user_path.as_ref().map(|p| p.display().to_string()),
            "user_file_exists": config.user.is_some(),
            "values": values,
        }))?;
        return Ok(ExitCode::Ok);
    }
    let shown = |p: Option<&PathBuf>, present: bool| match p {
        Some(p) if present => clean(&p.display().to_string()).into_owned(),
        Some(p) => format!("{} (none)", clean(&p.display().to_string())),
        None => "(none: no HOME)".into(),
    };
    outln!("repository  {}", clean(&root.display().to_string()));
    outln!(
        "repo file   {}",
        repo_file.as_ref().map_or_else(
            || format!("(none: {} or {})", REPO_FILES[0], REPO_FILES[1]),
            |p| clean(&p.display().to_string()).into_owned()
        )
    );
    outln!(
        "user file   {}",
        shown(config.user_path.as_ref(), config.user.is_some())
    );
    for s in &settings {
        let value = s
            .value
            .as_ref()
            .map_or_else(|| format!("({})", default_note(s.key)), Value::text);
        let from = match s.source.detail() {
            Some(d) => format!("{} {}", s.source.name(), d),
            None => s.source.name().to_string(),
        };
        outln!(
            "{:<18} {:<40} {}",
            s.key.name(),
            clean(&value),
            clean(&from)
        );
    }
    Ok(ExitCode::Ok)
}
