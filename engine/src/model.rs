//! Domain types shared by every stage: what a document is, what a passage is, and who may see it.
//!
//! A [`Document`] is one source unit (a circular, a law, one meeting's minutes); it is cut into
//! [`Passage`]s, the unit that is indexed, retrieved, cited and access-checked. Passage ids are
//! derived from the document id and the passage's position, so re-indexing the same text gives
//! the same ids.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The kind of administrative document, as officials file them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DocType {
    /// 法令 (e-Gov law XML).
    Law,
    /// 告示.
    Notice,
    /// 通知・通達・事務連絡.
    Circular,
    /// 白書.
    WhitePaper,
    /// ガイドライン・指針・計画.
    Guideline,
    /// 会議録.
    Minutes,
    /// Anything else.
    #[default]
    Other,
}

impl DocType {
    /// The stable name used in the index, the API and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            DocType::Law => "law",
            DocType::Notice => "notice",
            DocType::Circular => "circular",
            DocType::WhitePaper => "white_paper",
            DocType::Guideline => "guideline",
            DocType::Minutes => "minutes",
            DocType::Other => "other",
        }
    }

    /// The Japanese label shown to officials.
    pub fn label_ja(self) -> &'static str {
        match self {
            DocType::Law => "法令",
            DocType::Notice => "告示",
            DocType::Circular => "通知・通達",
            DocType::WhitePaper => "白書",
            DocType::Guideline => "指針・計画",
            DocType::Minutes => "会議録",
            DocType::Other => "その他",
        }
    }

    /// Parses [`DocType::as_str`] back.
    pub fn parse(s: &str) -> Option<DocType> {
        Some(match s {
            "law" => DocType::Law,
            "notice" => DocType::Notice,
            "circular" => DocType::Circular,
            "white_paper" => DocType::WhitePaper,
            "guideline" => DocType::Guideline,
            "minutes" => DocType::Minutes,
            "other" => DocType::Other,
            _ => return None,
        })
    }
}

/// Who may see a document: a classification level (機密性1/2/3) and groups.
///
/// A passage is visible to a caller when `level <= clearance` and either `groups` is empty or
/// it shares a group with the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Access {
    /// 機密性 level: 1 (public inside the office) to 3 (most restricted).
    pub level: u8,
    /// Groups allowed to see the document; empty means everyone with enough clearance.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Default for Access {
    fn default() -> Self {
        Access { level: 1, groups: Vec::new() }
    }
}

/// One indexed document's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Document {
    /// Stable id (derived from the source path, plus a suffix for multi-document files).
    pub id: String,
    pub title: String,
    pub doc_type: DocType,
    /// 発出者 / 所管 (e.g. 厚生労働省保険局).
    pub issuer: Option<String>,
    /// Issue or promulgation date.
    pub issued: Option<NaiveDate>,
    /// 文書番号 / 法令番号 (e.g. 厚生労働省告示第五十九号).
    pub number: Option<String>,
    /// Path of the source file relative to its source root.
    pub source_path: String,
    /// sha256 of the source file's bytes.
    pub content_hash: String,
    pub access: Access,
    /// 施行日 / 適用日, where the text states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<NaiveDate>,
    /// Documents this one abolishes or amends, as cited in its text (resolved to indexed
    /// documents by [`crate::govern::validity::Relations`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// For laws: the amending laws recorded in its 附則.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amended_by_laws: Vec<String>,
    /// For a question and its answers cut out of minutes (質疑): who asked, who answered, where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<Exchange>,
}

/// A member's question in an assembly and the answers that followed it, until the next member
/// spoke (一問一答の質疑). It is indexed as a document of its own: its first passages are the
/// question (anchor [`Exchange::QUESTION`] …), the rest the answers (anchor [`Exchange::ANSWER`] …),
/// so retrieval, access labels and citations work on it as on any document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Exchange {
    /// 院名 or the assembly (衆議院, 架空市議会).
    pub house: String,
    /// 会議名 (総務委員会, 本会議, 令和6年第2回定例会).
    pub meeting: String,
    /// 号 (第3号), where the record gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    /// 国会回次, for Diet records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u32>,
    /// Position of the question among the meeting's speeches (発言番号), for ordering and links.
    pub order: u32,
    pub questioner: Speaker,
    /// Everyone who answered, in speaking order.
    pub answerers: Vec<Speaker>,
    /// Link to the question in the published minutes (NDL `speechURL`), where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Exchange {
    /// Anchor prefix of the question's passages.
    pub const QUESTION: &'static str = "質問";
    /// Anchor prefix of the answers' passages.
    pub const ANSWER: &'static str = "答弁";

    /// Whether a passage with `anchor` belongs to the answers.
    pub fn is_answer_anchor(anchor: Option<&str>) -> bool {
        anchor.is_some_and(|a| a.starts_with(Exchange::ANSWER))
    }
}

