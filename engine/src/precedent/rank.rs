//! Ranking past exchanges by how close their question is to a new one, and grouping answers
//! repeated over the years.
//!
//! Both retrieval sides run over minutes passages under the caller's filter, as for search, and
//! are fused the same way. An exchange's score is its best question passage plus
//! [`ANSWER_WEIGHT`] times its best answer passage: a past question worded like the new one is
//! evidence, and so is an answer that takes up its terms (a minister's answer restates what was
//! asked). Where retrieval found only one of the two, the other counts at the floor, the lowest
//! fused score among the candidates, so an exchange found by both outranks one found by half.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::error::Result;
use crate::index::Generation;
use crate::model::{DocType, Document, Exchange, Filter, Passage};
use crate::retrieve::fusion::fuse;
use crate::retrieve::search::{highlight_terms, snippet, Mode, Retriever};
use crate::text::analysis::prepare;

/// Passages taken from each side before exchanges are formed: an exchange has several passages
/// and minutes hold other speeches too, so more than search takes.
pub const CANDIDATES: usize = 200;

/// Weight of an exchange's best answer passage against its best question passage. Chosen on the
/// dev set among 0, 0.25, 0.5 and 1 (README "Precedents"): answers that restate the question's
/// terms are as good a sign as the question itself, and only at 1 does hybrid rank above both
/// single modes.
pub const ANSWER_WEIGHT: f32 = 1.0;

/// Character-bigram overlap (Jaccard) above which two answer speeches count as the same answer
/// repeated.
pub const REPEATED_ANSWER: f32 = 0.6;

/// What a precedent search asks for.
#[derive(Debug, Clone)]
pub struct PrecedentQuery<'q> {
    pub question: &'q str,
    /// The caller's rights and the user's house, date range filters (`issuers`, `issued_*`).
    pub filter: Filter,
    /// Keep exchanges in which someone whose position contains one of these answered
    /// (「総務大臣」「総務省」「市長」); empty: any.
    pub positions: Vec<String>,
    pub mode: Mode,
    /// Exchanges returned.
    pub limit: usize,
}

/// One past exchange found for a question.
#[derive(Debug, Clone, Serialize)]
pub struct ExchangeHit {
    pub document: Document,
    pub score: f32,
    /// Cosine similarity between the question and the exchange's closest passage, where the
    /// vector side returned one: what the outline's "no precedent" decision reads.
    pub closeness: Option<f32>,
    /// The question's passages, then the answers' (each in document order).
    pub question: Vec<Passage>,
    pub answers: Vec<Passage>,
    /// Excerpt of the best-matching question passage, terms in `<mark>` (HTML-escaped).
    pub snippet: String,
}

impl ExchangeHit {
    pub fn exchange(&self) -> Option<&Exchange> {
        self.document.exchange.as_ref()
    }

    pub fn date(&self) -> Option<NaiveDate> {
        self.document.issued
    }
}

/// Exchanges whose answers are near-identical, newest first; the group ranks by its best member.
#[derive(Debug, Clone, Serialize)]
pub struct PrecedentGroup {
    pub score: f32,
    pub exchanges: Vec<ExchangeHit>,
}

fn answered_by(exchange: &Exchange, positions: &[String]) -> bool {
    let wanted: Vec<&str> = positions.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).collect();
    wanted.is_empty()
        || exchange.answerers.iter().any(|a| {
            let position = a.position.as_deref().unwrap_or_default();
            wanted.iter().any(|p| position.contains(p) || a.name == *p)
        })
}

