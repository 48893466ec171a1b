//! shirabe (調べ) — on-premises retrieval-augmented search for Japanese administrative documents.
//!
//! This crate is the service: the axum HTTP API and the officials' page ([`api`]), its Prometheus
//! metrics ([`metrics`]) and the `shirabe` command line. Everything else — ingestion, analysis,
//! the two indexes, fusion, answering, access control and audit — is the engine crate
//! (`engine/`, `shirabe-engine`), re-exported here under the same paths (`shirabe::index`,
//! `shirabe::retrieve::search` …) so that the service and its tests read as one library. The engine has no
//! HTTP dependency of its own; handlers translate HTTP to engine calls and back.

pub use shirabe_engine::*;

pub mod api;
pub mod metrics;
