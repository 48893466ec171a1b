//! Building a generation: [`GenerationBuilder::begin`] starts from a copy of the served
//! generation (tantivy's immutable segments hard-linked, the vector store copied), `add` and
//! `remove` change the copy, `commit` makes both stores durable, and `publish` writes the
//! manifest, syncs the directory and switches `CURRENT` with an atomic rename. The served
//! generation is never written, so a crash at any point leaves it intact; the next `begin`
//! deletes the unfinished copy and starts again from the same state.
//!
//! A Qdrant server collection is not copied: every generation shares it, and query nodes may be
//! serving the published generation from it while the indexer builds the next. Points of new
//! documents are harmless there (a vector hit counts only if the served keyword generation has
//! the passage), but deleting points would take removed documents off the vector side of the
//! generation still served. So with the server backend `remove` only notes the documents, and
//! `publish` deletes their points once `CURRENT` names the new generation. A crash in between
//! leaves those points as orphans that no generation returns.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use super::generation::{copy_tree, failpoint, open_vectors, sync_dir, IndexDir, State, STATE};
use super::write::{payload, write_documents_timed, WriteTimes};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::index::embed::Embedder;
use crate::index::keyword::{KeywordIndex, KeywordWriter};
use crate::index::vector::{VectorPoint, VectorStore};
use crate::model::{Document, Passage};
use crate::text::analysis::Analyzers;

/// A generation being built; see the module documentation.
pub struct GenerationBuilder {
    index_dir: IndexDir,
    id: u64,
    dir: PathBuf,
    keyword: KeywordIndex,
    /// `None` once committed.
    writer: Option<KeywordWriter>,
    vectors: Box<dyn VectorStore>,
    /// The vector store is shared with the served generation (the server backend): removals wait
    /// for `publish`.
    shared_vectors: bool,
    /// Documents removed whose points `publish` deletes (shared store only).
    deferred_removals: std::collections::BTreeSet<String>,
    /// Seconds spent in each store so far (the commit counts to the keyword side).
    pub times: WriteTimes,
}

impl GenerationBuilder {
    /// Starts the next generation of `index_dir` as a copy of the served one (empty when none is
    /// served), after deleting any generation a crashed run left unfinished.
    pub fn begin(index_dir: &IndexDir, config: &Config, analyzers: &Analyzers) -> Result<GenerationBuilder> {
        let current = index_dir.current();
        let generations = index_dir.generations();
        let id = generations.last().copied().unwrap_or(0).max(current.unwrap_or(0)) + 1;
        for &g in &generations {
            if Some(g) != current && g > current.unwrap_or(0) {
                let _ = fs::remove_dir_all(index_dir.generation_dir(g));
            }
        }
        let dir = index_dir.generation_dir(id);
        if let Some(served) = current {
            let from = index_dir.generation_dir(served);
            copy_tree(&from.join("keyword"), &dir.join("keyword"), true)?;
            if from.join("vectors").exists() {
                copy_tree(&from.join("vectors"), &dir.join("vectors"), false)?;
            }
        }
        fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let keyword = KeywordIndex::open_or_create(&dir.join("keyword"), analyzers)?;
        let vectors = open_vectors(&dir, config)?;
        let writer = Some(keyword.writer()?);
        let shared_vectors = config.vector.backend == crate::config::VectorBackend::Qdrant;
        Ok(GenerationBuilder {
            index_dir: index_dir.clone(),
            id,
            dir,
            keyword,
            writer,
            vectors,
            shared_vectors,
            deferred_removals: Default::default(),
            times: WriteTimes::default(),
        })
    }

    /// The number the generation will be published under.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The keyword writer; only [`GenerationBuilder::commit`] takes it. A function of the field
    /// alone, so that callers can borrow the vector store beside it.
    fn writer(writer: &mut Option<KeywordWriter>) -> Result<&mut KeywordWriter> {
        writer.as_mut().ok_or_else(|| Error::Index("the generation was already committed".into()))
    }

    /// Writes documents to both stores, replacing any passages the same ids already have (so
    /// that a run repeating a failed one never duplicates them). Returns the passages written.
    pub fn add(&mut self, embedder: &Embedder, docs: &[(Document, Vec<Passage>)]) -> Result<usize> {
        let writer = Self::writer(&mut self.writer)?;
        for (doc, _) in docs {
            writer.delete_document(&doc.id);
            self.vectors.delete_documents(std::slice::from_ref(&doc.id))?;
            // Removed and added again in one run (an identical file elsewhere): keep its points.
            self.deferred_removals.remove(&doc.id);
        }
        write_documents_timed(writer, self.vectors.as_ref(), embedder, docs, &mut self.times)
    }

