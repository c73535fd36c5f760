//! The configuration file: repository file, then the user's, then the
//! environment, then flags (flags win); `writ config` shows each value and
//! where it came from; a repository's own file can tune but never choose
//! models, the index (and its ledger), rules or where `writ serve` listens,
//! and nothing in any file reaches the ledger's key folder. Fast tier: no
//! model is loaded.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{text, writ_cmd, Repo};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

/// A repository with a user configuration folder beside it.
struct Setup {
    repo: Repo,
    xdg: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let repo = Repo::new();
        repo.write("README.md", "# r\n");
        repo.commit_all();
        Setup {
            repo,
            xdg: tempfile::tempdir().unwrap(),
        }
    }

    fn user_file(&self) -> PathBuf {
        self.xdg.path().join("writ/config.toml")
    }

    fn write_user(&self, text: &str) {
        std::fs::create_dir_all(self.xdg.path().join("writ")).unwrap();
        std::fs::write(self.user_file(), text).unwrap();
    }

    /// `writ ARGS` with this user folder, no WRIT_MODELS or WRIT_LLM, and
    /// `env` set.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = writ_cmd(self.repo.path(), args);
        cmd.env("XDG_CONFIG_HOME", self.xdg.path())
            .env_remove("WRIT_MODELS")
            .env_remove("WRIT_LLM");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn config(&self, args: &[&str], env: &[(&str, &str)]) -> Value {
        let mut all = vec!["config", "--json"];
        all.extend_from_slice(args);
        let out = self.run(&all, env);
        common::assert_ok(&out, &all);
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn at(v: &Value, key: &str) -> (Value, String) {
    (
        v["values"][key]["value"].clone(),
        v["values"][key]["source"].as_str().unwrap().to_string(),
    )
}

#[test]
fn each_place_overrides_the_one_before_and_writ_config_says_which() {
    let s = Setup::new();
    let v = s.config(&[], &[]);
    assert_eq!(at(&v, "ask.k"), (6.into(), "default".into()));
    assert_eq!(at(&v, "search.k"), (10.into(), "default".into()));
    assert_eq!(
        at(&v, "serve.addr"),
        ("127.0.0.1:7878".into(), "default".into())
    );
    let index = s.repo.path().canonicalize().unwrap().join(".writ");
    assert_eq!(
        at(&v, "index"),
        (index.display().to_string().into(), "default".into())
    );
    assert_eq!(v["repo_file"], Value::Null);
    assert_eq!(v["user_file"], s.user_file().display().to_string());

    s.repo.write(
        "writ.toml",
        "[ask]\nk = 3\nmax_tokens = 200\n[search]\nk = 4\n",
    );
    s.write_user("models = \"/opt/models\"\nmodel = \"~/llm/m.gguf\"\n[ask]\nk = 5\n[serve]\naddr = \"127.0.0.1:9000\"\n");
    let home = std::env::var("HOME").unwrap();
    let v = s.config(&[], &[]);
    assert_eq!(
        at(&v, "ask.k"),
        (5.into(), "user".into()),
        "the user's file beats the repository's"
    );
    assert_eq!(at(&v, "ask.max_tokens"), (200.into(), "repo".into()));
    assert_eq!(at(&v, "search.k"), (4.into(), "repo".into()));
    assert_eq!(at(&v, "models"), ("/opt/models".into(), "user".into()));
    assert_eq!(
        at(&v, "model"),
        (format!("{home}/llm/m.gguf").into(), "user".into())
    );
    assert_eq!(
        at(&v, "serve.addr"),
        ("127.0.0.1:9000".into(), "user".into())
    );
    assert_eq!(
        v["values"]["ask.k"]["from"],
        s.user_file().display().to_string()
    );
    assert!(v["repo_file"].as_str().unwrap().ends_with("writ.toml"));

    // The environment beats the files; flags beat everything.
    let v = s.config(
        &[],
        &[("WRIT_MODELS", "/env/models"), ("WRIT_LLM", "/env/m.gguf")],
    );
    assert_eq!(at(&v, "models"), ("/env/models".into(), "env".into()));
    assert_eq!(v["values"]["models"]["from"], "WRIT_MODELS");
    assert_eq!(at(&v, "model"), ("/env/m.gguf".into(), "env".into()));
    let v = s.config(
        &["--models", "/flag/models", "--model", "/flag/m.gguf"],
        &[("WRIT_MODELS", "/env/models")],
    );
    assert_eq!(at(&v, "models"), ("/flag/models".into(), "flag".into()));
    assert_eq!(at(&v, "model"), ("/flag/m.gguf".into(), "flag".into()));

    // The human form names every key and its source.
    let out = s.run(&["config"], &[]);
    let shown = text(&out.stdout);
    for line in ["ask.k", "search.k", "serve.addr", "embed_model", "rules"] {
        assert!(shown.contains(line), "{shown}");
    }
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("ask.max_tokens") && l.contains("200") && l.contains("repo ")),
        "{shown}"
    );
}

