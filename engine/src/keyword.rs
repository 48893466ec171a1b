//! The keyword side: a tantivy index of passages with two analysed body fields (lindera and
//! character bigrams), analysed title fields, and the metadata fields that filters use.
//!
//! Queries are built from the analysers' own tokens as a disjunction of term queries (BM25 summed
//! across fields with per-field boosts), never through `QueryParser`, which turns a compound that
//! the tokenizer splits (交付手数料 → 交付/手数/料) into a phrase query and loses recall. Filters —
//! document type, issuer, date range and the access rule — are a required, zero-scored clause of
//! the same query, so they are applied inside the engine before top-k.

use std::ops::Bound;
use std::path::Path;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery, TermSetQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::analysis::{self, Analyzers};
use crate::error::{Error, Result};
use crate::model::{Document, Filter, Passage};

/// Group value stored for passages without a group restriction, so that the access rule
/// "groups intersect, or there are none" is one term-set query.
pub const OPEN_GROUP: &str = "*";

/// Field boosts of the keyword query. Measured with `shirabe eval` (see the README). The title
/// fields weigh as much as the body: an FAQ's title is the question residents ask, and a law
/// article's title names the law and the 条; doubling the earlier title boosts (0.5 / 0.3)
/// raised hybrid nDCG@10 on the FAQ set, lawqa and fixtures/eval and left JSQuAD unchanged.
#[derive(Debug, Clone, Copy)]
pub struct Boosts {
    pub body_ja: f32,
    pub body_bigram: f32,
    pub title_ja: f32,
    pub title_bigram: f32,
}

impl Default for Boosts {
    fn default() -> Self {
        Boosts { body_ja: 1.0, body_bigram: 0.6, title_ja: 1.0, title_bigram: 0.6 }
    }
}

/// The tantivy fields.
#[derive(Clone, Copy)]
struct Fields {
    passage_id: Field,
    doc_id: Field,
    ordinal: Field,
    text: Field,
    page: Field,
    anchor: Field,
    start: Field,
    end: Field,
    body_ja: Field,
    body_bigram: Field,
    title_ja: Field,
    title_bigram: Field,
    doc_type: Field,
    issuer: Field,
    issued: Field,
    level: Field,
    groups: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let analysed = |tokenizer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
    };
    let number = NumericOptions::default().set_indexed().set_fast().set_stored();
    let fields = Fields {
        passage_id: b.add_text_field("passage_id", STRING | STORED),
        doc_id: b.add_text_field("doc_id", STRING | STORED),
        ordinal: b.add_u64_field("ordinal", STORED),
        text: b.add_text_field("text", STORED),
        page: b.add_u64_field("page", STORED),
        anchor: b.add_text_field("anchor", STORED),
        start: b.add_u64_field("start", STORED),
        end: b.add_u64_field("end", STORED),
        body_ja: b.add_text_field("body_ja", analysed(analysis::JA)),
        body_bigram: b.add_text_field("body_bigram", analysed(analysis::BIGRAM)),
        title_ja: b.add_text_field("title_ja", analysed(analysis::JA)),
        title_bigram: b.add_text_field("title_bigram", analysed(analysis::BIGRAM)),
        doc_type: b.add_text_field("doc_type", STRING),
        issuer: b.add_text_field("issuer", STRING),
        issued: b.add_i64_field("issued", number.clone()),
        level: b.add_u64_field("level", number),
        groups: b.add_text_field("groups", STRING),
    };
    (b.build(), fields)
}

/// A keyword hit: one passage and its BM25 score.
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordHit {
    pub passage_id: String,
    pub doc_id: String,
    pub score: f32,
}

/// A query prepared once and run on both sides: the normalised text and its tokens.
#[derive(Debug, Clone)]
pub struct PreparedQuery {
    /// Normalised text (what the embedder sees).
    pub text: String,
    pub ja_tokens: Vec<String>,
    pub bigram_tokens: Vec<String>,
}

impl PreparedQuery {
    /// Analyses `text` (already expanded by the query normaliser) with both analysers.
    pub fn new(analyzers: &Analyzers, text: &str) -> PreparedQuery {
        let prepared = analysis::prepare(text);
        let mut ja_tokens = analyzers.ja_tokens(&prepared);
        let mut bigram_tokens = analyzers.bigram_tokens(&prepared);
        dedup(&mut ja_tokens);
        dedup(&mut bigram_tokens);
        PreparedQuery { text: crate::text::normalize::normalize(text), ja_tokens, bigram_tokens }
    }

    /// Whether the query has anything to search for.
    pub fn is_empty(&self) -> bool {
        self.ja_tokens.is_empty() && self.bigram_tokens.is_empty()
    }
}

fn dedup(tokens: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    tokens.retain(|t| seen.insert(t.clone()));
}

