//! Officials' verdicts on answers, turned into questions that `shirabe eval-answers` measures
//! again: the office's own test set, growing from use.
//!
//! On the page and through `POST /api/feedback` an official marks an answer 役に立った
//! ([`Verdict::Helpful`]), 誤り ([`Verdict::Wrong`]) or 根拠が足りない ([`Verdict::Insufficient`]),
//! with an optional note. The service audits the verdict together with the question and the
//! passages the answer cited, so the audit log is the one record of it. [`export`] reads those
//! records back and writes one row per judged answer in the question format of
//! [`super::corpus`]:
//!
//! - a helpful answer becomes an answerable question whose source is the first place it cited
//!   (a helpful abstention, an unanswerable one); eval-answers then counts whether a later build
//!   still answers from one of the places the official found helpful, or still abstains
//!   (`helpful_kept`);
//! - a wrong or insufficient answer becomes a question whose answerability nobody has stated
//!   (`answerable` is left out until a reviewer adds it and the expected spans); eval-answers
//!   counts whether a later build gives the rejected answer again, citing exactly the places the
//!   official rejected, or abstaining again (`rejected_repeated`).
//!
//! The latest verdict on an answer counts. The official's name is not exported: the answer id
//! leads an auditor to it in the log.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::govern::audit::{self, AuditKey, Record};
use crate::index::IndexDir;
use crate::model::Filter;
use crate::text::analysis::Analyzers;

/// An official's verdict on an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// 役に立った
    Helpful,
    /// 誤り
    Wrong,
    /// 根拠が足りない
    Insufficient,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Helpful => "helpful",
            Verdict::Wrong => "wrong",
            Verdict::Insufficient => "insufficient",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        [Verdict::Helpful, Verdict::Wrong, Verdict::Insufficient].into_iter().find(|v| v.as_str() == s)
    }

    /// The words the page shows.
    pub fn label_ja(self) -> &'static str {
        match self {
            Verdict::Helpful => "役に立った",
            Verdict::Wrong => "誤り",
            Verdict::Insufficient => "根拠が足りない",
        }
    }
}

/// What an official said about one answer, as a question row carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    pub verdict: Verdict,
    pub answer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The places the judged answer cited, each `source-path place` (the place as eval-answers
    /// writes it: `第N条第K項`, `p.N` or a heading).
    #[serde(default)]
    pub cited: Vec<String>,
    /// Whether the judged answer was an abstention.
    #[serde(default)]
    pub abstained: bool,
    /// When the verdict was given (the audit record's time).
    #[serde(default)]
    pub at: String,
}

/// Where an answerable row's answer is, as [`super::corpus::QuestionSource`] reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowSource {
    pub file: String,
    #[serde(rename = "where")]
    pub place: String,
}

/// One exported row: a question in the format `eval-answers --questions` reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackRow {
    pub id: String,
    pub question: String,
    /// `true` for a helpful answer whose places are still indexed, `false` for a helpful
    /// abstention; left out otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answerable: Option<bool>,
    pub answers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<RowSource>,
    pub feedback: Judged,
}

/// A passage's source path and place, looked up in the served index; `None` for a passage no
/// longer indexed.
pub type PlaceOf<'a> = &'a dyn Fn(&str) -> Option<(String, String)>;

/// The rows of every `feedback` record, in the order the answers were first judged (a later
/// verdict on the same answer replaces the earlier one). Records that are not well-formed
/// feedback (no answer id, question or known verdict) are skipped.
pub fn export(records: &[Record], place_of: PlaceOf<'_>) -> Vec<FeedbackRow> {
    let mut rows: Vec<FeedbackRow> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    for record in records {
        let event = &record.event;
        if event.action != "feedback" {
            continue;
        }
        let (Some(answer_id), Some(question), Some(verdict)) = (&event.answer_id, &event.query, event.verdict.as_deref().and_then(Verdict::parse)) else {
            continue;
        };
        let places: Vec<(String, String)> = event.passages.iter().filter_map(|id| place_of(id)).collect();
        let abstained = event.abstained == Some(true);
        let source = (verdict == Verdict::Helpful && !abstained).then(|| places.first().map(|(file, place)| RowSource { file: file.clone(), place: place.clone() })).flatten();
        let answerable = match (verdict, abstained) {
            (Verdict::Helpful, true) => Some(false),
            (Verdict::Helpful, false) => source.as_ref().map(|_| true),
            _ => None,
        };
        let row = FeedbackRow {
            id: format!("feedback-{answer_id}"),
            question: question.clone(),
            answerable,
            answers: Vec::new(),
            source,
            feedback: Judged {
                verdict,
                answer_id: answer_id.clone(),
                note: event.note.clone().filter(|n| !n.trim().is_empty()),
                cited: places.iter().map(|(file, place)| format!("{file} {place}")).collect(),
                abstained,
                at: record.time.clone(),
            },
        };
        match position.get(answer_id) {
            Some(&i) => rows[i] = row,
            None => {
                position.insert(answer_id.clone(), rows.len());
                rows.push(row);
            }
        }
    }
    rows
}

