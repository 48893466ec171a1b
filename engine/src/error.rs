//! The library's error type: one enum that wraps each stage's errors, so callers can match on
//! the stage and binaries can print a message that says what to do.

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
    #[error(transparent)]
    Vector(#[from] crate::vector::VectorError),
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    #[error("index error: {0}")]
    Index(String),
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
