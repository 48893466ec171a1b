//! Governance beside the pipeline: who may see what, what was asked, and which rule is in force.
//!
//! [`access`] turns a caller (bearer token or SSO header) into the clearance and groups that every
//! search carries as a filter; [`audit`] is the append-only, keyed and hash-chained record of every
//! request; [`validity`] reads effective dates, abolitions and amendments so that retrieval and
//! answers prefer the rule in force. The indexing, retrieval and answer stages consult these
//! modules; these modules consult only the shared types, the text helpers and ingest's sections,
//! never a stage above them.

pub mod access;
pub mod audit;
pub mod validity;
