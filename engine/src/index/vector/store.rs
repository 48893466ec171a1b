//! The interface both backends implement: the [`VectorStore`] trait, the point and payload types,
//! the filter, the errors, and the pieces both backends must agree on (point ids derived from
//! passage ids, the payload fields and their indexes, input checks). Kept apart from the backends
//! so that each of them imports this file and nothing else of the other.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Dimension of every stored and queried vector (multilingual E5-small).
pub const DIM: usize = 384;

/// Config key naming the Qdrant server URL, quoted in error messages.
pub const CONFIG_KEY_QDRANT_URL: &str = "vector.qdrant_url";
/// Config key naming the Qdrant collection, quoted in error messages.
pub const CONFIG_KEY_QDRANT_COLLECTION: &str = "vector.qdrant_collection";
/// Config key naming the Qdrant API key, quoted in error messages.
pub const CONFIG_KEY_QDRANT_API_KEY: &str = "vector.qdrant_api_key";

/// What is stored next to each vector. Field names are the payload keys in the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassagePayload {
    pub passage_id: String,
    pub doc_id: String,
    pub doc_type: String,
    pub issuer: Option<String>,
    /// Issue date in days since 1970-01-01.
    pub issued: Option<i64>,
    /// Clearance level needed to see the passage, 1..=3.
    pub level: u8,
    /// Access groups; empty means no group restriction.
    pub groups: Vec<String>,
}

/// A passage vector and its payload, as handed to [`VectorStore::upsert`].
#[derive(Debug, Clone)]
pub struct VectorPoint {
    pub payload: PassagePayload,
    pub vector: Vec<f32>,
}

/// Filters applied INSIDE the engine, before top-k (never by trimming results afterwards).
///
/// All conditions are combined with AND. `Default` is deliberately the most restrictive filter for
/// access control: `max_level: 0` sees nothing, so a caller must state its clearance.
#[derive(Debug, Clone, Default)]
pub struct VectorFilter {
    /// Passage `doc_type` is one of these; empty = any.
    pub doc_types: Vec<String>,
    /// Passage `issuer` is one of these; empty = any. Passages without an issuer never match a
    /// non-empty list.
    pub issuers: Vec<String>,
    /// Inclusive lower bound on `issued` (days). Passages without a date never match a bound.
    pub issued_from: Option<i64>,
    /// Inclusive upper bound on `issued` (days).
    pub issued_to: Option<i64>,
    /// Caller clearance; passages with `level > max_level` are invisible.
    pub max_level: u8,
    /// Caller's groups: a passage is visible if its groups are empty OR intersect these.
    pub groups: Vec<String>,
    /// Restrict to these documents; `None` = all, `Some(vec![])` = none.
    pub doc_ids: Option<Vec<String>>,
}

/// One search result, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorHit {
    pub passage_id: String,
    pub doc_id: String,
    /// Cosine similarity, in -1.0..=1.0.
    pub score: f32,
}

/// Everything that can go wrong in the vector store, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// The embedded store directory is missing, unreadable or not a vector store.
    #[error("cannot open the vector store at {path}: {reason}; run shirabe-indexer to build it")]
    Open { path: String, reason: String },
    /// Another process holds the embedded store open.
    #[error(
        "the vector store at {path} is already open in another process ({reason}); \
         only one process may open an embedded vector store at a time: stop the other \
         shirabe/shirabe-indexer process, or use the Qdrant server backend (vector.backend = \"qdrant\")"
    )]
    Locked { path: String, reason: String },
    /// A vector (stored or queried) does not have [`DIM`] components.
    #[error("wrong vector dimension{context}: got {got}, expected {expected} (the embedding model and the vector store disagree)")]
    WrongDimension {
        expected: usize,
        got: usize,
        context: ForPassage,
    },
    /// A vector with NaN/infinite components or zero length (cosine is undefined).
    #[error("invalid vector{context}: {reason}")]
    InvalidVector { reason: String, context: ForPassage },
    /// A payload that violates the schema (empty ids, level outside 1..=3).
    #[error("invalid payload for passage {passage_id:?}: {reason}")]
    InvalidPayload { passage_id: String, reason: String },
    /// The existing store/collection was created with other vector parameters.
    #[error("the vector store {location} is incompatible: {reason}")]
    Incompatible { location: String, reason: String },
    /// The Qdrant server cannot be reached.
    #[error(
        "cannot reach the Qdrant server at {url} (config key `{config_key}`): {reason}; \
         check that Qdrant is running and that the URL points at its gRPC port (usually 6334)"
    )]
    Unreachable {
        url: String,
        config_key: &'static str,
        reason: String,
    },
    /// The Qdrant server answered with an error.
    #[error("Qdrant server at {url}, collection `{collection}`: {operation} failed: {reason}")]
    Server {
        url: String,
        collection: String,
        operation: &'static str,
        reason: String,
    },
    /// The embedded engine reported an error.
    #[error("vector store at {path}: {operation} failed: {reason}")]
    Engine {
        path: String,
        operation: &'static str,
        reason: String,
    },
    /// File-system error on the embedded store's own files (lock, journal).
    #[error("vector store file {path}: {operation} failed: {source}")]
    Io {
        path: String,
        operation: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The recovery journal is damaged in a way that cannot be a torn final write.
    #[error("vector store journal {path} is corrupt: {reason}")]
    Journal { path: String, reason: String },
}

