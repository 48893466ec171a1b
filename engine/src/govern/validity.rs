//! Which rule is in force: effective dates, amendments and abolitions between documents.
//!
//! Japanese circulars and 告示 state their own life cycle in fixed phrases: 「この通知は、令和６年
//! ４月１日から施行する」 (the effective date), 「令和２年４月１日付け総務第１２号通知は、令和６年
//! ３月31日限り廃止する」 (an earlier document, named by its date and 文書番号, is abolished) and
//! 「…（平成二十年厚生労働省告示第六十三号）の一部を次のように改正し」 (an amendment). [`read`]
//! finds these phrases when a document is indexed and stores them on the [`Document`].
//! [`Relations`] resolves the cited numbers to indexed documents when a generation is opened, so
//! a new abolishing notice marks its predecessor without the predecessor being re-indexed.
//! [`Relations::status`] then says, for a date and a caller, whether a document is in force,
//! superseded (and by what) or not yet in force, and [`prefer_in_force`] ranks superseded
//! documents below their successors.
//!
//! Only documents the caller may see count as successors or amendments: a label must never reveal
//! that a document above the caller's rights exists.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::ingest::Section;
use crate::model::{DocType, Document};
use crate::text::{find_dates, kanji_number};

pub use crate::model::{Reference, RelationKind};

/// What [`read`] finds in one document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifecycle {
    /// 施行日 / 適用日.
    pub effective: Option<NaiveDate>,
    pub references: Vec<Reference>,
    /// For laws: the laws whose 附則 are recorded in this one, i.e. its amendment history
    /// (e-Gov's `AmendLawNum`, e.g. 平成二六年六月一三日法律第六九号).
    pub amended_by_laws: Vec<String>,
}

/// Longest evidence sentence kept, in characters.
const EVIDENCE_CHARS: usize = 200;

/// Reads a document's effective date and the documents it abolishes or amends.
///
/// Minutes and white papers describe other rules coming into force rather than their own, so
/// only their law amendment history is read (none). For laws, only the original 附則 is read for
/// the effective date: the 附則 of amending laws state when the amendments applied.
pub fn read(doc_type: DocType, sections: &[Section], issued: Option<NaiveDate>) -> Lifecycle {
    let mut out = Lifecycle::default();
    if matches!(doc_type, DocType::Minutes | DocType::WhitePaper) {
        return out;
    }
    if doc_type == DocType::Law {
        for s in sections {
            if let Some(law) = s.heading.as_deref().and_then(|h| h.strip_prefix("附則 (")).and_then(|h| h.strip_suffix(')')) {
                if !out.amended_by_laws.iter().any(|l| l == law) {
                    out.amended_by_laws.push(law.to_string());
                }
            }
        }
        let original: Vec<&str> =
            sections.iter().filter(|s| s.heading.as_deref() == Some("附則")).map(|s| s.text.as_str()).collect();
        out.effective = effective_date(&flatten(&original.join("。")), issued);
        return out;
    }
    let text = flatten(&sections.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join("\n"));
    out.effective = effective_date(&text, issued);
    out.references = references(&text);
    out
}

