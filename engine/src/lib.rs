//! shirabe-engine: the engine of shirabe (調べ), on-premises retrieval-augmented search for Japanese
//! administrative documents — everything from files to grounded answers, with no HTTP in it.
//! The service (`shirabe`, the root package), the nightly indexer and the benchmarks are built on
//! it; ARCHITECTURE.md says which crate may depend on which.
//!
//! The library is laid out along the pipeline, one folder per stage, each importing only the
//! stages below it (`tests/layering.rs` checks it, in the order ARCHITECTURE.md gives):
//!
//! | module | owns |
//! |---|---|
//! | [`model`] | the domain types shared by every stage: documents, passages, access labels |
//! | [`config`] | the one TOML file plus `SHIRABE_*` environment overrides, and every default |
//! | [`error`] | the library's error type |
//! | [`text`] | Japanese text: normalisation (NFKC, CJK whitespace, 旧字体, 和暦) and the tokenisers |
//! | [`ingest`] | files (PDF, HTML/Markdown/text, e-Gov law XML, minutes) → documents; labels, markings |
//! | [`govern`] | beside the pipeline: callers and their rights, the audit log, which rule is in force |
//! | [`index`] | passages, embeddings, the tantivy index, the vector store, and index generations |
//! | [`retrieve`] | query expansion and hybrid retrieval under the caller's filter |
//! | [`answer`] | extractive answers, the optional generator, and the question → answer path |
//! | [`precedent`] | past exchanges for a parliamentary question, and a reply's outline from their answers |
//! | [`engine`] | the loaded models and configuration, and the query paths every front end calls |
//! | [`eval`] | the retrieval and answer evaluation harnesses (Recall/MRR/nDCG@10, abstention) |

pub mod model;
pub mod config;
pub mod error;
pub mod text;
pub mod ingest;
pub mod govern;
pub mod index;
pub mod retrieve;
pub mod answer;
pub mod precedent;
pub mod engine;
pub mod eval;

pub use config::Config;
pub use error::{Error, Result};