/// Optional " for passage X" context in an error message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForPassage(pub Option<String>);

impl From<VectorError> for crate::error::Error {
    fn from(e: VectorError) -> Self {
        crate::error::Error::Vector(Box::new(e))
    }
}

impl fmt::Display for ForPassage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(id) => write!(f, " for passage {id:?}"),
            None => write!(f, " in the query"),
        }
    }
}

/// A store of passage vectors. Implementations are blocking and safe to share between threads.
pub trait VectorStore: Send + Sync {
    /// Insert or replace points. Idempotent: the same `passage_id` always maps to the same point, so
    /// re-upserting replaces vector and payload. Within one call, the last point with a given
    /// `passage_id` wins.
    fn upsert(&self, points: &[VectorPoint]) -> Result<(), VectorError>;
    /// Remove every point of these documents. Unknown ids are ignored.
    fn delete_documents(&self, doc_ids: &[String]) -> Result<(), VectorError>;
    /// Cosine search, best first, with `filter` applied inside the engine before top-k.
    fn search(
        &self,
        query: &[f32],
        filter: &VectorFilter,
        limit: usize,
    ) -> Result<Vec<VectorHit>, VectorError>;
    /// Exact number of stored points.
    fn count(&self) -> Result<u64, VectorError>;
    /// Passage ids stored for one document (order unspecified); for tests and consistency checks.
    fn passage_ids_of(&self, doc_id: &str) -> Result<Vec<String>, VectorError>;
    /// Build the HNSW graph and merge segments; call once at the end of an indexer run.
    fn optimize(&self) -> Result<(), VectorError>;
    /// Make everything written so far durable.
    fn flush(&self) -> Result<(), VectorError>;
}

/// Payload keys, shared by both backends.
pub(crate) mod field {
    pub const PASSAGE_ID: &str = "passage_id";
    pub const DOC_ID: &str = "doc_id";
    pub const DOC_TYPE: &str = "doc_type";
    pub const ISSUER: &str = "issuer";
    pub const ISSUED: &str = "issued";
    pub const LEVEL: &str = "level";
    pub const GROUPS: &str = "groups";
}

/// Kind of payload index a filtered field gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexKind {
    Keyword,
    Integer,
}

/// Every field a [`VectorFilter`] can touch, with its index kind. Both backends index all of them.
pub(crate) const INDEXED_FIELDS: [(&str, IndexKind); 6] = [
    (field::DOC_ID, IndexKind::Keyword),
    (field::DOC_TYPE, IndexKind::Keyword),
    (field::ISSUER, IndexKind::Keyword),
    (field::GROUPS, IndexKind::Keyword),
    (field::ISSUED, IndexKind::Integer),
    (field::LEVEL, IndexKind::Integer),
];

