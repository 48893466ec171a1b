//! shirabe-engine: the engine of shirabe (調べ), on-premises retrieval-augmented search for Japanese
//! administrative documents — everything from files to grounded answers, with no HTTP in it.
//! The service (`shirabe`, the root package), the nightly indexer and the benchmarks are built on
//! it; ARCHITECTURE.md says which crate may depend on which.
//!
//! The library is laid out along the pipeline, one module per stage:
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | the one TOML file plus `SHIRABE_*` environment overrides |
//! | [`text`] | Japanese text normalisation (NFKC, CJK whitespace repair, 旧字体, 和暦 dates) |
//! | [`ingest`] | turning files (PDF, HTML/Markdown/text, e-Gov law XML, minutes JSONL) into documents |
//! | [`model`] | the domain types shared by every stage: documents, passages, access labels |
//! | [`chunk`] | cutting documents into passages with citations and offsets |
//! | [`analysis`] | tokenisers: lindera (IPADIC, Decompose) and character bigrams |
//! | [`embed`] | the multilingual E5 embedder over fastembed |
//! | [`keyword`] | the tantivy index and BM25 queries built from analyser tokens |
//! | [`vector`] | the vector store: embedded Qdrant engine or Qdrant server |
//! | [`query`] | query expansion: 和暦 ↔ 西暦 years and the synonym/abbreviation list |
//! | [`search`] | hybrid retrieval: both sides, filters, score fusion, snippets |
//! | [`validity`] | which rule is in force: effective dates, abolitions, amendments, `as_of` ranking |
//! | [`answer`] | extractive answers: verbatim, cited sentences, or an abstention |
//! | [`ask`] | the one path from a question to a grounded answer (API and evaluation) |
//! | [`engine`] | the loaded models and configuration, and the query paths every front end calls |
//! | [`access`] | callers, hashed bearer tokens, clearance and groups as a search filter |
//! | [`audit`] | the append-only, hash-chained audit log and its verifier |
//! | [`index`] | index generations, the manifest and the indexing pipeline |
//! | [`eval`] | the retrieval and answer evaluation harnesses (Recall/MRR/nDCG@10, abstention) |

pub mod access;
pub mod analysis;
pub mod answer;
pub mod ask;
pub mod audit;
pub mod chunk;
pub mod config;
pub mod embed;
pub mod engine;
pub mod error;
pub mod eval;
pub mod generate;
pub mod index;
pub mod ingest;
pub mod keyword;
pub mod model;
pub mod query;
pub mod search;
pub mod text;
pub mod validity;
pub mod vector;

pub use config::Config;
pub use error::{Error, Result};
