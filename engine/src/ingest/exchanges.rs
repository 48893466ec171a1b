//! Question-and-answer exchanges (質疑) cut out of a meeting's minutes.
//!
//! Minutes readers ([`super::minutes`] for the Diet's records, [`super::assembly`] for the plain
//! text local assemblies publish) turn a file into [`Meeting`]s: speeches in speaking order, each
//! with its speaker and that speaker's [`Role`]. [`documents`] pairs them: a member's speech opens
//! an exchange, the answers that follow (ministers, 政府参考人, 市長, 部長 …) join it until the next
//! member speaks, and the chair's calls (「武田総務大臣。」) are passed over. Each exchange with at
//! least one answer becomes a document of its own, with the question and answer sections anchored
//! 「質問 …」 and 「答弁 …」 and an [`Exchange`] record, so the precedent search finds and cites it
//! like any document. Speeches that belong to no exchange (the chair, statements nobody answered)
//! stay in the meeting's own document, one section per speech, as before: nothing is lost.
//!
//! Records that carry no positions at all (a speaker name only) cannot be paired; their meeting is
//! one document, exactly as the older minutes lines were indexed.

use chrono::NaiveDate;

use super::document::{ExtractedDocument, Section};
use crate::model::{DocType, Exchange, Speaker};

/// 〔拍手〕〔「異議なし」と呼ぶ者あり〕: what the stenographer saw, not what was said.
static STAGE_DIRECTION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| regex::Regex::new(r"〔[^〕]{0,80}〕").expect("valid regex"));

/// A speech's text without its stage directions; both minutes readers drop them.
pub(crate) fn without_directions(text: &str) -> std::borrow::Cow<'_, str> {
    STAGE_DIRECTION.replace_all(text, "")
}

/// What a speaker does in a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// 議長, 委員長 …: calls the next speaker, asks nothing, answers nothing.
    Chair,
    /// A member (委員, 議員, 「3番」): asks.
    Member,
    /// The executive side and witnesses: answers.
    Answerer,
}

/// Positions of whoever chairs a meeting. Matched whole, so 「選挙管理委員会委員長」 (who answers)
/// is not taken for the chair.
const CHAIR: &[&str] = &["議長", "副議長", "仮議長", "臨時議長", "委員長", "副委員長", "委員長代理", "委員長代行", "会長", "主査", "分科会主査", "理事"];

/// Positions that mark a member.
const MEMBER: &[&str] = &["委員", "議員", "分科員", "副主査"];

/// Speaker roles of the Diet's records that answer questions though their position is empty.
const WITNESS: &[&str] = &["参考人", "公述人", "証人", "政府参考人"];

/// The role of a speaker with `position` (肩書き, possibly empty) and the record's `role`
/// (the Diet's speakerRole, possibly empty).
pub(crate) fn role_of(position: &str, role: &str) -> Role {
    let position = position.trim();
    if CHAIR.contains(&position) {
        return Role::Chair;
    }
    if WITNESS.iter().any(|w| role.contains(w)) {
        return Role::Answerer;
    }
    let numbered_seat = position.strip_suffix('番').is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if position.is_empty() || MEMBER.contains(&position) || numbered_seat {
        return Role::Member;
    }
    Role::Answerer
}

/// One speech of a meeting.
#[derive(Debug, Clone)]
pub(crate) struct Speech {
    /// 発言番号, or the position in the file.
    pub order: u32,
    pub speaker: Speaker,
    pub role: Role,
    /// Normalised text without the 「○山田太郎君　」 prefix.
    pub text: String,
    pub url: Option<String>,
}

/// One meeting's speeches and what a citation of it needs.
#[derive(Debug, Clone)]
pub(crate) struct Meeting {
    /// The meeting document's key inside its file (`<date>-<house>-<meeting>`).
    pub key: String,
    pub house: String,
    pub meeting: String,
    pub issue: Option<String>,
    pub session: Option<u32>,
    pub date: Option<NaiveDate>,
    /// Whether the records name positions, so that questions and answers can be told apart.
    pub structured: bool,
    /// The title of a meeting whose records name neither house, meeting nor date.
    pub untitled: &'static str,
    pub speeches: Vec<Speech>,
}

