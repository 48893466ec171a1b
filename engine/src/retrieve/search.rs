//! Hybrid retrieval: normalise the question, run the keyword and vector sides with the same
//! filter inside each engine, fuse the two rankings, group passages per document and cut
//! highlighted snippets.
//!
//! The two rankings are combined by [`super::fusion`].

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::fusion::fuse;
use crate::config::SearchConfig;
use crate::error::Result;
use crate::index::Generation;
use crate::index::embed::Embedder;
use crate::index::keyword::{KeywordHit, PreparedQuery};
use crate::index::vector::{VectorFilter, VectorHit};
use crate::model::{Document, Filter, Passage};
use crate::text::analysis::Analyzers;

/// Which sides to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Keyword,
    Vector,
    #[default]
    Hybrid,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Keyword => "keyword",
            Mode::Vector => "vector",
            Mode::Hybrid => "hybrid",
        }
    }
}

/// One retrieved passage with its fused score.
#[derive(Debug, Clone, Serialize)]
pub struct PassageHit {
    pub passage: Passage,
    pub score: f32,
    /// 1-based rank on each side, where the passage was found there.
    pub keyword_rank: Option<usize>,
    pub vector_rank: Option<usize>,
    /// Passage excerpt with query terms wrapped in `<mark>` (HTML-escaped).
    pub snippet: String,
}

/// One document with its best passages; its score is its best passage's score.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentHit {
    pub document: Document,
    pub score: f32,
    pub passages: Vec<PassageHit>,
}

/// Everything a search needs besides the index generation.
pub struct Retriever<'a> {
    pub analyzers: &'a Analyzers,
    pub embedder: &'a Embedder,
    pub config: &'a SearchConfig,
    pub expander: &'a crate::retrieve::query::QueryExpander,
    /// Whose entries of the embedder's cache the query uses: the caller's name in the service
    /// (so that no caller can time another's questions), `""` in tools.
    pub cache_scope: &'a str,
}

impl Retriever<'_> {
    /// Prepares a question: expansion (和暦 ↔ 西暦, synonyms) then analysis.
    pub fn prepare(&self, question: &str) -> PreparedQuery {
        let expanded = self.expander.expand(question);
        PreparedQuery::new(self.analyzers, &expanded)
    }

    /// The two sides' own rankings (best first), each at most `candidates` long; a side that
    /// `mode` leaves out is empty.
    pub fn sides(
        &self,
        gen: &Generation,
        query: &PreparedQuery,
        filter: &Filter,
        mode: Mode,
        candidates: usize,
    ) -> Result<(Vec<KeywordHit>, Vec<VectorHit>)> {
        let keyword = if mode != Mode::Vector { gen.keyword.search(query, filter, candidates)? } else { Vec::new() };
        let vector = if mode != Mode::Keyword && !query.text.trim().is_empty() {
            let v = self.embedder.embed_query(&query.text, self.cache_scope)?;
            gen.vectors.search(&v, &vector_filter(filter), candidates)?
        } else {
            Vec::new()
        };
        Ok((keyword, vector))
    }

    /// Ranked passages (best first), at most `limit`, all allowed by `filter`.
    pub fn passages(&self, gen: &Generation, question: &str, filter: &Filter, mode: Mode, limit: usize) -> Result<Vec<PassageHit>> {
        let query = self.prepare(question);
        let (keyword, vector) = self.sides(gen, &query, filter, mode, self.config.candidates.max(limit))?;
        let mut ranked = fuse(self.config, &keyword, &vector);
        let cited = crate::retrieve::query::article_refs(question);
        let mut passages: HashMap<String, Passage> = if cited.is_empty() {
            ranked.truncate(limit);
            let ids: Vec<String> = ranked.iter().map(|(id, _)| id.clone()).collect();
            gen.keyword.passages(&ids, filter)?.into_iter().map(|p| (p.id.clone(), p)).collect()
        } else {
            // A question that names an article (「第三十九条」「39条3項」) asks about that article:
            // its passages among the candidates go first, the named 項 before the rest of the 条,
            // each group in fused order. Every candidate is read once, for its anchor.
            let ids: Vec<String> = ranked.iter().map(|(id, _)| id.clone()).collect();
            let all: HashMap<String, Passage> = gen.keyword.passages(&ids, filter)?.into_iter().map(|p| (p.id.clone(), p)).collect();
            let level = |id: &str| {
                let anchor = all.get(id).and_then(|p| p.anchor.as_deref()).unwrap_or_default();
                cited.iter().map(|c| c.match_level(anchor)).max().unwrap_or(0)
            };
            ranked.sort_by_key(|(id, _)| std::cmp::Reverse(level(id)));
            ranked.truncate(limit);
            all
        };
        let terms = highlight_terms(&query);
        Ok(ranked
            .into_iter()
            .filter_map(|(id, (score, keyword_rank, vector_rank))| {
                let passage = passages.remove(&id)?;
                let snippet = snippet(&passage.text, &terms, 160);
                Some(PassageHit { passage, score, keyword_rank, vector_rank, snippet })
            })
            .collect())
    }

    /// Documents ranked by their best passage, each with up to `per_doc` passages.
    pub fn documents(&self, gen: &Generation, question: &str, filter: &Filter, mode: Mode, per_doc: usize) -> Result<Vec<DocumentHit>> {
        let hits = self.passages(gen, question, filter, mode, self.config.candidates)?;
        Ok(group_by_document(gen, hits, per_doc))
    }
}