    /// Writes new documents whose passage vectors the caller already has, one per passage in
    /// order (the benchmark's replicated corpus). Unlike [`GenerationBuilder::add`] it does not
    /// look for earlier passages of the same ids: it is for documents new to the generation.
    pub fn add_embedded(&mut self, docs: &[(Document, Vec<Passage>)], vectors: Vec<Vec<f32>>) -> Result<usize> {
        let count: usize = docs.iter().map(|(_, p)| p.len()).sum();
        if vectors.len() != count {
            return Err(Error::Embedding(format!("{} vectors for {count} passages", vectors.len())));
        }
        let t = Instant::now();
        let writer = Self::writer(&mut self.writer)?;
        for (doc, passages) in docs {
            writer.add(doc, passages)?;
        }
        self.times.keyword += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let points: Vec<VectorPoint> = docs
            .iter()
            .flat_map(|(doc, passages)| passages.iter().map(move |p| payload(doc, p)))
            .zip(vectors)
            .map(|(payload, vector)| VectorPoint { payload, vector })
            .collect();
        self.vectors.upsert(&points)?;
        self.times.vector_upsert += t.elapsed().as_secs_f64();
        Ok(count)
    }

    /// Removes documents (all their passages) from both stores.
    pub fn remove(&mut self, doc_ids: &[String]) -> Result<()> {
        let writer = Self::writer(&mut self.writer)?;
        for id in doc_ids {
            writer.delete_document(id);
        }
        if self.shared_vectors {
            self.deferred_removals.extend(doc_ids.iter().cloned());
        } else if !doc_ids.is_empty() {
            self.vectors.delete_documents(doc_ids)?;
        }
        Ok(())
    }

    /// Commits the keyword index (tantivy analyses and writes on its own threads; the commit
    /// waits for them, so its time counts to the keyword side) and flushes and optimises the
    /// vector store. Returns the seconds the vector store's optimisation took.
    pub fn commit(&mut self) -> Result<f64> {
        let t = Instant::now();
        if let Some(writer) = self.writer.take() {
            writer.commit()?;
        }
        self.times.keyword += t.elapsed().as_secs_f64();
        let t = Instant::now();
        self.vectors.flush()?;
        self.vectors.optimize()?;
        self.vectors.flush()?;
        Ok(t.elapsed().as_secs_f64())
    }

    /// Commits if that is still to do, writes `state` as the generation's manifest, makes the
    /// directory durable and publishes it; then deletes the points of removed documents from a
    /// shared store, and generations older than the `keep` newest before it (services may still
    /// read those). Returns the published id.
    pub fn publish(mut self, state: &State, keep: usize) -> Result<u64> {
        if self.writer.is_some() {
            self.commit()?;
        }
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| Error::Index(e.to_string()))?;
        let mut f = fs::File::create(self.dir.join(STATE)).map_err(|e| Error::io("writing state.json", e))?;
        f.write_all(&bytes).map_err(|e| Error::io("writing state.json", e))?;
        f.sync_all().map_err(|e| Error::io("syncing state.json", e))?;
        let GenerationBuilder { index_dir, id, dir, keyword, vectors, shared_vectors, deferred_removals, .. } = self;
        // The embedded store lives in the generation directory and must be closed before it is
        // published; a shared one is still needed for the deferred removals.
        let vectors = if shared_vectors {
            Some(vectors)
        } else {
            drop(vectors);
            None
        };
        drop(keyword);
        sync_dir(&dir)?;
        failpoint("before-publish");
        index_dir.publish(id)?;
        if let Some(store) = vectors {
            let ids: Vec<String> = deferred_removals.into_iter().collect();
            if !ids.is_empty() {
                // Published already: a failure here leaves orphan points, which no generation returns.
                if let Err(e) = store.delete_documents(&ids) {
                    tracing::warn!(documents = ids.len(), error = %e, "removed documents' vectors stay in the shared collection as orphans");
                }
            }
        }
        let older: Vec<u64> = index_dir.generations().into_iter().filter(|g| *g < id).collect();
        if older.len() > keep {
            for old in &older[..older.len() - keep] {
                let _ = fs::remove_dir_all(index_dir.generation_dir(*old));
            }
        }
        Ok(id)
    }
}