impl Meeting {
    fn title(&self) -> String {
        let day = self.date.map(|d| d.to_string()).unwrap_or_default();
        let parts = [self.house.as_str(), self.meeting.as_str(), self.issue.as_deref().unwrap_or(""), day.as_str()];
        let title = parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join(" ");
        if title.is_empty() { self.untitled.to_string() } else { title }
    }

    fn document(&self, key: String, title: String, sections: Vec<Section>, exchange: Option<Exchange>) -> ExtractedDocument {
        ExtractedDocument {
            key,
            title,
            doc_type: DocType::Minutes,
            issuer: (!self.house.is_empty()).then(|| self.house.clone()),
            issued: self.date,
            number: self.issue.clone(),
            sections,
            exchange,
        }
    }
}

fn section(text: &str, anchor: String) -> Section {
    Section { text: text.to_string(), page: None, anchor: Some(anchor), heading: None }
}

/// The meeting's documents: one per exchange with an answer, and the meeting itself with every
/// speech no exchange holds (omitted when there is none).
pub(crate) fn documents(meeting: Meeting) -> Vec<ExtractedDocument> {
    if !meeting.structured {
        let sections = meeting.speeches.iter().map(|s| Section { text: s.text.clone(), page: None, anchor: Some(s.speaker.name.clone()).filter(|n| !n.is_empty()), heading: None }).collect();
        let title = meeting.title();
        return vec![meeting.document(meeting.key.clone(), title, sections, None)];
    }
    // Exchanges as ranges of speech indices: the question, then its answers.
    let mut exchanges: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut open: Option<(usize, Vec<usize>)> = None;
    for (i, s) in meeting.speeches.iter().enumerate() {
        match s.role {
            Role::Chair => {}
            Role::Member => {
                if let Some(done) = open.take() {
                    exchanges.push(done);
                }
                open = Some((i, Vec::new()));
            }
            Role::Answerer => {
                if let Some((_, answers)) = open.as_mut() {
                    answers.push(i);
                }
            }
        }
    }
    exchanges.extend(open);
    exchanges.retain(|(_, answers)| !answers.is_empty());

    let mut paired = vec![false; meeting.speeches.len()];
    let mut docs = Vec::new();
    for (q, answers) in &exchanges {
        let question = &meeting.speeches[*q];
        paired[*q] = true;
        let mut sections = vec![section(&question.text, format!("{} {}", Exchange::QUESTION, question.speaker.cited()))];
        let mut answerers: Vec<Speaker> = Vec::new();
        for &a in answers {
            paired[a] = true;
            let answer = &meeting.speeches[a];
            sections.push(section(&answer.text, format!("{} {}", Exchange::ANSWER, answer.speaker.cited())));
            if !answerers.contains(&answer.speaker) {
                answerers.push(answer.speaker.clone());
            }
        }
        let exchange = Exchange {
            house: meeting.house.clone(),
            meeting: meeting.meeting.clone(),
            issue: meeting.issue.clone(),
            session: meeting.session,
            order: question.order,
            questioner: question.speaker.clone(),
            answerers,
            url: question.url.clone(),
        };
        let title = format!("{} 質疑 {}", meeting.title(), question.speaker.name);
        docs.push(meeting.document(format!("{}-{:04}", meeting.key, question.order), title, sections, Some(exchange)));
    }
    let rest: Vec<Section> = meeting
        .speeches
        .iter()
        .zip(&paired)
        .filter(|(_, p)| !**p)
        .map(|(s, _)| Section { text: s.text.clone(), page: None, anchor: Some(s.speaker.cited()).filter(|n| !n.is_empty()), heading: None })
        .collect();
    if !rest.is_empty() {
        let title = meeting.title();
        docs.push(meeting.document(meeting.key.clone(), title, rest, None));
    }
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speech(order: u32, name: &str, position: &str, text: &str) -> Speech {
        let position = (!position.is_empty()).then(|| position.to_string());
        let role = role_of(position.as_deref().unwrap_or(""), "");
        Speech { order, speaker: Speaker { name: name.into(), group: None, position }, role, text: text.into(), url: None }
    }

    #[test]
    fn roles_from_positions() {
        assert_eq!(role_of("委員長", ""), Role::Chair);
        assert_eq!(role_of("議長", ""), Role::Chair);
        assert_eq!(role_of("", ""), Role::Member);
        assert_eq!(role_of("3番", ""), Role::Member);
        assert_eq!(role_of("委員", ""), Role::Member);
        assert_eq!(role_of("総務大臣", ""), Role::Answerer);
        assert_eq!(role_of("政府参考人（総務省自治行政局長）", ""), Role::Answerer);
        assert_eq!(role_of("選挙管理委員会委員長", ""), Role::Answerer);
        assert_eq!(role_of("健康福祉部長", ""), Role::Answerer);
        assert_eq!(role_of("", "参考人"), Role::Answerer);
    }

    #[test]
    fn pairs_each_question_with_the_answers_before_the_next_member() {
        let meeting = Meeting {
            key: "2021-03-02-衆議院-総務委員会".into(),
            house: "衆議院".into(),
            meeting: "総務委員会".into(),
            issue: Some("第3号".into()),
            session: Some(204),
            date: NaiveDate::from_ymd_opt(2021, 3, 2),
            structured: true,
            untitled: "会議録",
            speeches: vec![
                speech(1, "委員長甲", "委員長", "これより会議を開きます。山田太郎君。"),
                speech(2, "山田太郎", "", "地方交付税の算定について伺います。"),
                speech(3, "委員長甲", "委員長", "武田総務大臣。"),
                speech(4, "武田良太", "総務大臣", "算定は法律に基づき行っております。"),
                speech(5, "乙野次郎", "政府参考人（総務省自治財政局長）", "補足いたします。"),
                speech(6, "山田太郎", "", "終わります。"),
                speech(7, "佐藤花子", "", "次に、ふるさと納税について伺います。"),
                speech(8, "武田良太", "総務大臣", "返礼品の基準を定めております。"),
            ],
        };
        let docs = documents(meeting);
        assert_eq!(docs.len(), 3, "{docs:#?}");
        let first = &docs[0];
        assert_eq!(first.key, "2021-03-02-衆議院-総務委員会-0002");
        assert_eq!(first.title, "衆議院 総務委員会 第3号 2021-03-02 質疑 山田太郎");
        assert_eq!(first.number.as_deref(), Some("第3号"));
        let anchors: Vec<&str> = first.sections.iter().filter_map(|s| s.anchor.as_deref()).collect();
        assert_eq!(anchors, ["質問 山田太郎", "答弁 武田良太（総務大臣）", "答弁 乙野次郎（政府参考人（総務省自治財政局長））"]);
        let ex = first.exchange.as_ref().unwrap();
        assert_eq!(ex.order, 2);
        assert_eq!(ex.session, Some(204));
        assert_eq!(ex.answerers.len(), 2);
        assert_eq!(docs[1].sections.len(), 2);
        assert_eq!(docs[1].exchange.as_ref().unwrap().questioner.name, "佐藤花子");
        // The chair and the unanswered 「終わります。」 stay in the meeting's document.
        let rest = &docs[2];
        assert_eq!(rest.key, "2021-03-02-衆議院-総務委員会");
        assert!(rest.exchange.is_none());
        let texts: Vec<&str> = rest.sections.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["これより会議を開きます。山田太郎君。", "武田総務大臣。", "終わります。"]);
    }

    #[test]
    fn unstructured_meetings_stay_one_document() {
        let meeting = Meeting {
            key: "k".into(),
            house: "衆議院".into(),
            meeting: "本会議".into(),
            issue: None,
            session: None,
            date: None,
            structured: false,
            untitled: "会議録",
            speeches: vec![speech(1, "甲", "", "質問します。"), speech(2, "乙", "", "答えます。")],
        };
        let docs = documents(meeting);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].sections[0].anchor.as_deref(), Some("甲"));
        assert!(docs[0].exchange.is_none());
    }
}
