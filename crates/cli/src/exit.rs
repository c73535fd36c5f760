//! Exit codes, documented in the README. A failure carries its code.

/// writ's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitCode {
    /// Success.
    Ok = 0,
    /// Any other failure (I/O, a corrupt file…).
    Error = 1,
    /// Bad command-line usage (clap's own code).
    #[allow(dead_code, reason = "documented here; clap exits with it itself")]
    Usage = 2,
    /// A model is missing or does not verify.
    Models = 3,
    /// Another writ process holds the index lock.
    Locked = 4,
    /// The index was built with another model, chunker or format.
    Mismatch = 5,
    /// There is no index yet.
    NotIndexed = 6,
    /// An input path does not exist.
    NoInput = 7,
    /// A rule file is refused, or a rule test failed.
    Rules = 8,
    /// `writ verify` found the ledger's chain broken or rewritten.
    Verify = 9,
    /// The proposal was recorded and held for review.
    Held = 10,
    /// The proposal was recorded as forbidden by a rule.
    Forbidden = 11,
    /// The proposal was recorded as refused (it failed validation).
    Refused = 12,
    /// Interrupted by Ctrl-C (the work done is kept).
    Interrupted = 130,
}

/// An error on its way out of `main`, with its exit code and a hint.
pub struct Failure {
    pub code: ExitCode,
    pub error: anyhow::Error,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(code: ExitCode, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code,
            error: error.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::new(ExitCode::Error, error)
    }
}

impl From<writ_index::IndexError> for Failure {
    fn from(e: writ_index::IndexError) -> Failure {
        use writ_index::IndexError as E;
        let code = match &e {
            E::Locked { .. } => ExitCode::Locked,
            E::Mismatch { .. } | E::Format { .. } => ExitCode::Mismatch,
            E::NotIndexed { .. } => ExitCode::NotIndexed,
            _ => ExitCode::Error,
        };
        Failure::new(code, e)
    }
}

/// Shorthand for command results.
pub type CmdResult = Result<ExitCode, Failure>;