/// The rows of the audit log in `dir` (`shirabe feedback export`), after checking its chain with
/// `key`: a log that does not verify could hold forged verdicts, and the rows become a test set.
/// Cited passages are placed by the generation `CURRENT` names; one no longer indexed is left out.
pub fn export_log(config: &Config, analyzers: &Analyzers, dir: &Path, key: Option<&AuditKey>) -> Result<Vec<FeedbackRow>> {
    audit::verify_keyed(dir, key).map_err(|e| Error::Audit(format!("the audit log in {} does not verify ({e}); run `shirabe audit verify` before exporting", dir.display())))?;
    let records = audit::read_records(dir)?;
    let mut places = HashMap::new();
    if let Some((state, keyword)) = IndexDir::new(config.index_dir()).open_current_keyword(analyzers)? {
        let ids: Vec<String> = records.iter().filter(|r| r.event.action == "feedback").flat_map(|r| r.event.passages.iter().cloned()).collect();
        for p in keyword.passages(&ids, &Filter::unrestricted())? {
            let Some(doc) = state.documents.get(&p.doc_id) else { continue };
            places.insert(p.id.clone(), (doc.source_path.clone(), super::passage_place(&p)));
        }
    }
    Ok(export(&records, &|id: &str| places.get(id).cloned()))
}

