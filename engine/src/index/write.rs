//! Documents into both stores: document ids (from the content hash and, for labelled copies,
//! the label), the text a passage is embedded as, its vector payload, and writing a batch of
//! documents' passages to the keyword index and the vector store. The nightly run, the evaluation
//! harness and the benchmark corpus all write through these functions.

use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::index::embed::Embedder;
use crate::index::keyword::days;
use crate::index::vector::{PassagePayload, VectorPoint, VectorStore};
use crate::ingest::ExtractedDocument;
use crate::model::{Access, Document, Passage};

/// Derives a document id from the file's content hash and its key inside the file.
pub fn document_id(content_hash: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(content_hash.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// The id of a document read from a labelled file: the content, the key inside the file and the
/// access label. Identical bytes under two labels (a public circular copied into a 機密性3 folder)
/// are two documents, each with its own label: were they one, the copy would share the public
/// document's label, and that document would stay public after the public file was deleted.
pub fn labelled_document_id(content_hash: &str, key: &str, access: &Access) -> String {
    let label = format!("{}\u{1f}{}", access.level, access.groups.join("\u{1f}"));
    document_id(&format!("{content_hash}\u{1e}{label}"), key)
}

/// The text given to the embedder for a passage: title and anchor give E5 the context that a
/// passage cut out of a long document lacks.
pub fn embedding_text(doc: &Document, passage: &Passage) -> String {
    match &passage.anchor {
        Some(anchor) => format!("{} {}\n{}", doc.title, anchor, passage.text),
        None => format!("{}\n{}", doc.title, passage.text),
    }
}

/// The vector payload of a passage.
pub fn payload(doc: &Document, passage: &Passage) -> PassagePayload {
    PassagePayload {
        passage_id: passage.id.clone(),
        doc_id: doc.id.clone(),
        doc_type: doc.doc_type.as_str().to_string(),
        issuer: doc.issuer.clone(),
        issued: doc.issued.map(days),
        level: doc.access.level,
        groups: doc.access.groups.clone(),
    }
}

/// Turns an extracted document into a [`Document`] and its passages.
pub fn build_document(
    extracted: &ExtractedDocument,
    content_hash: &str,
    source_path: &str,
    access: &Access,
    passage_chars: usize,
) -> (Document, Vec<Passage>) {
    build_document_with_id(labelled_document_id(content_hash, &extracted.key, access), extracted, content_hash, source_path, access, passage_chars)
}

/// [`build_document`] for a document whose id is given rather than derived from its content
/// (evaluation sets and benchmark corpora carry their own ids).
pub fn build_document_with_id(
    id: String,
    extracted: &ExtractedDocument,
    content_hash: &str,
    source_path: &str,
    access: &Access,
    passage_chars: usize,
) -> (Document, Vec<Passage>) {
    let life = crate::govern::validity::read(extracted.doc_type, &extracted.sections, extracted.issued);
    let document = Document {
        id: id.clone(),
        title: extracted.title.clone(),
        doc_type: extracted.doc_type,
        issuer: extracted.issuer.clone(),
        issued: extracted.issued,
        number: extracted.number.clone(),
        source_path: source_path.to_string(),
        content_hash: content_hash.to_string(),
        access: access.clone(),
        effective: life.effective,
        references: life.references,
        amended_by_laws: life.amended_by_laws,
        exchange: extracted.exchange.clone(),
    };
    let passages = crate::index::chunk::chunk(&id, extracted, passage_chars);
    (document, passages)
}

/// Seconds spent in each store while writing documents.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteTimes {
    pub keyword: f64,
    pub embedding: f64,
    pub vector_upsert: f64,
}

/// Adds documents to both stores: keyword passages and embedded vectors. Returns the number of
/// passages written.
pub fn write_documents(
    keyword: &mut crate::index::keyword::KeywordWriter,
    vectors: &dyn VectorStore,
    embedder: &Embedder,
    docs: &[(Document, Vec<Passage>)],
) -> Result<usize> {
    write_documents_timed(keyword, vectors, embedder, docs, &mut WriteTimes::default())
}

/// [`write_documents`], adding the time spent in each store to `times`.
pub fn write_documents_timed(
    keyword: &mut crate::index::keyword::KeywordWriter,
    vectors: &dyn VectorStore,
    embedder: &Embedder,
    docs: &[(Document, Vec<Passage>)],
    times: &mut WriteTimes,
) -> Result<usize> {
    let t = Instant::now();
    for (doc, passages) in docs {
        keyword.add(doc, passages)?;
    }
    times.keyword += t.elapsed().as_secs_f64();
    // Passages of several documents share an embedding batch (a file of minutes holds hundreds of
    // short documents), and a text that occurs twice in a batch is embedded once. Batches stay
    // bounded: the texts and vectors of a long document are never all in memory at once.
    let all: Vec<(&Document, &Passage)> = docs.iter().flat_map(|(doc, passages)| passages.iter().map(move |p| (doc, p))).collect();
    for batch in all.chunks(WRITE_BATCH_PASSAGES) {
        let t = Instant::now();
        let mut unique: Vec<String> = Vec::new();
        let mut slot_of: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let slots: Vec<usize> = batch
            .iter()
            .map(|(doc, p)| {
                let text = embedding_text(doc, p);
                *slot_of.entry(text.clone()).or_insert_with(|| {
                    unique.push(text);
                    unique.len() - 1
                })
            })
            .collect();
        let vecs = embedder.embed_passages(&unique)?;
        if vecs.len() != unique.len() {
            return Err(Error::Embedding(format!("{} vectors for {} texts", vecs.len(), unique.len())));
        }
        times.embedding += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let points: Vec<VectorPoint> = batch
            .iter()
            .zip(&slots)
            .map(|((doc, p), &slot)| VectorPoint { payload: payload(doc, p), vector: vecs[slot].clone() })
            .collect();
        vectors.upsert(&points)?;
        times.vector_upsert += t.elapsed().as_secs_f64();
    }
    Ok(all.len())
}

/// Passages embedded and written to both stores at a time.
const WRITE_BATCH_PASSAGES: usize = 256;
