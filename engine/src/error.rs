//! The library's error type: one enum that wraps each stage's errors, so callers can match on
//! the stage and binaries can print a message that says what to do.
//!
//! It sits below every stage and names none of them: configuration errors come from
//! [`crate::config`] (below it), and a stage with an error type of its own (`IngestError`,
//! `VectorError`) converts it into [`Error`] where it is defined.

use std::path::PathBuf;

/// Errors of the shirabe library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A piece that `make setup` builds is missing or broken.
    #[error("{what} is missing or unusable at {path}: {reason}\n  fix: run `make setup` (or set the path in shirabe.toml)")]
    Setup { what: &'static str, path: PathBuf, reason: String },
    #[error("tokenizer error: {0}")]
    Analysis(String),
    #[error("embedding failed: {0}")]
    Embedding(String),
    #[error("keyword index error: {0}")]
    Keyword(#[from] tantivy::TantivyError),
    /// A vector store failure, kept whole: `downcast_ref::<index::vector::VectorError>()` gives
    /// it back. The stage converts its own error (`From` in `index::vector`), so that this type,
    /// which every stage imports, imports no stage.
    #[error(transparent)]
    Vector(Box<dyn std::error::Error + Send + Sync>),
    /// A file that could not be read, kept whole (an `ingest::IngestError`; converted in `ingest`).
    #[error(transparent)]
    Ingest(Box<dyn std::error::Error + Send + Sync>),
    #[error("index error: {0}")]
    Index(String),
    /// The learned answer model's file is unreadable or was trained for other features.
    #[error("answer model: {0}")]
    AnswerModel(String),
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The audit log cannot be written safely (another writer, a cut tail).
    #[error("audit log: {0}")]
    Audit(String),
    #[error("{context}: {source}")]
    Io { context: String, #[source] source: std::io::Error },
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }
}