/// The text without whitespace: PDF line wraps fall inside dates and numbers, and Japanese needs
/// no spaces between words.
fn flatten(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The sentences of `text` (split after 。), with their byte offsets.
fn sentences(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut start = 0;
    text.match_indices('。').map(|(i, m)| i + m.len()).chain(std::iter::once(text.len())).filter_map(move |end| {
        let s = (start, &text[start..end]);
        start = end;
        (!s.1.is_empty()).then_some(s)
    })
}

/// The date in 「<date>から施行する」「<date>から適用する」 (active forms only: 「…から適用される
/// こと」 reports another rule), 「公布の日から施行」 (the issue date) or 「同日から…」 (the date
/// named just before). The first such statement wins.
fn effective_date(text: &str, issued: Option<NaiveDate>) -> Option<NaiveDate> {
    const VERBS: [&str; 4] = ["から施行す", "から施行し", "から適用す", "から適用し"];
    for (_, sentence) in sentences(text) {
        // 「ただし、次条の規定は、公布の日から施行する」 dates one provision, not the document.
        if sentence.starts_with("ただし") {
            continue;
        }
        for (at, _) in sentence.match_indices("から") {
            // 「公布の日から、これを施行する」 (older laws) says the same as 「公布の日から施行する」.
            let rest = sentence[at..].replacen("から、これを", "から", 1).replacen("からこれを", "から", 1);
            if !VERBS.iter().any(|v| rest.starts_with(v)) && !rest.starts_with("より施行") {
                continue;
            }
            let before = &sentence[..at];
            if before.ends_with("公布の日") || before.ends_with("発出の日") || before.ends_with("通知の日") {
                return issued;
            }
            let dates = find_dates(before);
            if before.ends_with("同日") {
                if let Some((_, d)) = dates.last() {
                    return Some(*d);
                }
                continue;
            }
            if let Some((range, d)) = dates.last() {
                if range.end == before.len() {
                    return Some(*d);
                }
            }
        }
    }
    None
}

/// Kanji numerals and digits allowed in 第…号.
fn is_numeral(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c) || "〇一二三四五六七八九十百千".contains(c)
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' | '々')
}

/// Every 「<name>第<n>号」 in `sentence`: (byte range, number). The name is the run of kanji (and
/// the month-day digits of 保医発0304第３号) before 第, without a leading 和暦 year.
fn numbers(sentence: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut out = Vec::new();
    for (at, _) in sentence.match_indices('第') {
        let after = &sentence[at + '第'.len_utf8()..];
        let digits: usize = after.chars().take_while(|&c| is_numeral(c)).map(char::len_utf8).sum();
        if digits == 0 || !after[digits..].starts_with('号') {
            continue;
        }
        let end = at + '第'.len_utf8() + digits + '号'.len_utf8();
        let before = &sentence[..at];
        // 保医発0304: the 発 abbreviation is followed by the issue month and day.
        let month_day: usize = before.chars().rev().take_while(|c| c.is_ascii_digit() || ('０'..='９').contains(c)).map(char::len_utf8).sum();
        let name_end = at - month_day;
        let name: usize = before[..name_end].chars().rev().take_while(|&c| is_han(c) && !"年月日付".contains(c)).take(16).map(char::len_utf8).sum();
        if name == 0 {
            continue; // 「第３号に掲げる」: an item, not a document
        }
        let mut start = name_end - name;
        // 「平成二十年厚生労働省告示第六十三号」: the year belongs to the citation, not the name.
        if let Some(y) = before[..name_end].rfind('年') {
            if y + '年'.len_utf8() > start {
                start = y + '年'.len_utf8();
            }
        }
        if start < end {
            out.push((start..end, sentence[start..end].to_string()));
        }
    }
    out
}

/// The 和暦 or 西暦 year written immediately before byte `at` (「平成二十年」 in 「平成二十年厚生労働省告示…」).
fn year_before(sentence: &str, at: usize) -> Option<i32> {
    let head = sentence[..at].strip_suffix('年')?;
    for era in ["令和", "平成", "昭和", "大正", "明治"] {
        if let Some(i) = head.rfind(era) {
            let y = &head[i + era.len()..];
            let n = if y == "元" { Some(1) } else { kanji_number(y) };
            if let Some(n) = n.and_then(|n| u32::try_from(n).ok()) {
                return crate::text::era_year_to_western(era, n);
            }
        }
    }
    None
}

