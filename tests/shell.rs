//! What writ gives the shell around it: completion scripts, man pages, and
//! hints that name commands a user of the installed binary can run (no
//! source folder, no path of the machine writ was built on). Fast tier: no
//! model is loaded.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{text, writ_cmd, Repo};

/// Every subcommand name, from `writ --help`.
fn subcommands(repo: &Repo) -> Vec<String> {
    let help = text(&repo.writ(&["--help"]).stdout);
    let mut names = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            if !line.starts_with("  ") {
                break;
            }
            if let Some(name) = line.split_whitespace().next() {
                if line.starts_with("  ") && !line.starts_with("   ") {
                    names.push(name.to_string());
                }
            }
        }
    }
    assert!(names.len() > 15, "{help}");
    names
}

#[test]
fn completion_scripts_name_every_subcommand_and_bashs_parses() {
    let repo = Repo::new();
    let subs = subcommands(&repo);
    for shell in ["bash", "zsh", "fish"] {
        let out = repo.writ(&["completions", shell]);
        common::assert_ok(&out, &["completions", shell]);
        let script = text(&out.stdout);
        for sub in subs.iter().filter(|s| *s != "help") {
            assert!(script.contains(sub.as_str()), "{shell}: no `{sub}`");
        }
        for flag in ["max-proposals", "embed-model", "allow-remote", "regate"] {
            assert!(script.contains(flag), "{shell}: no `{flag}`");
        }
    }
    let bash = repo.writ(&["completions", "bash"]).stdout;
    let path = repo.path().join("writ.bash");
    std::fs::write(&path, &bash).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    // Sourced, it completes writ's subcommands.
    let probe = format!(
        "source {}; COMP_WORDS=(writ rev); COMP_CWORD=1; _writ writ rev writ; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let done = std::process::Command::new("bash")
        .args(["-c", &probe])
        .output()
        .unwrap();
    assert_eq!(
        text(&done.stdout).trim(),
        "review",
        "{}",
        text(&done.stderr)
    );
    let out = repo.writ(&["completions", "powershell"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_man_page_has_its_title_and_every_subcommand() {
    let repo = Repo::new();
    let subs = subcommands(&repo);
    let out = repo.writ(&["man"]);
    common::assert_ok(&out, &["man"]);
    let page = text(&out.stdout);
    assert!(page.contains("\n.TH WRIT 1 "), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for sub in subs.iter().filter(|s| *s != "help") {
        assert!(
            page.contains(&format!("writ\\-{sub}(1)")),
            "no `{sub}`: {page}"
        );
    }
    // One page per command into a folder.
    let dir = repo.path().join("man1");
    let out = repo.writ(&["man", "--out", dir.to_str().unwrap()]);
    common::assert_ok(&out, &["man", "--out"]);
    for sub in subs.iter().filter(|s| *s != "help") {
        let file = dir.join(format!("writ-{sub}.1"));
        let page =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            page.contains(&format!(".TH WRIT-{} 1", sub.to_uppercase())),
            "{page}"
        );
    }
    assert!(dir.join("writ.1").is_file());
    assert!(dir.join("writ-rules-suggest.1").is_file());
}

#[test]
fn a_missing_model_hint_names_a_command_not_a_folder_of_the_build_machine() {
    let repo = Repo::new();
    repo.write("a.py", "x = 1\n");
    let empty = repo.path().join("no-models");
    let out = writ_cmd(repo.path(), &["index"])
        .env("WRIT_MODELS", &empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(
        err.contains("writ: hint: run `writ models fetch all-minilm-l6-v2`"),
        "{err}"
    );
    let build_dir = env!("CARGO_MANIFEST_DIR");
    assert!(!err.contains(build_dir), "names the build folder: {err}");
    assert!(
        !err.contains("source folder") && !err.contains("fetch.sh"),
        "{err}"
    );
    // With --models elsewhere than the default cache, the command says so.
    let out = writ_cmd(repo.path(), &["index", "--models", empty.to_str().unwrap()])
        .env_remove("WRIT_MODELS")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "`writ models fetch --models {} all-minilm-l6-v2`",
            empty.display()
        )),
        "{err}"
    );
    // The command it names exists, and lists what is missing.
    let out = writ_cmd(repo.path(), &["models", "--json"])
        .env("WRIT_MODELS", &empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let models = listed["models"].as_array().unwrap();
    assert_eq!(models.len(), 3, "{listed}");
    assert!(models.iter().all(|m| m["state"] == "missing"), "{listed}");
    assert_eq!(models[0]["name"], "all-minilm-l6-v2");
    let out = writ_cmd(repo.path(), &["models", "fetch", "no-such-model"])
        .env("WRIT_MODELS", &empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("smollm2-135m-instruct-q4_1"));
}

#[test]
fn no_hint_in_the_sources_names_the_build_machine() {
    // A hint is for whoever runs the binary: a path compiled in from the
    // build (`env!("CARGO_MANIFEST_DIR")`) means nothing on their machine.
    // The tree read at run time (a binary built from another clone into a
    // shared target folder must look at this one).
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            std::path::PathBuf::from,
        )
        .join("crates");
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                // Tests may read their own fixtures by it.
                if path
                    .file_name()
                    .is_some_and(|n| n != "tests" && n != "examples")
                {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("env!(\"CARGO_MANIFEST_DIR\")") {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    assert_eq!(found, Vec::<String>::new());
}