/// Someone who spoke in a meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Speaker {
    pub name: String,
    /// 会派, for members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// 肩書き (総務大臣, 政府参考人（総務省自治行政局長）, 市長, 健康福祉部長).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

impl Speaker {
    /// How a citation names the speaker: 「武田良太（総務大臣）」, 「山田太郎（立憲民主党）」.
    pub fn cited(&self) -> String {
        match self.position.as_deref().or(self.group.as_deref()) {
            Some(p) if !p.is_empty() => format!("{}（{}）", self.name, p),
            _ => self.name.clone(),
        }
    }
}

/// The unit of retrieval and citation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Passage {
    /// Deterministic id: `<doc id>#<ordinal>`.
    pub id: String,
    pub doc_id: String,
    /// Position of the passage within its document, from 0.
    pub ordinal: u32,
    /// The passage text exactly as stored and shown (normalised).
    pub text: String,
    /// 1-based PDF page, where the source has pages.
    pub page: Option<u32>,
    /// Citation anchor: 第十七条第二項, a heading, or a speaker.
    pub anchor: Option<String>,
    /// Character offsets of `text` within the document's full normalised text.
    pub start: usize,
    pub end: usize,
}

impl Passage {
    /// The deterministic id of the `ordinal`-th passage of `doc_id`.
    pub fn make_id(doc_id: &str, ordinal: u32) -> String {
        format!("{doc_id}#{ordinal}")
    }
}

/// What a search may return: the caller's rights plus the user's own filters. Both engines apply
/// it inside the search, before top-k.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// Caller clearance: passages with a higher level are invisible.
    pub max_level: u8,
    /// Caller groups: a passage is visible when its groups are empty or intersect these.
    pub groups: Vec<String>,
    /// [`DocType::as_str`] values; empty means any.
    pub doc_types: Vec<String>,
    /// Issuing bodies; empty means any.
    pub issuers: Vec<String>,
    /// Inclusive bounds on the issue date, in days since 1970-01-01.
    pub issued_from: Option<i64>,
    pub issued_to: Option<i64>,
    /// Restrict to these documents.
    pub doc_ids: Option<Vec<String>>,
}

impl Filter {
    /// A filter for a caller with `clearance` and `groups` and no other restriction.
    pub fn for_caller(clearance: u8, groups: Vec<String>) -> Filter {
        Filter { max_level: clearance, groups, doc_types: Vec::new(), issuers: Vec::new(), issued_from: None, issued_to: None, doc_ids: None }
    }

    /// Everything (tools and evaluation only, never for a request).
    pub fn unrestricted() -> Filter {
        Filter::for_caller(u8::MAX, Vec::new())
    }

    /// Whether a document with `access` passes the access part of this filter.
    pub fn allows(&self, access: &Access) -> bool {
        access.level <= self.max_level
            && (access.groups.is_empty() || access.groups.iter().any(|g| self.groups.contains(g)))
    }
}

/// What a document does to the one it cites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    /// 「…は、廃止する」: the cited document is no longer in force.
    Abolishes,
    /// 「…の一部を次のように改正する」: the cited document stays in force, changed.
    Amends,
}

/// A citation of another document together with what this document does to it (read from the
/// text by [`crate::govern::validity::read`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reference {
    pub kind: RelationKind,
    /// The cited 文書番号 as written (総務第１２号, 厚生労働省告示第六十三号).
    pub number: String,
    /// The cited document's date, where the citation gives one in full (「令和２年４月１日付け」).
    pub date: Option<NaiveDate>,
    /// The cited document's year, where only the year is given (「平成二十年…告示第六十三号」).
    pub year: Option<i32>,
    /// The first day the action applies, where the text says so: the day after 「…限り廃止」.
    pub from: Option<NaiveDate>,
    /// The sentence the reference was read from, shown as evidence.
    pub evidence: String,
}

/// Group value stored (keyword index, vector store) for passages without a group restriction, so that the access rule
/// "groups intersect, or there are none" is one term-set query.
pub const OPEN_GROUP: &str = "*";