/// Citations of other documents together with what the sentence does to them.
fn references(text: &str) -> Vec<Reference> {
    let mut out: Vec<Reference> = Vec::new();
    for (_, sentence) in sentences(text) {
        if !sentence.contains("廃止") && !sentence.contains("改正") {
            continue;
        }
        let dates = find_dates(sentence);
        let found = numbers(sentence);
        for (i, (range, number)) in found.iter().enumerate() {
            // 「令和２年４月１日付け総務第１２号」 or 「（令和２年３月５日保医発0305第１号）」: a full date just before.
            let date = dates.iter().find(|(r, _)| {
                let gap = sentence.get(r.end..range.start).unwrap_or("x");
                r.end <= range.start && (gap.is_empty() || gap == "付け" || gap == "付")
            });
            let year = if date.is_none() { year_before(sentence, range.start) } else { None };
            if date.is_none() && year.is_none() {
                continue; // a bare number (「第３号」) names no document
            }
            // What follows the citation, up to the next citation: the verb that applies to it.
            let tail_end = found.get(i + 1).map_or(sentence.len(), |(r, _)| r.start);
            let Some(tail) = sentence.get(range.end..tail_end) else { continue };
            let Some(kind) = action(tail) else { continue };
            let from = match kind {
                RelationKind::Abolishes => tail.find("限り廃止").and_then(|at| {
                    let before = &tail[..at];
                    find_dates(before).last().filter(|(r, _)| r.end == before.len()).and_then(|(_, d)| d.checked_add_signed(Duration::days(1)))
                }),
                RelationKind::Amends => None,
            };
            let reference = Reference {
                kind,
                number: number.clone(),
                date: date.map(|(_, d)| *d),
                year,
                from,
                evidence: sentence.chars().take(EVIDENCE_CHARS).collect(),
            };
            if !out.iter().any(|r| r.kind == reference.kind && number_key(&r.number) == number_key(&reference.number) && r.date == reference.date) {
                out.push(reference);
            }
        }
    }
    out
}

/// What the clause after a citation does to the cited document, if anything. A quoted title
/// (「…について」) or a closing bracket may come first; 「による改正」「に伴う」 mean the citation
/// is only the cause of something else.
fn action(tail: &str) -> Option<RelationKind> {
    let mut t = tail.trim_start_matches(['）', ')']);
    if t.starts_with('「') {
        t = &t[t.find('」').map_or(t.len(), |i| i + '」'.len_utf8())..];
    }
    for prefix in ["通知", "通達", "事務連絡", "告示", "訓令", "。"] {
        t = t.strip_prefix(prefix).unwrap_or(t);
    }
    if t.starts_with("による") || t.starts_with("に伴") || t.starts_with("に基づ") || t.starts_with("に規定") || t.starts_with("第") {
        return None;
    }
    // The verb must come before the clause ends (the next 、 that follows a verb-less stretch
    // is allowed: 「…は、令和６年３月31日限り廃止する」).
    let clause: String = t.chars().take(60).collect();
    let abolish = clause.find("廃止");
    let amend = clause.find("改正");
    match (abolish, amend) {
        (Some(a), Some(b)) if a < b => Some(RelationKind::Abolishes),
        (Some(_), None) => Some(RelationKind::Abolishes),
        (_, Some(b)) if !clause[..b].ends_with("による") && !clause[b..].starts_with("改正前") && !clause[b..].starts_with("改正後") => {
            Some(RelationKind::Amends)
        }
        _ => None,
    }
}