/// Groups passage hits per document, keeping the rank order of each document's best passage.
pub fn group_by_document(gen: &Generation, hits: Vec<PassageHit>, per_doc: usize) -> Vec<DocumentHit> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<PassageHit>> = HashMap::new();
    for hit in hits {
        let doc_id = hit.passage.doc_id.clone();
        let group = groups.entry(doc_id.clone()).or_default();
        if group.is_empty() {
            order.push(doc_id);
        }
        if group.len() < per_doc.max(1) {
            group.push(hit);
        }
    }
    order
        .into_iter()
        .filter_map(|doc_id| {
            let passages = groups.remove(&doc_id)?;
            let document = gen.documents.get(&doc_id)?.clone();
            let score = passages.first().map_or(0.0, |p| p.score);
            Some(DocumentHit { document, score, passages })
        })
        .collect()
}

/// Orders documents as they stand on `as_of` (see [`crate::govern::validity::prefer_in_force`]): a
/// superseded document's successor moves up to just above it. Only documents `filter` lets the
/// caller see can make another one superseded.
pub fn prefer_in_force(gen: &Generation, hits: Vec<DocumentHit>, as_of: NaiveDate, filter: &Filter) -> Vec<DocumentHit> {
    let status = |id: &str| gen.documents.get(id).map(|d| gen.status(d, as_of, filter));
    let mut ranked: Vec<(String, f32)> = hits.iter().map(|h| (h.document.id.clone(), h.score)).collect();
    crate::govern::validity::prefer_in_force(&mut ranked, &status);
    let mut by_id: HashMap<String, DocumentHit> = hits.into_iter().map(|h| (h.document.id.clone(), h)).collect();
    ranked.into_iter().filter_map(|(id, _)| by_id.remove(&id)).collect()
}

/// The passages an answer should be drawn from on `as_of`: passages of documents in force
/// first, then those not yet in force; passages of superseded documents only when nothing else
/// was found (their citations are labelled 廃止済み).
pub fn passages_in_force(gen: &Generation, hits: Vec<PassageHit>, as_of: NaiveDate, filter: &Filter) -> Vec<PassageHit> {
    use crate::govern::validity::InForce;
    let state = |h: &PassageHit| gen.documents.get(&h.passage.doc_id).map_or(InForce::InForce, |d| gen.status(d, as_of, filter).state);
    let (mut current, mut future, mut superseded) = (Vec::new(), Vec::new(), Vec::new());
    for h in hits {
        match state(&h) {
            InForce::InForce => current.push(h),
            InForce::NotYetInForce => future.push(h),
            InForce::Superseded => superseded.push(h),
        }
    }
    let fallback = current.is_empty() && future.is_empty();
    current.extend(future);
    if fallback {
        current.extend(superseded);
    }
    current
}