#[test]
fn the_configuration_reaches_the_commands_and_flags_still_win() {
    let s = Setup::new();
    // The user's index folder, relative to the repository: the ledger goes there.
    s.write_user("index = \".writ-elsewhere\"\n");
    let note = r#"{"kind": "note", "title": "t", "rationale": "r", "citations": [], "text": "x"}"#;
    let p = s.repo.path().join("note.json");
    std::fs::write(&p, note).unwrap();
    let out = s.run(&["propose", "--file", p.to_str().unwrap(), "--json"], &[]);
    assert_eq!(out.status.code(), Some(10), "{}", text(&out.stderr));
    assert!(s
        .repo
        .path()
        .join(".writ-elsewhere/ledger.sqlite")
        .is_file());
    assert!(!s.repo.path().join(".writ").exists());
    let listed = s.run(&["proposals", "--json"], &[]);
    let rows: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    // A flag wins over the file.
    let flagged = s.run(&["proposals", "--index", ".writ", "--json"], &[]);
    assert_eq!(flagged.status.code(), Some(6), "{}", text(&flagged.stderr));

    // The user's rules folder is the one `writ rules check` reads.
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("mine.toml"),
        "[[rule]]\nid = \"hold-all\"\neffect = \"hold\"\nwhy = \"w\"\nwhen = { kind = [\"edit\", \"note\", \"command\", \"rule-change\"] }\n",
    )
    .unwrap();
    s.write_user(&format!("rules = \"{}\"\n", rules.path().display()));
    let out = s.run(&["rules", "check"], &[]);
    common::assert_ok(&out, &["rules", "check"]);
    assert!(
        text(&out.stdout).starts_with("1 rules ok"),
        "{}",
        text(&out.stdout)
    );
}