/// The form in which document numbers are compared: NFKC, no whitespace, every run of numerals
/// as its value (厚生労働省告示第六十三号 = 厚生労働省告示第63号, 総務第１２号 = 総務第12号).
pub fn number_key(number: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = number.nfkc().filter(|c| !c.is_whitespace()).collect();
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if !run.is_empty() {
            match kanji_number(run) {
                Some(n) => out.push_str(&n.to_string()),
                None => out.push_str(run),
            }
            run.clear();
        }
    };
    for c in folded.chars() {
        // Digits of 保医発0304 stay digits: only runs that are a number are converted.
        if is_numeral(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// One possible relation between two indexed documents: `source` cites a number that `target`
/// carries. It holds for a caller only when `target` is the one document among `candidates`
/// (every document the citation could mean) that the caller can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub kind: RelationKind,
    /// The document that abolishes or amends.
    pub source: String,
    /// The document abolished or amended.
    pub target: String,
    /// From when the action applies: the stated date, else the source's effective or issue date.
    pub from: Option<NaiveDate>,
    /// Every document the citation matches, `target` included.
    pub candidates: std::sync::Arc<[String]>,
}

impl Link {
    /// Whether the citation means `target` for a caller who knows exactly the documents `known`
    /// accepts. Ambiguity is judged among those documents only: a hidden document with the same
    /// number must not make a visible abolition ambiguous (and so reveal that it exists).
    fn resolves(&self, known: &dyn Fn(&str) -> bool) -> bool {
        known(&self.target) && self.candidates.iter().filter(|c| known(c)).count() == 1
    }
}

/// The relations between the documents of one generation, resolved by document number and date.
#[derive(Debug, Clone, Default)]
pub struct Relations {
    /// Target document id → links that point at it.
    incoming: HashMap<String, Vec<Link>>,
    /// Source document id → links it makes.
    outgoing: HashMap<String, Vec<Link>>,
}

/// Whether a document is in force on a date, for one caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InForce {
    /// 現行.
    InForce,
    /// 廃止済み: abolished by a document the caller can see.
    Superseded,
    /// 未施行: issued or effective after the date asked about.
    NotYetInForce,
}

impl InForce {
    pub fn label_ja(self) -> &'static str {
        match self {
            InForce::InForce => "現行",
            InForce::Superseded => "廃止済み",
            InForce::NotYetInForce => "未施行",
        }
    }
}

/// A document's status on a date, as one caller may know it.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub state: InForce,
    /// For [`InForce::Superseded`]: the abolishing document and the first day it applies.
    pub superseded_by: Option<(String, Option<NaiveDate>)>,
    /// For [`InForce::NotYetInForce`]: the day it takes effect.
    pub effective_from: Option<NaiveDate>,
    /// Documents (visible, issued by the date) that amend this one.
    pub amended_by: Vec<String>,
    /// Documents this one abolishes or amends (visible ones only).
    pub abolishes: Vec<String>,
    pub amends: Vec<String>,
}

