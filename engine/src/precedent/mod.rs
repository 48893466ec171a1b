//! Precedents for a parliamentary question (答弁の前例): how the same question was answered before.
//!
//! Minutes are ingested as exchanges (see [`crate::ingest`]: a member's question and the answers
//! that followed it, one document each, with an [`crate::model::Exchange`] record). [`rank`] finds
//! the exchanges whose past question is closest to a new one, through the same hybrid retrieval
//! and access filter as search, scoring an exchange by its question passages first and its answer
//! passages second, and groups near-identical answers repeated over the years (newest first).
//! [`outline`] draws a reply's skeleton (答弁案の骨子) from the top exchanges: the answer sentences
//! that address the question, verbatim and each cited to speaker, date and meeting, newest first,
//! with the laws those answers cite resolved to their articles in the index; or it says that no
//! precedent is close enough. The service, `shirabe eval-precedents` and the benchmarks call them
//! through [`crate::engine::Engine::precedents`].

pub mod outline;
pub mod rank;