/// Deterministic point id for a passage: the first 16 bytes of SHA-256(passage_id), shaped as an
/// RFC 9562 version-8 UUID so that both the edge engine and the server accept it.
pub(crate) fn point_uuid_bytes(passage_id: &str) -> [u8; 16] {
    let digest = Sha256::digest(passage_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8 (custom)
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC variant
    bytes
}

/// The hyphenated lowercase form of [`point_uuid_bytes`].
#[cfg_attr(not(feature = "qdrant-server"), allow(dead_code))] // used by the server backend
pub(crate) fn point_uuid_string(passage_id: &str) -> String {
    let b = point_uuid_bytes(passage_id);
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

/// Checks a vector's dimension and that cosine is defined for it.
pub(crate) fn validate_vector(vector: &[f32], passage_id: Option<&str>) -> Result<(), VectorError> {
    let context = ForPassage(passage_id.map(str::to_owned));
    if vector.len() != DIM {
        return Err(VectorError::WrongDimension {
            expected: DIM,
            got: vector.len(),
            context,
        });
    }
    if let Some(i) = vector.iter().position(|x| !x.is_finite()) {
        return Err(VectorError::InvalidVector {
            reason: format!("component {i} is not finite"),
            context,
        });
    }
    if vector.iter().all(|x| *x == 0.0) {
        return Err(VectorError::InvalidVector {
            reason: "all components are zero".into(),
            context,
        });
    }
    Ok(())
}

/// Validates a batch and drops earlier duplicates of a passage id (last one wins), so that neither
/// engine has to pick between two versions of one point in a single operation.
pub(crate) fn prepare_points(points: &[VectorPoint]) -> Result<Vec<&VectorPoint>, VectorError> {
    for p in points {
        let id = &p.payload.passage_id;
        if id.is_empty() {
            return Err(VectorError::InvalidPayload {
                passage_id: id.clone(),
                reason: "passage_id is empty".into(),
            });
        }
        if p.payload.doc_id.is_empty() {
            return Err(VectorError::InvalidPayload {
                passage_id: id.clone(),
                reason: "doc_id is empty".into(),
            });
        }
        if !(1..=3).contains(&p.payload.level) {
            return Err(VectorError::InvalidPayload {
                passage_id: id.clone(),
                reason: format!("level {} is outside 1..=3", p.payload.level),
            });
        }
        validate_vector(&p.vector, Some(id))?;
    }
    let mut seen = std::collections::HashSet::with_capacity(points.len());
    let mut out: Vec<&VectorPoint> = points
        .iter()
        .rev()
        .filter(|p| seen.insert(p.payload.passage_id.as_str()))
        .collect();
    out.reverse();
    Ok(out)
}

/// Checks a search request both stores accept: `Ok(false)` when the engine need not be asked
/// (no results wanted, or a filter that matches nothing).
pub(crate) fn search_needed(query: &[f32], filter: &VectorFilter, limit: usize) -> Result<bool, VectorError> {
    validate_vector(query, None)?;
    Ok(limit > 0 && !filter_is_unsatisfiable(filter))
}

/// True when the filter can match nothing, so the engine need not be asked.
pub(crate) fn filter_is_unsatisfiable(filter: &VectorFilter) -> bool {
    filter.max_level == 0
        || filter.doc_ids.as_ref().is_some_and(Vec::is_empty)
        || matches!((filter.issued_from, filter.issued_to), (Some(a), Some(b)) if a > b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_ids_are_deterministic_uuids() {
        let a = point_uuid_string("doc1#p0001");
        assert_eq!(a, point_uuid_string("doc1#p0001"));
        assert_ne!(a, point_uuid_string("doc1#p0002"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8", "version nibble");
        assert!(
            matches!(&a[19..20], "8" | "9" | "a" | "b"),
            "variant nibble"
        );
    }

    #[test]
    fn vectors_are_validated() {
        let mut v = vec![0.1f32; DIM];
        assert!(validate_vector(&v, None).is_ok());
        assert!(matches!(
            validate_vector(&v[..10], None),
            Err(VectorError::WrongDimension { got: 10, .. })
        ));
        v[3] = f32::NAN;
        let err = validate_vector(&v, Some("p"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("component 3") && err.contains("\"p\""),
            "{err}"
        );
        assert!(validate_vector(&[0.0; DIM], None).is_err());
    }

    #[test]
    fn duplicate_passages_in_one_batch_keep_the_last() {
        let mk = |id: &str, doc_type: &str| VectorPoint {
            payload: PassagePayload {
                passage_id: id.into(),
                doc_id: "d".into(),
                doc_type: doc_type.into(),
                issuer: None,
                issued: None,
                level: 1,
                groups: vec![],
            },
            vector: vec![1.0; DIM],
        };
        let pts = [mk("a", "x"), mk("b", "x"), mk("a", "y")];
        let out = prepare_points(&pts).unwrap_or_default();
        let got: Vec<(&str, &str)> = out
            .iter()
            .map(|p| (p.payload.passage_id.as_str(), p.payload.doc_type.as_str()))
            .collect();
        assert_eq!(got, vec![("b", "x"), ("a", "y")]);
        let mut bad = mk("c", "x");
        bad.payload.level = 4;
        assert!(matches!(
            prepare_points(&[bad]),
            Err(VectorError::InvalidPayload { .. })
        ));
    }
}
