//! The typed service every front end calls. The CLI, the HTTP server and
//! MCP are thin crates over it: they parse their input into the request
//! types here, call one function, and map [`ServiceError::kind`] to their
//! own vocabulary (exit codes, HTTP statuses, tool errors) in one place
//! each.
//!
//! It owns where a repository's things live ([`Places`]), which models to
//! load ([`models`]), search ([`search`]), the long-lived [`Service`] of
//! `writ serve` and `writ mcp`, and the typed [`views`] of the ledger.
//! Writes go through `writ-gate` only; nothing here prints or reads the
//! current folder.

pub mod bounds;
mod error;
pub mod models;
mod places;
pub mod search;
mod service;
pub mod views;

pub use error::{ErrorKind, ServiceError};
pub use models::ModelChoice;
pub use places::{existing, find_repo, index_dir, key_dir, require_index, Places};
pub use search::{SearchHit, SearchRequest, SearchResponse};
pub use service::{AskRequest, GeneratorLoader, Service};
