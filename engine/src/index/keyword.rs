//! The keyword side: a tantivy index of passages with two analysed body fields (lindera and
//! character bigrams), analysed title fields, and the metadata fields that filters use.
//!
//! Queries are built from the analysers' own tokens as a disjunction of term queries (BM25 summed
//! across fields with per-field boosts), never through `QueryParser`, which turns a compound that
//! the tokenizer splits (交付手数料 → 交付/手数/料) into a phrase query and loses recall. Filters —
//! document type, issuer, date range and the access rule — are a required, zero-scored clause of
//! the same query, so they are applied inside the engine before top-k.
//!
//! BM25's statistics (how many passages hold a term, how long passages are on average) are taken
//! over the passages the caller may see, not over the whole index ([`VisibleStatistics`]). With
//! tantivy's own statistics a secret document that repeats a word would lower that word's weight
//! for everyone, so a clearance-1 caller's scores would reveal that it exists. Deleted passages
//! that tantivy has not merged away yet do not count either. Ties are broken by passage id, not by
//! where a passage sits in the segments, so the order does not depend on hidden passages either.

use std::ops::Bound;
use std::path::Path;

use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, Bm25StatisticsProvider, BoostQuery, ConstScoreQuery, EnableScoring, Occur, Query, RangeQuery, TermQuery,
    TermSetQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::{DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term, TERMINATED};

use crate::error::{Error, Result};
use crate::model::{Document, Filter, Passage};
use crate::text::analysis::{self, Analyzers};

pub use crate::model::OPEN_GROUP;

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

    /// Number of passages `filter` allows (what a caller may count).
    pub fn count(&self, filter: &Filter) -> Result<u64> {
        let searcher = self.reader.searcher();
        Ok(searcher.search(&*self.filter_query(filter), &tantivy::collector::Count)? as u64)
    }

    /// Picks up the latest commit.
    pub fn reload(&self) -> Result<()> {
        Ok(self.reader.reload()?)
    }

    /// The access rule of `filter` alone: level <= clearance, and groups intersect (or the
    /// passage has none).
    fn access_clauses(&self, filter: &Filter) -> Vec<(Occur, Box<dyn Query>)> {
        let f = &self.fields;
        let mut groups = filter.groups.clone();
        groups.push(OPEN_GROUP.to_string());
        vec![
            (
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_u64(f.level, 0)),
                    Bound::Included(Term::from_field_u64(f.level, u64::from(filter.max_level))),
                )),
            ),
            (Occur::Must, Box::new(TermSetQuery::new(groups.iter().map(|g| Term::from_field_text(f.groups, g))))),
        ]
    }

    /// The zero-scored clause that enforces `filter` inside the engine.
    fn filter_query(&self, filter: &Filter) -> Box<dyn Query> {
        let f = &self.fields;
        let terms = |field: Field, values: &[String]| -> Box<dyn Query> {
            Box::new(TermSetQuery::new(values.iter().map(|v| Term::from_field_text(field, v))))
        };
        let mut must = self.access_clauses(filter);
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
        let stats = VisibleStatistics::new(&searcher, BooleanQuery::new(self.access_clauses(filter)))?;
        // Passages with equal scores are ordered by id. Collect until the last score differs from
        // the one at the cut (or nothing is left), so that every tie at the cut is seen and the
        // cut itself does not depend on where passages sit in the segments.
        let mut want = limit;
        let top = loop {
            let top = searcher.search_with_statistics_provider(&full, &TopDocs::with_limit(want + 1).order_by_score(), &stats)?;
            let tie_at_cut = top.len() > want && top.get(limit - 1).is_some_and(|(s, _)| *s == top[want].0);
            if !tie_at_cut || want >= MAX_TIE_SCAN {
                break top;
            }
            want = (want * 4).min(MAX_TIE_SCAN);
        };
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            hits.push(KeywordHit {
                passage_id: text_of(&doc, f.passage_id),
                doc_id: text_of(&doc, f.doc_id),
                score,
            });
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.passage_id.cmp(&b.passage_id)));
        hits.truncate(limit);
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

/// How many passages past the cut are read to settle ties there (an index of identical
/// boilerplate passages could otherwise make a query read every one of them).
const MAX_TIE_SCAN: usize = 10_000;

/// BM25 statistics over the passages one caller may see: the number of such passages, their
/// total length per field (from tantivy's field norms, as BM25 itself reads lengths) and, per
/// term, how many of them hold it. Deleted passages are not counted.
pub struct VisibleStatistics<'a> {
    searcher: &'a Searcher,
    /// Per segment, whether each document is alive and visible.
    visible: Vec<Vec<bool>>,
    num_docs: u64,
    /// Total lengths per field, computed once: tantivy asks for them once per query term.
    tokens: std::sync::Mutex<std::collections::HashMap<Field, u64>>,
}

impl<'a> VisibleStatistics<'a> {
    /// Marks the alive documents `access` matches in every segment of `searcher`.
    fn new(searcher: &'a Searcher, access: BooleanQuery) -> Result<VisibleStatistics<'a>> {
        let weight = access.weight(EnableScoring::disabled_from_searcher(searcher))?;
        let mut visible = Vec::with_capacity(searcher.segment_readers().len());
        let mut num_docs = 0u64;
        for segment in searcher.segment_readers() {
            let mut marks = vec![false; segment.max_doc() as usize];
            let alive = segment.alive_bitset();
            weight.for_each_no_score(segment, &mut |docs| {
                for &doc in docs {
                    if alive.is_none_or(|a| a.is_alive(doc)) {
                        if let Some(m) = marks.get_mut(doc as usize) {
                            *m = true;
                            num_docs += 1;
                        }
                    }
                }
            })?;
            visible.push(marks);
        }
        Ok(VisibleStatistics { searcher, visible, num_docs, tokens: Default::default() })
    }
}

impl Bm25StatisticsProvider for VisibleStatistics<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        let mut cache = self.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(total) = cache.get(&field) {
            return Ok(*total);
        }
        let mut total = 0u64;
        for (segment, marks) in self.searcher.segment_readers().iter().zip(&self.visible) {
            let norms = segment.get_fieldnorms_reader(field)?;
            total += marks.iter().enumerate().filter(|(_, v)| **v).map(|(doc, _)| u64::from(norms.fieldnorm(doc as u32))).sum::<u64>();
        }
        cache.insert(field, total);
        Ok(total)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.num_docs)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let mut count = 0u64;
        for (segment, marks) in self.searcher.segment_readers().iter().zip(&self.visible) {
            let Some(mut postings) = segment.inverted_index(term.field())?.read_postings(term, IndexRecordOption::Basic)? else {
                continue;
            };
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if marks.get(doc as usize).copied().unwrap_or(false) {
                    count += 1;
                }
                doc = postings.advance();
            }
        }
        Ok(count)
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
