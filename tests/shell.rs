//! What writ gives the shell around it: completion scripts and man pages.
//! Fast tier: no model is loaded.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
use common::{text, Repo};

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
