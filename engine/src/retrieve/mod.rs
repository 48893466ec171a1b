//! Retrieval: from a question to a ranked, access-filtered list of passages and documents.
//!
//! [`query`] expands the question (和暦 ↔ 西暦 years, the synonym and plain-word list, cited
//! articles); [`search`] runs the keyword index and the vector store under the caller's filter,
//! fuses the two rankings ([`fusion`]), groups passages by document and ranks the rule in force first. Both
//! read the indexes built by [`crate::index`] and nothing above them.

pub mod fusion;
pub mod query;
pub mod search;