/// The tantivy passage index of one generation.
pub struct KeywordIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    pub boosts: Boosts,
}

impl KeywordIndex {
    /// Opens the index in `dir`, creating an empty one if the directory is empty.
    pub fn open_or_create(dir: &Path, analyzers: &Analyzers) -> Result<KeywordIndex> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| Error::Index(format!("cannot open {}: {e}", dir.display())))?;
        let index = Index::open_or_create(directory, schema)?;
        analyzers.register(&index);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(KeywordIndex { index, reader, fields, boosts: Boosts::default() })
    }

    /// An index in memory (evaluation and tests).
    pub fn in_memory(analyzers: &Analyzers) -> Result<KeywordIndex> {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        analyzers.register(&index);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(KeywordIndex { index, reader, fields, boosts: Boosts::default() })
    }

    /// A writer for a batch of changes; call [`KeywordWriter::commit`] to publish them.
    pub fn writer(&self) -> Result<KeywordWriter> {
        // One thread and a modest arena: the machine is small and embedding dominates indexing.
        let writer = self.index.writer_with_num_threads(1, 128 * 1024 * 1024)?;
        Ok(KeywordWriter { fields: self.fields, reader: self.reader.clone(), writer })
    }

    /// Number of passages visible to searches.
    pub fn num_passages(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Picks up the latest commit.
    pub fn reload(&self) -> Result<()> {
        Ok(self.reader.reload()?)
    }

    /// The zero-scored clause that enforces `filter` inside the engine.
    fn filter_query(&self, filter: &Filter) -> Box<dyn Query> {
        let f = &self.fields;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let terms = |field: Field, values: &[String]| -> Box<dyn Query> {
            Box::new(TermSetQuery::new(values.iter().map(|v| Term::from_field_text(field, v))))
        };
        // Access: level <= clearance, and groups intersect (or the passage has none).
        must.push((
            Occur::Must,
            Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_u64(f.level, 0)),
                Bound::Included(Term::from_field_u64(f.level, u64::from(filter.max_level))),
            )),
        ));
        let mut groups = filter.groups.clone();
        groups.push(OPEN_GROUP.to_string());
        must.push((Occur::Must, terms(f.groups, &groups)));
        if !filter.doc_types.is_empty() {
            must.push((Occur::Must, terms(f.doc_type, &filter.doc_types)));
        }
        if !filter.issuers.is_empty() {
            must.push((Occur::Must, terms(f.issuer, &filter.issuers)));
        }
        if filter.issued_from.is_some() || filter.issued_to.is_some() {
            let lower = filter.issued_from.map_or(Bound::Unbounded, |d| Bound::Included(Term::from_field_i64(f.issued, d)));
            let upper = filter.issued_to.map_or(Bound::Unbounded, |d| Bound::Included(Term::from_field_i64(f.issued, d)));
            must.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
        }
        if let Some(ids) = &filter.doc_ids {
            must.push((Occur::Must, terms(f.doc_id, ids)));
        }
        Box::new(ConstScoreQuery::new(Box::new(BooleanQuery::new(must)), 0.0))
    }

    /// BM25 search over the analysed fields, filtered inside the engine.
    pub fn search(&self, query: &PreparedQuery, filter: &Filter, limit: usize) -> Result<Vec<KeywordHit>> {
        if query.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let f = &self.fields;
        let b = self.boosts;
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut add = |field: Field, tokens: &[String], boost: f32| {
            if boost <= 0.0 {
                return;
            }
            for t in tokens {
                let q = TermQuery::new(Term::from_field_text(field, t), IndexRecordOption::WithFreqs);
                should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
            }
        };
        add(f.body_ja, &query.ja_tokens, b.body_ja);
        add(f.body_bigram, &query.bigram_tokens, b.body_bigram);
        add(f.title_ja, &query.ja_tokens, b.title_ja);
        add(f.title_bigram, &query.bigram_tokens, b.title_bigram);
        let text_query = BooleanQuery::new(should);
        let full = BooleanQuery::new(vec![
            (Occur::Must, Box::new(text_query) as Box<dyn Query>),
            (Occur::Must, self.filter_query(filter)),
        ]);
        let searcher = self.reader.searcher();
        let top = searcher.search(&full, &TopDocs::with_limit(limit).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            hits.push(KeywordHit {
                passage_id: text_of(&doc, f.passage_id),
                doc_id: text_of(&doc, f.doc_id),
                score,
            });
        }
        Ok(hits)
    }

    /// Fetches passages by id, keeping only those `filter` allows (the access rule is applied
    /// again here because vector hits and document views come through this path).
    pub fn passages(&self, ids: &[String], filter: &Filter) -> Result<Vec<Passage>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let f = &self.fields;
        let q = BooleanQuery::new(vec![
            (Occur::Must, Box::new(TermSetQuery::new(ids.iter().map(|id| Term::from_field_text(f.passage_id, id)))) as Box<dyn Query>),
            (Occur::Must, self.filter_query(filter)),
        ]);
        let searcher = self.reader.searcher();
        let top = searcher.search(&q, &TopDocs::with_limit(ids.len()).order_by_score())?;
        let mut by_id = std::collections::HashMap::new();
        for (_, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let p = self.passage_of(&doc);
            by_id.insert(p.id.clone(), p);
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// All passages of one document that `filter` allows, in order.
    pub fn document_passages(&self, doc_id: &str, filter: &Filter) -> Result<Vec<Passage>> {
        let f = &self.fields;
        let q = BooleanQuery::new(vec![
            (Occur::Must, Box::new(TermQuery::new(Term::from_field_text(f.doc_id, doc_id), IndexRecordOption::Basic)) as Box<dyn Query>),
            (Occur::Must, self.filter_query(filter)),
        ]);
        let searcher = self.reader.searcher();
        let top = searcher.search(&q, &TopDocs::with_limit(100_000).order_by_score())?;
        let mut out = Vec::with_capacity(top.len());
        for (_, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            out.push(self.passage_of(&doc));
        }
        out.sort_by_key(|p| p.ordinal);
        Ok(out)
    }

    fn passage_of(&self, doc: &TantivyDocument) -> Passage {
        let f = &self.fields;
        let num = |field| doc.get_first(field).and_then(|v| v.as_u64());
        Passage {
            id: text_of(doc, f.passage_id),
            doc_id: text_of(doc, f.doc_id),
            ordinal: num(f.ordinal).unwrap_or(0) as u32,
            text: text_of(doc, f.text),
            page: num(f.page).map(|p| p as u32),
            anchor: doc.get_first(f.anchor).and_then(|v| v.as_str()).map(str::to_string),
            start: num(f.start).unwrap_or(0) as usize,
            end: num(f.end).unwrap_or(0) as usize,
        }
    }
}

