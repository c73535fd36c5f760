//! The service's one error type, and the kinds front ends map: the CLI to
//! exit codes, the server to HTTP statuses, MCP to tool errors, each in
//! one place.

use writ_gate::GateError;
use writ_index::IndexError;

/// What a front end needs to know to answer a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or out of bounds (the caller's to fix).
    BadInput,
    /// The named thing (proposal, chunk, file) does not exist.
    NotFound,
    /// Nothing has been recorded here yet (no ledger).
    NothingRecorded,
    /// There is no index yet.
    NotIndexed,
    /// Another writ process holds the index lock.
    Locked,
    /// The index was built with another model, chunker or format.
    Mismatch,
    /// A model is missing or does not verify.
    Models,
    /// The rule set does not load, or a rule test failed.
    Rules,
    /// The transition is not allowed now (recorded as refused).
    Conflict,
    /// The ledger does not verify.
    Tampered,
    /// Anything else: writ's fault or the machine's.
    Internal,
}

/// Why the service did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The gate refused or failed.
    #[error(transparent)]
    Gate(#[from] GateError),
    /// The index refused or failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The ask pipeline failed.
    #[error(transparent)]
    Ask(#[from] writ_ask::AskError),
    /// A model is missing or does not verify.
    #[error("{message}")]
    Models {
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// The request is malformed or out of bounds.
    #[error("{message}")]
    BadInput {
        /// What is wrong, naming the input.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// The named thing does not exist.
    #[error("{message}")]
    NotFound {
        /// What is missing.
        message: String,
        /// Where to look instead.
        hint: Option<String>,
    },
    /// The request no longer fits the state it was made against (a cursor
    /// from an index generation that has been replaced).
    #[error("{message}")]
    Conflict {
        /// What changed.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// The rule set is refused, or its tests failed.
    #[error("{0}")]
    Rules(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    /// A bad-input error naming the input.
    pub fn bad_input(message: impl Into<String>) -> ServiceError {
        ServiceError::BadInput {
            message: message.into(),
            hint: None,
        }
    }

    /// A bad-input error with a fix.
    pub fn bad_input_hint(message: impl Into<String>, hint: impl Into<String>) -> ServiceError {
        ServiceError::BadInput {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// A not-found error naming the thing.
    pub fn not_found(message: impl Into<String>) -> ServiceError {
        ServiceError::NotFound {
            message: message.into(),
            hint: None,
        }
    }

    /// The kind of failure, for front ends to map.
    pub fn kind(&self) -> ErrorKind {
        use writ_gate::LedgerError as L;
        match self {
            ServiceError::Gate(e) | ServiceError::Ask(writ_ask::AskError::Gate(e)) => match e {
                GateError::NoLedger(_) => ErrorKind::NothingRecorded,
                GateError::Rules(_) => ErrorKind::Rules,
                GateError::Broken(_) | GateError::Ledger(L::Tampered(_)) => ErrorKind::Tampered,
                GateError::Ledger(L::Unknown(_)) => ErrorKind::NotFound,
                GateError::Ledger(L::Refused { .. }) => ErrorKind::Conflict,
                GateError::Invalid(_) => ErrorKind::BadInput,
                _ => ErrorKind::Internal,
            },
            ServiceError::Index(e) => match e {
                IndexError::Locked { .. } => ErrorKind::Locked,
                IndexError::Mismatch { .. } | IndexError::Format { .. } => ErrorKind::Mismatch,
                IndexError::NotIndexed { .. } => ErrorKind::NotIndexed,
                // A `paths` glob that does not parse is the caller's to fix.
                IndexError::Glob { .. } => ErrorKind::BadInput,
                // The model failed to embed (an embedding server that went
                // away or answered out of shape): what was finished is kept.
                IndexError::Embed(_) => ErrorKind::Models,
                _ => ErrorKind::Internal,
            },
            ServiceError::Ask(writ_ask::AskError::PromptTooLong { .. }) => ErrorKind::BadInput,
            ServiceError::Ask(writ_ask::AskError::Model(_)) => ErrorKind::Internal,
            ServiceError::Models { .. } => ErrorKind::Models,
            ServiceError::BadInput { .. } => ErrorKind::BadInput,
            ServiceError::NotFound { .. } => ErrorKind::NotFound,
            ServiceError::Rules(_) => ErrorKind::Rules,
            ServiceError::Conflict { .. } => ErrorKind::Conflict,
            ServiceError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// What the user can do about it, when writ knows.
    pub fn hint(&self) -> Option<String> {
        match self {
            ServiceError::Gate(e) => e.hint().map(String::from),
            ServiceError::Ask(e) => e.hint(),
            ServiceError::Models { hint, .. } => Some(hint.clone()),
            ServiceError::BadInput { hint, .. }
            | ServiceError::NotFound { hint, .. }
            | ServiceError::Conflict { hint, .. } => hint.clone(),
            _ => None,
        }
    }
}
