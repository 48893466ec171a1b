//! Index generations and the indexing pipeline.
//!
//! The index directory holds numbered generations (`gen-000001`, …) and a file `CURRENT` naming
//! the one being served. A run never modifies the served generation: it copies it (tantivy's
//! immutable segment files are hard-linked, the vector store is copied), applies the night's
//! changes to the copy, makes it durable, and only then replaces `CURRENT` by an atomic rename.
//! A crash (even `kill -9`) at any point therefore leaves the previous generation intact and
//! served; the next run deletes the unfinished copy and starts again from the same state, so it
//! converges to what an uninterrupted run would have produced.
//!
//! Each generation also holds `state.json`: the manifest (source path → content hash, access
//! label, document ids) and the documents' metadata. Document ids are derived from the content
//! hash, so a moved file keeps its id and is not re-embedded; a changed file gets a new id and
//! its old passages are deleted from both stores.
//!
//! Labels fail closed here too: extraction reads a private copy of exactly the bytes the scan
//! hashed (never through a symbolic link), a document is indexed at the stricter of its file's
//! label and the marking in its text ([`crate::ingest::marking`]), and a file whose label changed
//! but whose content cannot be read or extracted loses its previous documents rather than keep
//! them under the old label.
//!
//! A run is three steps: scan the sources (hash, access label), [`plan`] against the served
//! generation's manifest (pure, unit-tested in `plan.rs`), and apply the plan to a
//! [`GenerationBuilder`] (`builder.rs`), which the evaluation harness and the benchmark corpus
//! use as well, so every index is built and published the same way.
//!
//! The files follow those steps: `generation.rs` (the directory, `CURRENT`, the manifest, the
//! lock), `run.rs` (scan, extract, report), `plan.rs`, `builder.rs` and `write.rs` (documents
//! into both stores); the stores themselves are [`keyword`] (tantivy) and [`vector`] (Qdrant),
//! fed by [`chunk`] (documents → passages) and [`embed`] (passages → vectors).

mod builder;
pub mod chunk;
pub mod embed;
mod generation;
pub mod keyword;
mod plan;
mod run;
pub mod vector;
mod write;

pub use builder::GenerationBuilder;
pub use plan::{plan, Plan, ScannedFile};
pub use generation::{FileEntry, Generation, IndexDir, RunLock, State};
pub use run::{hash_file, peak_rss_mib, run, run_locked, worker_peak_rss_mib, Failure, FileItem, MarkedDocument, RunOptions, RunReport, TruncatedFile};
pub use write::{build_document, build_document_with_id, document_id, embedding_text, labelled_document_id, payload, write_documents, write_documents_timed, WriteTimes};