fn text_of(doc: &TantivyDocument, field: Field) -> String {
    doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_string()
}

/// Days since 1970-01-01 (the integer form of dates in both engines).
pub fn days(date: chrono::NaiveDate) -> i64 {
    (date - chrono::NaiveDate::default()).num_days()
}

/// Pending changes to a [`KeywordIndex`].
pub struct KeywordWriter {
    fields: Fields,
    /// The index's reader, reloaded after a commit (tantivy's readers are shared handles).
    reader: IndexReader,
    writer: IndexWriter,
}

impl KeywordWriter {
    /// Removes every passage of `doc_id`.
    pub fn delete_document(&mut self, doc_id: &str) {
        self.writer.delete_term(Term::from_field_text(self.fields.doc_id, doc_id));
    }

    /// Adds the passages of `doc`.
    pub fn add(&mut self, doc: &Document, passages: &[Passage]) -> Result<()> {
        let f = &self.fields;
        let title = analysis::prepare(&doc.title);
        for p in passages {
            let mut d = TantivyDocument::default();
            d.add_text(f.passage_id, &p.id);
            d.add_text(f.doc_id, &p.doc_id);
            d.add_u64(f.ordinal, u64::from(p.ordinal));
            d.add_text(f.text, &p.text);
            if let Some(page) = p.page {
                d.add_u64(f.page, u64::from(page));
            }
            if let Some(anchor) = &p.anchor {
                d.add_text(f.anchor, anchor);
            }
            d.add_u64(f.start, p.start as u64);
            d.add_u64(f.end, p.end as u64);
            let body = analysis::prepare(&p.text);
            d.add_text(f.body_ja, &body);
            d.add_text(f.body_bigram, &body);
            d.add_text(f.title_ja, &title);
            d.add_text(f.title_bigram, &title);
            d.add_text(f.doc_type, doc.doc_type.as_str());
            if let Some(issuer) = &doc.issuer {
                d.add_text(f.issuer, issuer);
            }
            if let Some(date) = doc.issued {
                d.add_i64(f.issued, days(date));
            }
            d.add_u64(f.level, u64::from(doc.access.level));
            if doc.access.groups.is_empty() {
                d.add_text(f.groups, OPEN_GROUP);
            }
            for g in &doc.access.groups {
                d.add_text(f.groups, g);
            }
            self.writer.add_document(d)?;
        }
        Ok(())
    }

    /// Makes the changes durable and visible (after [`KeywordIndex::reload`]).
    pub fn commit(mut self) -> Result<()> {
        self.writer.commit()?;
        self.writer.wait_merging_threads()?;
        Ok(self.reader.reload()?)
    }
}