impl Relations {
    /// Resolves every document's references against the others. A reference matches a document
    /// with the same number key and, where the citation gives them, the same date or year. All
    /// matches are kept: which one the reference means is decided per caller, among the documents
    /// that caller can see, and a reference that is ambiguous for the caller is dropped rather than
    /// guessed ([`Link::resolves`]).
    pub fn build<'a>(documents: impl IntoIterator<Item = &'a Document>) -> Relations {
        let documents: Vec<&Document> = documents.into_iter().collect();
        let mut by_key: HashMap<String, Vec<&Document>> = HashMap::new();
        for d in &documents {
            if let Some(n) = &d.number {
                by_key.entry(number_key(n)).or_default().push(d);
            }
        }
        let mut relations = Relations::default();
        for source in &documents {
            for r in &source.references {
                let candidates: Vec<&&Document> = by_key
                    .get(&number_key(&r.number))
                    .map(|v| {
                        v.iter()
                            .filter(|d| d.id != source.id)
                            .filter(|d| match (r.date, r.year, d.issued) {
                                (Some(date), _, Some(issued)) => date == issued,
                                (None, Some(year), Some(issued)) => chrono::Datelike::year(&issued) == year,
                                // An undated target (a law number without metadata) matches on the number alone.
                                _ => true,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let all: std::sync::Arc<[String]> = candidates.iter().map(|d| d.id.clone()).collect();
                for target in candidates {
                    let link = Link {
                        kind: r.kind,
                        source: source.id.clone(),
                        target: target.id.clone(),
                        from: r.from.or(source.effective).or(source.issued),
                        candidates: all.clone(),
                    };
                    relations.incoming.entry(link.target.clone()).or_default().push(link.clone());
                    relations.outgoing.entry(link.source.clone()).or_default().push(link);
                }
            }
        }
        for links in relations.incoming.values_mut().chain(relations.outgoing.values_mut()) {
            links.sort_by(|a, b| a.from.cmp(&b.from).then_with(|| a.source.cmp(&b.source)).then_with(|| a.target.cmp(&b.target)));
        }
        relations
    }

    /// Whether any document has a resolved relation (skips the ranking pass when none does).
    pub fn is_empty(&self) -> bool {
        self.incoming.is_empty()
    }

    /// The status of `doc` on `as_of` for a caller who sees exactly the documents `visible`
    /// accepts. A document abolished by one issued after `as_of`, or by one the caller cannot
    /// see, is in force for this caller.
    pub fn status(&self, documents: &HashMap<String, Document>, doc: &Document, as_of: NaiveDate, visible: &dyn Fn(&Document) -> bool) -> Status {
        let known = |id: &str| documents.get(id).filter(|d| visible(d));
        let sees = |id: &str| known(id).is_some();
        let issued_by = |d: &Document| d.issued.is_none_or(|i| i <= as_of);
        let incoming = self.incoming.get(&doc.id).map(Vec::as_slice).unwrap_or_default();
        let incoming: Vec<&Link> = incoming.iter().filter(|l| l.resolves(&sees)).collect();
        let superseded_by = incoming
            .iter()
            .filter(|l| l.kind == RelationKind::Abolishes)
            .filter(|l| known(&l.source).is_some_and(issued_by))
            .find(|l| l.from.is_none_or(|from| from <= as_of))
            .map(|l| (l.source.clone(), l.from));
        let amended_by = incoming
            .iter()
            .filter(|l| l.kind == RelationKind::Amends && l.from.is_none_or(|f| f <= as_of))
            .filter(|l| known(&l.source).is_some_and(issued_by))
            .map(|l| l.source.clone())
            .collect();
        let outgoing = self.outgoing.get(&doc.id).map(Vec::as_slice).unwrap_or_default();
        let targets = |kind| outgoing.iter().filter(|l| l.kind == kind && l.resolves(&sees)).map(|l| l.target.clone()).collect();
        let starts = doc.effective.max(doc.issued);
        let state = if superseded_by.is_some() {
            InForce::Superseded
        } else if starts.is_some_and(|s| s > as_of) {
            InForce::NotYetInForce
        } else {
            InForce::InForce
        };
        Status {
            state,
            superseded_by,
            effective_from: (state == InForce::NotYetInForce).then_some(starts).flatten(),
            amended_by,
            abolishes: targets(RelationKind::Abolishes),
            amends: targets(RelationKind::Amends),
        }
    }

    /// The line of succession through `doc`, oldest first: predecessors it (transitively)
    /// abolished, itself, then successors that abolished it, as far as the caller can see and
    /// as of `as_of`.
    pub fn chain(&self, documents: &HashMap<String, Document>, doc: &Document, as_of: NaiveDate, visible: &dyn Fn(&Document) -> bool) -> Vec<String> {
        let mut older = Vec::new();
        let mut cursor = doc.id.clone();
        while let Some(prev) = documents
            .get(&cursor)
            .map(|d| self.status(documents, d, as_of, visible).abolishes)
            .and_then(|a| a.into_iter().next())
            .filter(|p| *p != doc.id && !older.contains(p))
        {
            older.push(prev.clone());
            cursor = prev;
        }
        older.reverse();
        older.push(doc.id.clone());
        let mut cursor = doc.id.clone();
        while let Some((next, _)) =
            documents.get(&cursor).and_then(|d| self.status(documents, d, as_of, visible).superseded_by).filter(|(n, _)| !older.contains(n))
        {
            older.push(next.clone());
            cursor = next;
        }
        older
    }
}

/// Re-ranks `(document id, score)` pairs for the date `status` answers for: a document that
/// is not in force never ranks above the document of its line that is. A superseded document's
/// successor moves up to just above it, and so does the document in force that a not-yet-effective
/// one will replace. Everything else keeps its relevance order and every score is kept, so the
/// successor takes the place its predecessor earned and unrelated documents do not move.
pub fn prefer_in_force(ranked: &mut Vec<(String, f32)>, status: &dyn Fn(&str) -> Option<Status>) {
    let statuses: HashMap<String, Status> = ranked.iter().filter_map(|(id, _)| status(id).map(|s| (id.clone(), s))).collect();
    // Whether `later` must rank above `earlier`.
    let outranks = |later: &str, earlier: &str| {
        let Some(e) = statuses.get(earlier) else { return false };
        match e.state {
            InForce::Superseded => e.superseded_by.as_ref().is_some_and(|(s, _)| s == later),
            InForce::NotYetInForce => {
                e.abolishes.iter().any(|a| a == later) && statuses.get(later).is_some_and(|l| l.state == InForce::InForce)
            }
            InForce::InForce => false,
        }
    };
    // Chains are short; each pass moves one document, and the number of passes is bounded.
    for _ in 0..ranked.len() {
        let mut moved = false;
        'scan: for i in 0..ranked.len() {
            for j in i + 1..ranked.len() {
                if outranks(&ranked[j].0, &ranked[i].0) {
                    let item = ranked.remove(j);
                    ranked.insert(i, item);
                    moved = true;
                    break 'scan;
                }
            }
        }
        if !moved {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Access;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    fn section(text: &str) -> Section {
        Section { text: text.to_string(), page: None, anchor: None, heading: None }
    }

    fn doc(id: &str, number: &str, issued: NaiveDate, text: &str) -> Document {
        let life = read(DocType::Circular, &[section(text)], Some(issued));
        Document {
            id: id.into(),
            title: id.into(),
            doc_type: DocType::Circular,
            issuer: None,
            issued: Some(issued),
            number: Some(number.into()),
            source_path: String::new(),
            content_hash: String::new(),
            access: Access::default(),
            effective: life.effective,
            references: life.references,
            amended_by_laws: life.amended_by_laws,
            exchange: None,
        }
    }

    #[test]
    fn effective_dates_in_their_usual_phrasings() {
        let eff = |t: &str| effective_date(&flatten(t), Some(d(2019, 5, 7)));
        assert_eq!(eff("５　施行期日\nこの通知は、令和６年４月１日から施行する。"), Some(d(2024, 4, 1)));
        assert_eq!(eff("…の一部を次のように改正し、平成三十一年一月一日から適用する。"), Some(d(2019, 1, 1)));
        assert_eq!(eff("この通知は、令和元年十月一日から施行する。"), Some(d(2019, 10, 1)));
        assert_eq!(eff("この告示は、公布の日から施行する。"), Some(d(2019, 5, 7)));
        // The passive reports another rule; 同日 is the date just named.
        assert_eq!(eff("告示が公布され、令和２年９月１日から適用されること等に伴い、通知を改正し、同日から適用する。"), Some(d(2020, 9, 1)));
        // A line wrap inside the date.
        assert_eq!(eff("を下記のとおり改正し、平成29年10月１日\nから適用するので"), Some(d(2017, 10, 1)));
        assert_eq!(eff("条例が令和６年４月１日から施行されることとなったので"), None);
        assert_eq!(eff("この法律は、公布の日から、これを施行する。"), Some(d(2019, 5, 7)));
        assert_eq!(eff("この法律は、政令で定める日から施行する。ただし、次条の規定は、公布の日から施行する。"), None);
    }

    #[test]
    fn abolition_with_its_last_day() {
        let refs = references(&flatten("５　旧通知の廃止\n　令和２年４月１日付け総務第１２号通知は、令和６年３月31日限り廃止する。"));
        assert_eq!(refs.len(), 1, "{refs:?}");
        let r = &refs[0];
        assert_eq!((r.kind, r.number.as_str(), r.date, r.from), (RelationKind::Abolishes, "総務第１２号", Some(d(2020, 4, 1)), Some(d(2024, 4, 1))));
    }

    #[test]
    fn amendments_cited_by_date_or_by_year() {
        let refs = references(&flatten(
            "令和４年４月１日付け総務第３０号「公文書の保存期間の基準について（通知）」の一部を次のように改正するので、遺漏のないよう取り扱ってください。",
        ));
        assert_eq!(refs.iter().map(|r| (r.kind, r.number.as_str(), r.date)).collect::<Vec<_>>(), [(RelationKind::Amends, "総務第３０号", Some(d(2022, 4, 1)))]);
        let refs = references(&flatten(
            "特掲診療料の施設基準等（平成二十年厚生労働省告示第六十三号）の一部を次のように改正し、令和二年四月一日から適用する。",
        ));
        assert_eq!(refs.iter().map(|r| (r.kind, r.number.as_str(), r.year)).collect::<Vec<_>>(), [(RelationKind::Amends, "厚生労働省告示第六十三号", Some(2008))]);
        let refs = references(&flatten("「診療報酬の算定方法の一部改正に伴う実施上の留意事項について」（平成28年３月４日付け保医発0304第３号）を下記のとおり改正し、平成29年10月１日から適用する"));
        assert_eq!(refs.iter().map(|r| (r.kind, r.number.as_str(), r.date)).collect::<Vec<_>>(), [(RelationKind::Amends, "保医発0304第３号", Some(d(2016, 3, 4)))]);
    }

    #[test]
    fn mentions_are_not_relations() {
        // The citation is the cause of an amendment, or an item number; neither is an action on it.
        assert!(references(&flatten("基本診療料の施設基準等の一部を改正する件（令和二年厚生労働省告示第五十八号）による改正前の基準を満たすもの")).is_empty());
        assert!(references(&flatten("架空市手数料条例の一部を改正する条例（令和６年架空市条例第３号）が令和６年４月１日から施行されることとなった")).is_empty());
        assert!(references(&flatten("第３号に掲げる文書は廃止する。")).is_empty());
    }

    #[test]
    fn number_keys_ignore_numeral_style() {
        assert_eq!(number_key("厚生労働省告示第六十三号"), number_key("厚生労働省告示第63号"));
        assert_eq!(number_key("総務第１２号"), "総務第12号");
        assert_eq!(number_key("保医発0304第３号"), "保医発304第3号");
        assert_eq!(number_key("市民第二十一号"), number_key("市民第21号"));
        assert_ne!(number_key("総務第12号"), number_key("総務第120号"));
    }

    fn corpus() -> HashMap<String, Document> {
        let old = doc("old", "総務第１２号", d(2020, 4, 1), "この通知は、令和２年４月１日から施行する。");
        let new = doc(
            "new",
            "総務第１２３号",
            d(2024, 3, 15),
            "令和２年４月１日付け総務第１２号通知は、令和６年３月31日限り廃止する。この通知は、令和６年４月１日から施行する。",
        );
        let mut secret = doc("secret", "秘第1号", d(2024, 5, 1), "令和６年３月15日付け総務第百二十三号通知は、廃止する。");
        secret.access = Access { level: 3, groups: vec!["jinji".into()] };
        [old, new, secret].into_iter().map(|d| (d.id.clone(), d)).collect()
    }

    #[test]
    fn status_depends_on_the_date() {
        let docs = corpus();
        let rel = Relations::build(docs.values());
        let public = |d: &Document| d.access.level <= 1;
        let at = |id: &str, date| rel.status(&docs, &docs[id], date, &public);
        assert_eq!(at("old", d(2023, 1, 1)).state, InForce::InForce);
        assert_eq!(at("new", d(2023, 1, 1)).state, InForce::NotYetInForce);
        assert_eq!(at("new", d(2023, 1, 1)).effective_from, Some(d(2024, 4, 1)));
        // Issued on 3/15 but the old one stays in force through 3/31.
        assert_eq!(at("old", d(2024, 3, 31)).state, InForce::InForce);
        let s = at("old", d(2024, 4, 1));
        assert_eq!((s.state, s.superseded_by), (InForce::Superseded, Some(("new".to_string(), Some(d(2024, 4, 1))))));
        assert_eq!(at("new", d(2024, 4, 1)).abolishes, ["old"]);
        assert_eq!(rel.chain(&docs, &docs["new"], d(2024, 4, 1), &public), ["old", "new"]);
        assert_eq!(rel.chain(&docs, &docs["old"], d(2024, 4, 1), &public), ["old", "new"]);
    }

    #[test]
    fn a_successor_the_caller_cannot_see_changes_nothing() {
        let docs = corpus();
        let rel = Relations::build(docs.values());
        let public = |d: &Document| d.access.level <= 1;
        let cleared = |_: &Document| true;
        let s = rel.status(&docs, &docs["new"], d(2025, 1, 1), &public);
        assert_eq!((s.state, s.superseded_by), (InForce::InForce, None));
        assert_eq!(rel.chain(&docs, &docs["new"], d(2025, 1, 1), &public), ["old", "new"]);
        assert_eq!(rel.status(&docs, &docs["new"], d(2025, 1, 1), &cleared).state, InForce::Superseded);
        assert_eq!(rel.chain(&docs, &docs["old"], d(2025, 1, 1), &cleared), ["old", "new", "secret"]);
    }

    #[test]
    fn a_hidden_document_with_the_same_number_does_not_make_an_abolition_ambiguous() {
        let mut docs = corpus();
        let mut twin = doc("twin", "総務第12号", d(2020, 4, 1), "同じ番号の非公開文書。");
        twin.access = Access { level: 3, groups: vec![] };
        docs.insert(twin.id.clone(), twin);
        let rel = Relations::build(docs.values());
        let public = |d: &Document| d.access.level <= 1;
        let s = rel.status(&docs, &docs["old"], d(2025, 1, 1), &public);
        assert_eq!(s.state, InForce::Superseded, "the public caller sees one 総務第12号 and its abolition");
        assert_eq!(rel.status(&docs, &docs["new"], d(2025, 1, 1), &public).abolishes, ["old"]);
        // A caller who sees both cannot tell which one the abolition means: it is dropped.
        let cleared = |_: &Document| true;
        assert_eq!(rel.status(&docs, &docs["old"], d(2025, 1, 1), &cleared).state, InForce::InForce);
        assert!(rel.status(&docs, &docs["new"], d(2025, 1, 1), &cleared).abolishes.is_empty());
    }

    #[test]
    fn superseded_documents_rank_below_their_successors() {
        let docs = corpus();
        let rel = Relations::build(docs.values());
        let public = |d: &Document| d.access.level <= 1;
        let status = |id: &str| docs.get(id).map(|doc| rel.status(&docs, doc, d(2025, 1, 1), &public));
        let mut ranked = vec![("x".to_string(), 1.0), ("old".to_string(), 0.9), ("other".to_string(), 0.8), ("new".to_string(), 0.2)];
        prefer_in_force(&mut ranked, &status);
        let order: Vec<&str> = ranked.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(order, ["x", "new", "old", "other"], "the successor takes its predecessor's place");
        assert_eq!(ranked[1].1, 0.2, "scores are kept");
        // Before the abolition applies, the old rule is in force and the new one not yet: the
        // old one goes first.
        let status = |id: &str| docs.get(id).map(|doc| rel.status(&docs, doc, d(2024, 3, 20), &public));
        let mut ranked = vec![("new".to_string(), 1.0), ("other".to_string(), 0.5), ("old".to_string(), 0.2)];
        prefer_in_force(&mut ranked, &status);
        let order: Vec<&str> = ranked.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(order, ["old", "new", "other"]);
        // Unrelated documents never move.
        let mut ranked = vec![("a".to_string(), 1.0), ("b".to_string(), 0.5)];
        prefer_in_force(&mut ranked, &status);
        assert_eq!(ranked[0].0, "a");
    }
}
