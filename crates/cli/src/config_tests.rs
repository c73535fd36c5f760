//! Unit tests of the configuration file: what a repository's file may
//! set, the key folder that is no key, errors at `file:line:col`, and
//! which place wins.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

use super::*;

fn repo_err(text: &str) -> Vec<ConfigError> {
    parse(Path::new("/r/writ.toml"), text, Path::new("/r"), true).unwrap_err()
}

#[test]
fn a_repository_file_may_only_tune() {
    let ok = parse(
        Path::new("/r/writ.toml"),
        "[ask]\nk = 3\nmax_proposals = 1\nmax_tokens = 200\n[search]\nk = 7\n",
        Path::new("/r"),
        true,
    )
    .unwrap();
    assert_eq!(ok.get(Key::AskK), Some(&Value::Count(3)));
    assert_eq!(ok.get(Key::SearchK), Some(&Value::Count(7)));
    for (text, key) in [
        ("models = \"/r/m\"\n", "models"),
        ("embed_model = \"/r/e\"\n", "embed_model"),
        ("model = \"/r/m.gguf\"\n", "model"),
        ("index = \"elsewhere\"\n", "index"),
        ("rules = \"/tmp/lenient\"\n", "rules"),
        ("[serve]\naddr = \"0.0.0.0:80\"\n", "serve.addr"),
        ("[llm]\nurl = \"http://evil.example/v1\"\n", "llm.url"),
        (
            "[embed_server]\nurl = \"http://evil.example/v1\"\n",
            "embed_server.url",
        ),
        ("[embed_server]\nmodel = \"m\"\n", "embed_server.model"),
    ] {
        let e = repo_err(text);
        assert_eq!(e.len(), 1, "{text}");
        assert!(
            e[0].message.contains(&format!("may not set `{key}`")),
            "{e:?}"
        );
        assert!(e[0].line >= 1, "{e:?}");
    }
}

#[test]
fn the_key_folder_is_no_key_at_all() {
    for text in ["key_dir = \"/tmp/k\"\n", "[serve]\ntoken = \"x\"\n"] {
        let e = repo_err(text);
        assert!(e[0].message.contains("unknown field"), "{e:?}");
        let user = parse(Path::new("/u/config.toml"), text, Path::new("/r"), false).unwrap_err();
        assert!(user[0].message.contains("unknown field"), "{user:?}");
    }
}

#[test]
fn wrong_types_and_values_name_line_and_column() {
    let e = parse(
        Path::new("/u/c.toml"),
        "models = \"~/m\"\n[ask]\nk = \"six\"\n",
        Path::new("/r"),
        false,
    )
    .unwrap_err();
    assert_eq!((e[0].line, e[0].col), (3, 5), "{e:?}");
    let e = parse(
        Path::new("/u/c.toml"),
        "[ask]\nk = 0\n",
        Path::new("/r"),
        false,
    )
    .unwrap_err();
    assert_eq!((e[0].line, e[0].col), (2, 5), "{e:?}");
    assert!(e[0].message.contains("not a count"), "{e:?}");
    let e = parse(
        Path::new("/u/c.toml"),
        "model = \"m.gguf\"\n",
        Path::new("/r"),
        false,
    )
    .unwrap_err();
    assert!(e[0].message.contains("relative path"), "{e:?}");
    let e = parse(
        Path::new("/u/c.toml"),
        "[serve]\naddr = \"here\"\n",
        Path::new("/r"),
        false,
    )
    .unwrap_err();
    assert!(e[0].message.contains("not an address"), "{e:?}");
}

#[test]
fn index_and_rules_are_relative_to_the_repository() {
    let f = parse(
        Path::new("/u/c.toml"),
        "index = \".idx\"\nrules = \"/etc/writ-rules\"\n",
        Path::new("/r"),
        false,
    )
    .unwrap();
    assert_eq!(f.get(Key::Index), Some(&Value::Path("/r/.idx".into())));
    assert_eq!(
        f.get(Key::Rules),
        Some(&Value::Path("/etc/writ-rules".into()))
    );
}

#[test]
fn later_places_win() {
    let repo = parse(
        Path::new("/r/writ.toml"),
        "[ask]\nk = 3\n[search]\nk = 4\n",
        Path::new("/r"),
        true,
    )
    .unwrap();
    let user = parse(
        Path::new("/u/c.toml"),
        "[ask]\nk = 5\n",
        Path::new("/r"),
        false,
    )
    .unwrap();
    let c = Config {
        repo: Some(repo),
        user: Some(user),
        ..Config::default()
    };
    let s = c.get(Key::AskK, None);
    assert_eq!((s.value, s.source.name()), (Some(Value::Count(5)), "user"));
    let s = c.get(Key::SearchK, None);
    assert_eq!((s.value, s.source.name()), (Some(Value::Count(4)), "repo"));
    let s = c.get(Key::AskK, Some(Value::Count(9)));
    assert_eq!((s.value, s.source.name()), (Some(Value::Count(9)), "flag"));
    let s = c.get(Key::AskMaxTokens, None);
    assert_eq!((s.value, s.source.name()), (None, "default"));
}