/// The best exchanges for `query`, best first, at most `query.limit`, all allowed by its filter.
pub fn rank(retriever: &Retriever, gen: &Generation, query: &PrecedentQuery) -> Result<Vec<ExchangeHit>> {
    let mut filter = query.filter.clone();
    filter.doc_types = vec![DocType::Minutes.as_str().to_string()];
    let prepared = retriever.prepare(query.question);
    let (keyword, vector) = retriever.sides(gen, &prepared, &filter, query.mode, CANDIDATES)?;
    let fused = fuse(retriever.config, &keyword, &vector);
    let floor = fused.iter().map(|(_, (s, _, _))| *s).fold(f32::INFINITY, f32::min);
    let cosine: HashMap<&str, f32> = vector.iter().map(|h| (h.passage_id.as_str(), h.score)).collect();
    let ids: Vec<String> = fused.iter().map(|(id, _)| id.clone()).collect();
    let passages: HashMap<String, Passage> = gen.keyword.passages(&ids, &filter)?.into_iter().map(|p| (p.id.clone(), p)).collect();

    // Per exchange: best question score, best answer score, closeness, best question passage.
    struct Found {
        question: Option<(f32, String)>,
        answer: Option<f32>,
        closeness: Option<f32>,
    }
    let mut found: HashMap<String, Found> = HashMap::new();
    for (id, (score, _, _)) in &fused {
        let Some(p) = passages.get(id) else { continue };
        let Some(doc) = gen.documents.get(&p.doc_id) else { continue };
        let Some(exchange) = &doc.exchange else { continue };
        if !answered_by(exchange, &query.positions) {
            continue;
        }
        let f = found.entry(p.doc_id.clone()).or_insert(Found { question: None, answer: None, closeness: None });
        if Exchange::is_answer_anchor(p.anchor.as_deref()) {
            f.answer = Some(f.answer.map_or(*score, |a: f32| a.max(*score)));
        } else if f.question.as_ref().is_none_or(|(best, _)| score > best) {
            f.question = Some((*score, id.clone()));
        }
        if let Some(c) = cosine.get(id.as_str()) {
            f.closeness = Some(f.closeness.map_or(*c, |b: f32| b.max(*c)));
        }
    }
    let mut ranked: Vec<(String, f32, Found)> = found
        .into_iter()
        .map(|(doc_id, f)| {
            let score = f.question.as_ref().map_or(floor, |(s, _)| *s) + ANSWER_WEIGHT * f.answer.unwrap_or(floor);
            (doc_id, score, f)
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(query.limit);

    let terms = highlight_terms(&prepared);
    let mut hits = Vec::with_capacity(ranked.len());
    for (doc_id, score, f) in ranked {
        let Some(document) = gen.documents.get(&doc_id).cloned() else { continue };
        let (answers, question): (Vec<Passage>, Vec<Passage>) =
            gen.keyword.document_passages(&doc_id, &filter)?.into_iter().partition(|p| Exchange::is_answer_anchor(p.anchor.as_deref()));
        let best = f.question.and_then(|(_, id)| question.iter().find(|p| p.id == id)).or(question.first());
        let snippet = best.map(|p| snippet(&p.text, &terms, 160)).unwrap_or_default();
        hits.push(ExchangeHit { document, score, closeness: f.closeness, question, answers, snippet });
    }
    Ok(hits)
}

type Bigrams = HashSet<(char, char)>;

fn bigrams(text: &str) -> Bigrams {
    let chars: Vec<char> = prepare(text).chars().filter(|c| !c.is_whitespace()).collect();
    chars.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Jaccard overlap of two texts' character bigrams.
pub fn overlap(a: &str, b: &str) -> f32 {
    jaccard(&bigrams(a), &bigrams(b))
}

fn jaccard(a: &Bigrams, b: &Bigrams) -> f32 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f32 / union as f32
}

/// Groups hits one of whose answer speeches repeats one of the group's best hit
/// ([`REPEATED_ANSWER`]), in rank order of each group's best hit, each group newest first.
pub fn group(hits: Vec<ExchangeHit>) -> Vec<PrecedentGroup> {
    // Whether one answer speech of one exchange repeats one of another's: a minister's line is
    // repeated whole though the officials who answer after it say something new. Each speech's
    // bigrams are taken once.
    let repeats = |a: &[Bigrams], b: &[Bigrams]| a.iter().any(|x| b.iter().any(|y| jaccard(x, y) >= REPEATED_ANSWER));
    let mut groups: Vec<(Vec<Bigrams>, PrecedentGroup)> = Vec::new();
    for hit in hits {
        let speeches: Vec<Bigrams> = hit.answers.iter().map(|a| bigrams(&a.text)).collect();
        match groups.iter_mut().find(|(first, _)| repeats(first, &speeches)) {
            Some((_, g)) => g.exchanges.push(hit),
            None => groups.push((speeches, PrecedentGroup { score: hit.score, exchanges: vec![hit] })),
        }
    }
    groups
        .into_iter()
        .map(|(_, mut g)| {
            g.exchanges.sort_by(|a, b| b.date().cmp(&a.date()).then_with(|| b.score.total_cmp(&a.score)));
            g
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Speaker;

    fn hit(id: &str, date: (i32, u32, u32), score: f32, answer: &str) -> ExchangeHit {
        let exchange = Exchange {
            house: "衆議院".into(),
            meeting: "総務委員会".into(),
            issue: None,
            session: None,
            order: 2,
            questioner: Speaker { name: "甲".into(), group: None, position: None },
            answerers: vec![Speaker { name: "乙".into(), group: None, position: Some("総務大臣".into()) }],
            url: None,
        };
        let document = Document {
            id: id.into(),
            title: id.into(),
            doc_type: DocType::Minutes,
            issuer: None,
            issued: NaiveDate::from_ymd_opt(date.0, date.1, date.2),
            number: None,
            source_path: String::new(),
            content_hash: String::new(),
            access: Default::default(),
            effective: None,
            references: Vec::new(),
            amended_by_laws: Vec::new(),
            exchange: Some(exchange),
        };
        let answer = Passage { id: format!("{id}#1"), doc_id: id.into(), ordinal: 1, text: answer.into(), page: None, anchor: Some("答弁 乙（総務大臣）".into()), start: 0, end: 0 };
        ExchangeHit { document, score, closeness: None, question: Vec::new(), answers: vec![answer], snippet: String::new() }
    }

    #[test]
    fn repeated_answers_are_grouped_newest_first() {
        let same = "標準準拠システムへの移行期限は令和七年度末とし、移行が困難なシステムについては個別に期限を設定することとしております。";
        let again = "標準準拠システムへの移行期限は令和七年度末とし、移行が特に困難なシステムについては個別に期限を設定することとしております。";
        let other = "指定管理者の選定に当たっては、公募を原則としております。";
        let groups = group(vec![hit("a", (2023, 5, 16), 3.0, same), hit("b", (2024, 4, 9), 2.0, other), hit("c", (2024, 4, 9), 1.0, again)]);
        assert_eq!(groups.len(), 2);
        let ids: Vec<&str> = groups[0].exchanges.iter().map(|h| h.document.id.as_str()).collect();
        assert_eq!(ids, ["c", "a"], "the 2024 repetition first");
        assert_eq!(groups[0].score, 3.0);
        assert!(overlap(same, other) < REPEATED_ANSWER);
    }

    #[test]
    fn position_filter_matches_part_of_a_position() {
        let h = hit("a", (2024, 1, 1), 1.0, "x");
        let e = h.exchange().unwrap();
        assert!(answered_by(e, &[]));
        assert!(answered_by(e, &["総務".into()]));
        assert!(!answered_by(e, &["市長".into()]));
        assert!(answered_by(e, &["".into(), " ".into()]), "blank entries filter nothing");
    }
}
