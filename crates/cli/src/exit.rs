//! Exit codes, documented in the README. A failure carries its code;
//! service failures get theirs in one place ([`code_of`]).

use writ_service::{ErrorKind, ServiceError};

/// writ's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitCode {
    /// Success.
    Ok = 0,
    /// Any other failure (I/O, a corrupt file…).
    Error = 1,
    /// Bad command-line usage (clap's own code).
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

/// The exit code of each kind of service failure: the one mapping from
/// the service's errors to the codes the README documents.
pub fn code_of(kind: ErrorKind) -> ExitCode {
    match kind {
        // Exit 2 stays clap's (the command line itself is malformed); an
        // input the command reads that does not fit is "any other error",
        // its message naming the input and the fix.
        ErrorKind::BadInput => ExitCode::Error,
        ErrorKind::NotFound => ExitCode::NoInput,
        ErrorKind::NothingRecorded | ErrorKind::NotIndexed => ExitCode::NotIndexed,
        ErrorKind::Locked => ExitCode::Locked,
        ErrorKind::Mismatch => ExitCode::Mismatch,
        ErrorKind::Models => ExitCode::Models,
        ErrorKind::Rules => ExitCode::Rules,
        ErrorKind::Tampered => ExitCode::Verify,
        ErrorKind::Conflict | ErrorKind::Internal => ExitCode::Error,
    }
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Failure {
        let hint = e.hint();
        let f = Failure::new(code_of(e.kind()), e);
        match hint {
            Some(h) => f.hint(h),
            None => f,
        }
    }
}

impl From<writ_index::IndexError> for Failure {
    fn from(e: writ_index::IndexError) -> Failure {
        ServiceError::from(e).into()
    }
}

impl From<writ_gate::GateError> for Failure {
    fn from(e: writ_gate::GateError) -> Failure {
        ServiceError::from(e).into()
    }
}

impl From<writ_ask::AskError> for Failure {
    fn from(e: writ_ask::AskError) -> Failure {
        ServiceError::from(e).into()
    }
}

impl From<writ_serve::ServeError> for Failure {
    fn from(e: writ_serve::ServeError) -> Failure {
        let hint = e.hint();
        let f = match e {
            writ_serve::ServeError::Service(s) => return s.into(),
            writ_serve::ServeError::NotLoopback(_) => Failure::new(ExitCode::Usage, e),
            other => Failure::new(ExitCode::Error, other),
        };
        match hint {
            Some(h) => f.hint(h),
            None => f,
        }
    }
}

/// The exit code that tells a script what happened to a proposal.
pub fn state_code(state: writ_gate::State) -> ExitCode {
    use writ_gate::State;
    match state {
        State::Held => ExitCode::Held,
        State::Forbidden => ExitCode::Forbidden,
        State::Refused => ExitCode::Refused,
        _ => ExitCode::Ok,
    }
}

/// Shorthand for command results.
pub type CmdResult = Result<ExitCode, Failure>;