/// `writ proposals` with the repository's `writ.toml` holding `text`:
/// refused, exit 1, naming the file, the line and column, and the key.
fn refused_from_repo(s: &Setup, file: &str, text_: &str, line_col: &str, key: &str) {
    s.repo.write(file, text_);
    let out = s.run(&["proposals"], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{file}: {text_}: {err}");
    let path = s.repo.path().canonicalize().unwrap().join(file);
    assert!(
        err.contains(&format!(
            "{}:{line_col}: a repository's configuration may not set `{key}`",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("writ: hint: set it in your own"), "{err}");
    assert!(!s.repo.path().join(".writ-evil").exists());
    s.repo.remove(file);
}

#[test]
fn a_repository_file_cannot_choose_models_index_rules_or_address() {
    let s = Setup::new();
    s.repo.write("evil.gguf", "GGUF");
    for (text_, line_col, key) in [
        ("model = \"evil.gguf\"\n", "1:9", "model"),
        ("models = \"/tmp\"\n", "1:10", "models"),
        ("embed_model = \"/tmp/m\"\n", "1:15", "embed_model"),
        ("index = \".writ-evil\"\n[ask]\nk = 2\n", "1:9", "index"),
        ("rules = \"/tmp\"\n", "1:9", "rules"),
        (
            "[search]\nk = 3\n[serve]\naddr = \"0.0.0.0:7878\"\n",
            "4:8",
            "serve.addr",
        ),
    ] {
        refused_from_repo(&s, "writ.toml", text_, line_col, key);
        std::fs::create_dir_all(s.repo.path().join(".writ")).unwrap();
        refused_from_repo(&s, ".writ/config.toml", text_, line_col, key);
    }
    // The same keys from the user's own file are taken.
    s.write_user("model = \"/opt/m.gguf\"\nindex = \".writ-mine\"\n");
    let v = s.config(&[], &[]);
    assert_eq!(at(&v, "model").1, "user");
    assert_eq!(v["values"]["model"]["repo_may_set"], false);
    assert_eq!(v["values"]["ask.k"]["repo_may_set"], true);
}

#[test]
fn no_file_reaches_the_key_folder() {
    let s = Setup::new();
    for text_ in [
        "key_dir = \"/tmp/keys\"\n",
        "WRIT_KEY_DIR = \"/tmp/keys\"\n",
        "[serve]\ntoken = \"0000\"\n",
        "[env]\nWRIT_KEY_DIR = \"/tmp/keys\"\n",
    ] {
        for user in [false, true] {
            if user {
                s.write_user(text_);
            } else {
                s.repo.write("writ.toml", text_);
            }
            let out = s.run(&["proposals"], &[]);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{text_}: {err}");
            assert!(err.contains("unknown field"), "{err}");
            assert!(
                err.contains("WRIT_KEY_DIR, set in the environment only"),
                "{err}"
            );
            if user {
                std::fs::remove_file(s.user_file()).unwrap();
            } else {
                s.repo.remove("writ.toml");
            }
        }
    }
}

#[test]
fn bad_files_are_refused_with_file_line_col_and_the_fix() {
    let s = Setup::new();
    let file = s.user_file();
    for (text_, want) in [
        (
            "[ask]\nk = \"six\"\n",
            ":2:5: invalid type: string \"six\", expected i64",
        ),
        ("[ask]\nk = 0\n", ":2:5: `ask.k` is 0, not a count"),
        ("[search]\nk = -3\n", ":2:5: `search.k` is -3, not a count"),
        (
            "models = \"relative/dir\"\n",
            ":1:10: `models` is `relative/dir`, a relative path",
        ),
        (
            "[serve]\naddr = \"localhost\"\n",
            ":2:8: `serve.addr` is `localhost`, not an address",
        ),
        (
            "[ask]\nk = 3\nmodels = \"/m\"\n",
            ":3:1: unknown field `models`",
        ),
        ("temperature = 0.5\n", ":1:1: unknown field `temperature`"),
        ("[ask\n", ":1:5:"),
    ] {
        s.write_user(text_);
        let out = s.run(&["status"], &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text_}: {err}");
        assert!(
            err.contains(&format!(
                "the configuration file `{}` is refused",
                file.display()
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!("{}{want}", file.display())),
            "{text_}: {err}"
        );
        assert!(err.contains("writ: hint: "), "{err}");
    }
    // Two repository files: which one counts is not guessed.
    std::fs::remove_file(&file).unwrap();
    s.repo.write("writ.toml", "[ask]\nk = 3\n");
    s.repo.write(".writ/config.toml", "[ask]\nk = 4\n");
    let out = s.run(&["status"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("two configuration files"),
        "{}",
        text(&out.stderr)
    );
    // A repository's file that is a link is not followed.
    s.repo.remove(".writ/config.toml");
    s.repo.remove("writ.toml");
    std::os::unix::fs::symlink(s.user_file(), s.repo.path().join("writ.toml")).unwrap();
    let out = s.run(&["status"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("symbolic link"),
        "{}",
        text(&out.stderr)
    );
    // Commands that read no configuration still run.
    for args in [
        &["completions", "bash"][..],
        &["man"],
        &["schema", "proposal"],
    ] {
        assert!(s.run(args, &[]).status.success(), "{args:?}");
    }
}
