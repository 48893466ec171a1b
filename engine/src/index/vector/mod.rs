//! The vector store: one dense 384-d vector per passage plus the payload that retrieval filters on
//! (document type, issuer, issue date, clearance level, access groups, document id).
//!
//! It owns the point identity (a passage id always maps to the same point, so re-indexing is an
//! idempotent upsert), the payload schema and its indexes, and the translation of a [`VectorFilter`]
//! into an engine filter. There are two backends behind one [`VectorStore`] trait, checked by one
//! shared conformance suite (`conformance`, compiled for the tests only): [`EmbeddedStore`] runs
//! Qdrant's engine in-process (`qdrant-edge`, a directory on disk, nothing to operate) for
//! single-node deployments, and
//! [`ServerStore`] talks to a Qdrant server or cluster over gRPC when the corpus or the query load
//! outgrows one machine. Filters run *inside* the engine, before top-k, because access control
//! (`max_level`, `groups`) must never depend on how many invisible passages happen to score higher:
//! trimming a top-k list afterwards would both leak timing and return too few (often zero) hits.
//!
//! Both backends are blocking. [`ServerStore`] drives its own small tokio runtime, so async callers
//! should call the store from `tokio::task::spawn_blocking`, as they would for tantivy.

#[cfg(test)]
pub(crate) mod conformance;
pub mod edge;
#[cfg(feature = "qdrant-server")]
pub mod server;
mod store;

pub use edge::EmbeddedStore;
#[cfg(feature = "qdrant-server")]
pub use server::{CollectionLayout, ServerStore};
pub use store::{
    ForPassage, PassagePayload, VectorError, VectorFilter, VectorHit, VectorPoint, VectorStore, CONFIG_KEY_QDRANT_API_KEY,
    CONFIG_KEY_QDRANT_COLLECTION, CONFIG_KEY_QDRANT_URL, DIM,
};
#[cfg(test)]
pub(crate) use store::INDEXED_FIELDS;
