//! Standard output that ends quietly when its reader has gone.
//!
//! Rust ignores SIGPIPE, so writing to a closed pipe (`writ proposals |
//! head -1`) returns `EPIPE`, and `println!` panics on it. writ does what
//! ripgrep does instead: a closed stdout means nobody wants the rest, so
//! writ exits 0 at once, printing nothing. Restoring SIGPIPE's default
//! action would need `unsafe` and would end writ by a signal (status 141 in
//! a shell) rather than 0. Every line writ prints on stdout goes through
//! [`outln!`].

use std::io::Write;

/// Writes to stdout; exits 0 quietly if the reader has gone, and exits 1
/// naming the error if stdout cannot be written for another reason.
pub fn print(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            quiet_exit();
        }
        let _ = writeln!(std::io::stderr(), "writ: error: writing to stdout: {e}");
        std::process::exit(crate::exit::ExitCode::Error as i32);
    }
}

/// Ends writ with status 0 and no message: stdout's reader has gone.
pub fn quiet_exit() -> ! {
    std::process::exit(crate::exit::ExitCode::Ok as i32)
}

/// Whether `error`, or any error it wraps, is a write to a closed pipe.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `println!` through [`print`]: a closed pipe ends writ quietly.
macro_rules! outln {
    () => {
        $crate::out::print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// Prints `value` as pretty JSON on stdout (every `--json` output), as
/// exactly one JSON document: nothing else may follow it on stdout.
pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<(), crate::exit::Failure> {
    use anyhow::Context;
    let text = serde_json::to_string_pretty(value).context("encoding JSON output")?;
    outln!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_found_under_context() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let e = anyhow::Error::new(pipe).context("writing");
        assert!(is_broken_pipe(&e));
        let other = anyhow::Error::new(std::io::Error::other("disk full")).context("writing");
        assert!(!is_broken_pipe(&other));
    }
}