/// How a new answer compares with a judged one: for a helpful verdict, whether it still cites
/// one of the judged places; for a rejected one, whether it cites exactly the rejected places
/// again. A judged abstention is kept or repeated by abstaining again. `cited` are the new
/// answer's places in the same `source-path place` form.
pub fn matches_judged(judged: &Judged, answered: bool, cited: &[String]) -> bool {
    if judged.abstained {
        return !answered;
    }
    if !answered {
        return false;
    }
    match judged.verdict {
        Verdict::Helpful => cited.iter().any(|c| judged.cited.contains(c)),
        Verdict::Wrong | Verdict::Insufficient => {
            let mut a: Vec<&String> = cited.iter().collect();
            let mut b: Vec<&String> = judged.cited.iter().collect();
            a.sort();
            a.dedup();
            b.sort();
            b.dedup();
            !b.is_empty() && a == b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::govern::audit::Event;

    fn record(seq: u64, answer_id: &str, verdict: &str, passages: &[&str], note: Option<&str>) -> Record {
        Record {
            seq,
            time: format!("2026-12-06T10:00:0{seq}+09:00"),
            event: Event {
                action: "feedback".into(),
                caller: "tanaka".into(),
                query: Some("交付手数料はいくらか".into()),
                passages: passages.iter().map(|p| p.to_string()).collect(),
                answer_id: Some(answer_id.into()),
                verdict: Some(verdict.into()),
                note: note.map(str::to_string),
                status: 200,
                ..Event::default()
            },
            key: None,
            prev: String::new(),
            hash: String::new(),
        }
    }

    fn place_of(id: &str) -> Option<(String, String)> {
        match id {
            "p1" => Some(("/share/fee.txt".into(), "第三条".into())),
            "p2" => Some(("/share/fee.txt".into(), "第四条".into())),
            _ => None,
        }
    }

    #[test]
    fn a_helpful_answer_becomes_an_answerable_question_from_its_first_place() {
        let rows = export(&[record(1, "a-1", "helpful", &["p1", "p2"], Some("助かりました"))], &place_of);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.answerable, Some(true));
        assert_eq!(row.source, Some(RowSource { file: "/share/fee.txt".into(), place: "第三条".into() }));
        assert_eq!(row.feedback.cited, ["/share/fee.txt 第三条", "/share/fee.txt 第四条"]);
        assert_eq!(row.feedback.note.as_deref(), Some("助かりました"));
        let json = serde_json::to_value(row).expect("json");
        assert!(json.get("feedback").and_then(|f| f.get("caller")).is_none() && !json.to_string().contains("tanaka"), "the official's name is exported: {json}");
    }

    #[test]
    fn a_rejected_answer_leaves_answerability_to_a_reviewer_and_the_last_verdict_counts() {
        let records = [
            record(1, "a-1", "helpful", &["p1"], None),
            record(2, "a-2", "wrong", &["p2", "gone"], Some("第五条が正しい")),
            record(3, "a-1", "insufficient", &["p1"], Some("  ")),
            record(4, "a-3", "nonsense", &["p1"], None),
        ];
        let rows = export(&records, &place_of);
        assert_eq!(rows.iter().map(|r| r.feedback.answer_id.as_str()).collect::<Vec<_>>(), ["a-1", "a-2"]);
        assert_eq!((rows[0].feedback.verdict, rows[0].answerable, rows[0].feedback.note.clone()), (Verdict::Insufficient, None, None));
        assert_eq!(rows[1].feedback.cited, ["/share/fee.txt 第四条"], "a passage no longer indexed is dropped");
        assert!(!serde_json::to_string(&rows[1]).expect("json").contains("\"answerable\""));
    }

    #[test]
    fn a_helpful_abstention_becomes_an_unanswerable_question() {
        let mut r = record(1, "a-1", "helpful", &[], None);
        r.event.abstained = Some(true);
        let rows = export(&[r], &place_of);
        assert_eq!((rows[0].answerable, rows[0].source.clone(), rows[0].feedback.abstained), (Some(false), None, true));
    }

    #[test]
    fn a_helpful_answer_whose_passages_are_gone_is_not_answerable() {
        let rows = export(&[record(1, "a-1", "helpful", &["gone"], None)], &place_of);
        assert_eq!((rows[0].answerable, rows[0].source.clone()), (None, None));
    }

    #[test]
    fn kept_and_repeated_compare_places() {
        let judged = |verdict, cited: &[&str]| Judged { verdict, answer_id: "a".into(), note: None, cited: cited.iter().map(|c| c.to_string()).collect(), abstained: false, at: String::new() };
        let helpful = judged(Verdict::Helpful, &["f 第三条", "f 第四条"]);
        assert!(matches_judged(&helpful, true, &["f 第四条".into(), "g p.2".into()]));
        assert!(!matches_judged(&helpful, false, &["f 第四条".into()]), "an abstention keeps nothing");
        assert!(!matches_judged(&helpful, true, &["g p.2".into()]));
        let wrong = judged(Verdict::Wrong, &["f 第三条", "f 第四条"]);
        assert!(matches_judged(&wrong, true, &["f 第四条".into(), "f 第三条".into(), "f 第三条".into()]));
        assert!(!matches_judged(&wrong, true, &["f 第四条".into()]), "a different answer is not a repeat");
        assert!(!matches_judged(&judged(Verdict::Wrong, &[]), true, &[]), "nothing known to repeat");
        let abstention = |verdict| Judged { abstained: true, ..judged(verdict, &[]) };
        assert!(matches_judged(&abstention(Verdict::Helpful), false, &[]), "a helpful abstention is kept by abstaining");
        assert!(!matches_judged(&abstention(Verdict::Helpful), true, &["f 第三条".into()]));
        assert!(matches_judged(&abstention(Verdict::Wrong), false, &[]), "a rejected abstention is repeated by abstaining");
    }

    #[test]
    fn verdicts_read_and_print() {
        for v in [Verdict::Helpful, Verdict::Wrong, Verdict::Insufficient] {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
            assert_eq!(serde_json::to_string(&v).expect("json"), format!("\"{}\"", v.as_str()));
        }
        assert_eq!(Verdict::parse("Helpful"), None);
        assert_eq!(Verdict::Insufficient.label_ja(), "根拠が足りない");
    }
}