/// The vector side's form of a [`Filter`].
pub fn vector_filter(filter: &Filter) -> VectorFilter {
    VectorFilter {
        doc_types: filter.doc_types.clone(),
        issuers: filter.issuers.clone(),
        issued_from: filter.issued_from,
        issued_to: filter.issued_to,
        max_level: filter.max_level,
        groups: filter.groups.clone(),
        doc_ids: filter.doc_ids.clone(),
    }
}

/// Terms worth highlighting: lindera tokens of two or more characters, or single kanji.
pub fn highlight_terms(query: &PreparedQuery) -> Vec<String> {
    let mut terms: Vec<String> = query
        .ja_tokens
        .iter()
        .filter(|t| t.chars().count() >= 2 || t.chars().all(is_kanji))
        .cloned()
        .collect();
    terms.sort_by_key(|t| std::cmp::Reverse(t.chars().count()));
    terms
}

fn is_kanji(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

/// An excerpt of about `width` characters around the densest cluster of `terms`, HTML-escaped,
/// with matches in `<mark>`. Matching runs on the prepared (folded) text; folding maps one
/// character to one character, so positions carry over to the stored text.
pub fn snippet(text: &str, terms: &[String], width: usize) -> String {
    let original: Vec<char> = text.chars().collect();
    let prepared: Vec<char> = crate::text::analysis::prepare(text).chars().collect();
    let haystack = if prepared.len() == original.len() { prepared } else { text.to_lowercase().chars().collect() };
    let mut marked = vec![false; original.len()];
    if haystack.len() == original.len() {
        for term in terms {
            let needle: Vec<char> = term.chars().collect();
            if needle.is_empty() || needle.len() > haystack.len() {
                continue;
            }
            for start in 0..=haystack.len() - needle.len() {
                if haystack[start..start + needle.len()] == needle[..] {
                    marked[start..start + needle.len()].iter_mut().for_each(|m| *m = true);
                }
            }
        }
    }
    // Window with the most marked characters.
    let n = original.len();
    let mut best_start = 0;
    if n > width {
        let mut count = marked[..width].iter().filter(|m| **m).count();
        let mut best_count = count;
        for start in 1..=n - width {
            count += usize::from(marked[start + width - 1]) - usize::from(marked[start - 1]);
            if count > best_count {
                best_count = count;
                best_start = start;
            }
        }
        // Centre the window on the matches it holds, so they keep context on both sides.
        if best_count > 0 {
            let window = best_start..best_start + width;
            let first = window.clone().find(|&i| marked[i]).unwrap_or(best_start);
            let last = window.rev().find(|&i| marked[i]).unwrap_or(first);
            best_start = ((first + last) / 2).saturating_sub(width / 2).min(n - width);
        }
    }
    let end = (best_start + width).min(n);
    let mut out = String::new();
    if best_start > 0 {
        out.push('…');
    }
    let mut open = false;
    for i in best_start..end {
        if marked[i] && !open {
            out.push_str("<mark>");
            open = true;
        } else if !marked[i] && open {
            out.push_str("</mark>");
            open = false;
        }
        match original[i] {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    if open {
        out.push_str("</mark>");
    }
    if end < n {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_marks_terms_and_escapes_html() {
        let s = snippet("<b>交付手数料</b>は三百円", &["手数料".into()], 100);
        assert_eq!(s, "&lt;b&gt;交付<mark>手数料</mark>&lt;/b&gt;は三百円");
    }

    #[test]
    fn snippet_marks_old_forms_found_by_new_form_terms() {
        let s = snippet("國民健康保險の届出", &["保険".into()], 100);
        assert_eq!(s, "國民健康<mark>保險</mark>の届出");
    }

    #[test]
    fn snippet_window_moves_to_the_match() {
        let text = format!("{}マイナンバーカード{}", "あ".repeat(300), "い".repeat(300));
        let s = snippet(&text, &["マイナンバーカード".into()], 60);
        assert!(s.contains("<mark>マイナンバーカード</mark>"), "{s}");
        assert!(s.starts_with('…') && s.ends_with('…'));
    }
}
