//! `writ completions SHELL` and `writ man`: generated from the clap
//! definition in `args.rs`, so they list exactly what `--help` does.

use crate::args::{Cli, Shell};
use crate::exit::{CmdResult, ExitCode, Failure};
use crate::out::outln;
use anyhow::Context;
use clap::CommandFactory;
use std::path::Path;

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: Shell) -> CmdResult {
    let mut out = Vec::new();
    script(shell, &mut out);
    write_stdout(&out)?;
    Ok(ExitCode::Ok)
}

/// The completion script for `shell`.
pub fn script(shell: Shell, out: &mut Vec<u8>) {
    use clap_complete::Shell as S;
    let shell = match shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
    };
    clap_complete::generate(shell, &mut Cli::command(), "writ", out);
}

/// Prints the man page on stdout, or with `out` writes one page per
/// command (`writ.1`, `writ-rules-check.1`, ...) into that folder.
pub fn man(out: Option<&Path>) -> CmdResult {
    match out {
        None => {
            let mut page = Vec::new();
            page_of(&mut page).context("rendering the man page")?;
            write_stdout(&page)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating `{}`", dir.display()))?;
            let mut cmd = Cli::command().disable_help_subcommand(true);
            cmd.build();
            write_pages(&cmd, dir)
                .with_context(|| format!("writing man pages into `{}`", dir.display()))?;
            let mut pages: Vec<String> = std::fs::read_dir(dir)
                .with_context(|| format!("listing `{}`", dir.display()))?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("writ") && n.ends_with(".1"))
                .collect();
            pages.sort();
            eprintln!(
                "writ: wrote {} man pages into `{}` (read one with `man -l {}/writ.1`)",
                pages.len(),
                crate::term::clean(&dir.display().to_string()),
                crate::term::clean(&dir.display().to_string())
            );
            for p in pages {
                outln!("{}", crate::term::clean(&p));
            }
        }
    }
    Ok(ExitCode::Ok)
}

/// The man page of `cmd` (built), titled in capitals as man pages are
/// (`.TH WRIT-RULES-CHECK 1`).
fn man_of(cmd: &clap::Command) -> clap_mangen::Man {
    let title = cmd.get_display_name().unwrap_or(cmd.get_name());
    clap_mangen::Man::new(cmd.clone())
        .title(title.to_uppercase())
        .manual("writ manual")
}

/// Writes the page of `cmd` and of each of its subcommands, recursively.
fn write_pages(cmd: &clap::Command, dir: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir)?;
    }
    let man = man_of(cmd);
    let mut page = Vec::new();
    man.render(&mut page)?;
    std::fs::write(dir.join(man.get_filename()), page)
}

/// writ's top-level man page, its SUBCOMMANDS section naming every
/// command.
pub fn page_of(out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    man_of(&cmd).render(out)
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("writing")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_commands_and_flags() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            script(shell, &mut out);
            let s = String::from_utf8(out).unwrap();
            for word in [
                "ask",
                "review",
                "completions",
                "max-proposals",
                "embed-model",
            ] {
                assert!(s.contains(word), "{shell:?} lacks {word}");
            }
        }
    }

    #[test]
    fn the_man_page_has_a_title_and_names_every_subcommand() {
        let mut out = Vec::new();
        page_of(&mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(page.contains("\n.TH WRIT 1 "), "{page}");
        for sub in Cli::command().get_subcommands() {
            assert!(page.contains(sub.get_name()), "{}", sub.get_name());
        }
    }
}
