//! Local assembly minutes (都道府県・市町村議会の会議録) published as plain text.
//!
//! Assemblies publish their minutes as text in which each speech opens with a marker:
//! 「○議長（山田太郎君）」, 「○市長（鈴木一郎君）」, 「○３番（佐藤花子君）」, 「○健康福祉部長（…君）」,
//! 「○佐藤花子議員」, or in committees the surname and position (「○村瀬委員」「○長谷部委員長」
//! 「○小田切総務部長」), and stage directions stand in 〔 〕 (〔拍手〕, 〔「異議なし」と呼ぶ者あり〕). The
//! header before the first speech names the assembly, the session and its 号
//! (「令和６年第２回架空市議会定例会会議録（第３号）」) and the date. [`looks_like`] tells such a file
//! from other plain text; [`extract`] reads its speeches and hands them to
//! [`super::exchanges::documents`], which pairs each member's question with the answers after it.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::document::{ExtractedDocument, IngestError};
use super::exchanges::{documents, role_of, without_directions, Meeting, Role, Speech};
use crate::model::Speaker;
use crate::text::{find_dates, normalize};

/// 「○市長（鈴木一郎君）」: the position (or seat number) and the name in brackets, with its
/// honorific, so that a header line 「○出席議員（２２名）」 is not taken for a speech.
static BRACKETED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[○◯]\s*([^（(\s]{1,30})[（(]\s*([^）)]{1,20}?)\s*(?:君|議員|さん|氏)\s*[）)]\s*(.*)$").expect("valid regex")
});

/// 「○村瀬委員　…」「○長谷部委員長　…」「○小田切総務部長　…」: a committee's markers, the surname
/// run together with the position, without brackets ([`split_surname`] parts them).
static SURNAME_TITLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[○◯]\s*([^\s（(○]{2,24})[\s　]+(.+)$").expect("valid regex"));

/// Positions a committee marker may end with; the chair's and members' first, longest first.
const TITLES: &[&str] = &["副委員長", "委員長", "委員", "副議長", "議長", "市長", "町長", "村長", "区長", "知事", "部長", "局長", "課長", "教育長", "室長", "次長", "所長", "管理者", "監査委員"];

/// 「説明のため出席した者」 lines: 「総務部長　　小田切　　仁　君」 (position, name).
static ROSTER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*([^\s○]{2,20}?)[\s　]{2,}((?:[^\s　君][\s　]*){2,10}?)[\s　]*君\s*$").expect("valid regex"));

/// Parts 「小田切総務部長」 into surname and position: by the header's roster where it lists the
/// position (「総務部長　小田切　仁　君」), else by the fixed words of the chair and members, else
/// the first two characters are taken for the surname. `None` when the token ends with no title.
fn split_surname(token: &str, roster: &[(String, String)]) -> Option<(String, String)> {
    if let Some((position, name)) = roster.iter().filter(|(p, _)| token.ends_with(p.as_str()) && token.len() > p.len()).max_by_key(|(p, _)| p.len()) {
        let surname = &token[..token.len() - position.len()];
        let name = if name.starts_with(surname) { name.clone() } else { surname.to_string() };
        return Some((position.clone(), name));
    }
    let title = TITLES.iter().find(|t| token.ends_with(*t))?;
    let fixed = ["副委員長", "委員長", "委員", "副議長", "議長"];
    let cut = if fixed.contains(title) { token.len() - title.len() } else { token.char_indices().nth(2).map_or(token.len(), |(i, _)| i) };
    let (surname, position) = token.split_at(cut);
    (!surname.is_empty() && !position.is_empty()).then(|| (position.to_string(), surname.to_string()))
}

/// 「○佐藤花子議員　…」: a member named without a position.
static MEMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[○◯]\s*([^\s（(]{1,12}?)(?:議員|君)\s+(.*)$").expect("valid regex"));

/// The assembly in the header: 「架空市議会」「東京都議会」「○○町議会」.
static ASSEMBLY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"([^\s　第回年0-9０-９]{1,12}?[都道府県市区町村]議会)").expect("valid regex"));

/// The session: 「第２回定例会」「臨時会」「予算特別委員会」.
static SESSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"((?:令和|平成)\s*[0-9０-９元]+\s*年)?\s*(第\s*[0-9０-９]+\s*回)?[^\s　]*?議会\s*((?:定例|臨時)会|[^\s　（(]*委員会)").expect("valid regex")
});

/// The 号: 「（第３号）」.
static ISSUE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[（(]\s*(第\s*[0-9０-９]+\s*号)\s*[）)]").expect("valid regex"));

/// Header lines read for the assembly, session and date.
const HEADER_LINES: usize = 40;

/// Whether `text` reads as assembly minutes: at least three speech markers, one of them the
/// chair's.
pub(crate) fn looks_like(text: &str) -> bool {
    let mut markers = 0;
    let mut chair = false;
    for line in text.lines().take(5000) {
        let line = line.trim_start();
        let position = BRACKETED.captures(line).map(|c| c[1].to_string()).or_else(|| SURNAME_TITLE.captures(line).and_then(|c| split_surname(&normalize(&c[1]), &[])).map(|(p, _)| p));
        if let Some(position) = position {
            markers += 1;
            chair |= role_of(&normalize(&position), "") == Role::Chair;
        }
        if markers >= 3 && chair {
            return true;
        }
    }
    false
}

/// A speech being read: its speaker and its lines so far.
struct Open {
    speaker: Speaker,
    role: Role,
    lines: Vec<String>,
}

/// Reads the meeting of one file of assembly minutes.
pub(crate) fn extract(path: &Path, source: &str) -> Result<Vec<ExtractedDocument>, IngestError> {
    let header: Vec<String> = source.lines().take(HEADER_LINES).map(normalize).collect();
    let header = header.join("\n");
    let house = ASSEMBLY.captures(&header).map(|c| c[1].to_string()).unwrap_or_default();
    let meeting = SESSION
        .captures(&header)
        .map(|c| [c.get(1), c.get(2), c.get(3)].iter().flatten().map(|m| m.as_str().replace(' ', "")).collect::<String>())
        .unwrap_or_default();
    let issue = ISSUE.captures(&header).map(|c| c[1].replace(' ', ""));
    let date = find_dates(&header).into_iter().map(|(_, d)| d).next();
    let roster: Vec<(String, String)> = source
        .lines()
        .take(HEADER_LINES)
        .filter(|l| !l.trim_start().starts_with(['○', '◯']))
        .filter_map(|l| ROSTER.captures(l).map(|c| (normalize(&c[1]), normalize(&c[2]).replace([' ', '\u{3000}'], ""))))
        .collect();

    let mut speeches: Vec<Speech> = Vec::new();
    let mut open: Option<Open> = None;
    let close = |open: Option<Open>, speeches: &mut Vec<Speech>| {
        let Some(o) = open else { return };
        let text = normalize(without_directions(&o.lines.join("\n")).trim());
        if !text.is_empty() {
            let order = speeches.len() as u32 + 1;
            speeches.push(Speech { order, speaker: o.speaker, role: o.role, text, url: None });
        }
    };
    for raw in source.lines() {
        let line = raw.trim();
        let marker = if let Some(c) = BRACKETED.captures(line) {
            let position = normalize(&c[1]);
            let name = normalize(&c[2]).replace([' ', '\u{3000}'], "");
            Some((position, name, c[3].to_string()))
        } else if let Some((c, (position, name))) = SURNAME_TITLE.captures(line).and_then(|c| split_surname(&normalize(&c[1]), &roster).map(|p| (c, p))) {
            Some((position, name, c[2].to_string()))
        } else {
            MEMBER.captures(line).map(|c| (String::new(), normalize(&c[1]), c[2].to_string()))
        };
        match marker {
            Some((position, name, rest)) => {
                close(open.take(), &mut speeches);
                let role = role_of(&position, "");
                // A member's seat number (「３番」) is not a position worth citing.
                let position = (role != Role::Member && !position.is_empty()).then_some(position);
                open = Some(Open { speaker: Speaker { name, group: None, position }, role, lines: vec![rest] });
            }
            None => {
                if let Some(o) = open.as_mut() {
                    o.lines.push(line.to_string());
                }
            }
        }
    }
    close(open.take(), &mut speeches);
    if speeches.is_empty() {
        return Err(IngestError::Malformed {
            path: path.to_path_buf(),
            detail: "no speech found in the assembly minutes (expected lines opening with 「○議長（山田太郎君）」-style markers)".into(),
        });
    }
    let day = date.map(|d| d.to_string()).unwrap_or_default();
    let meeting = Meeting {
        key: format!("{day}-{house}-{meeting}"),
        house,
        meeting,
        issue,
        session: None,
        date,
        structured: true,
        untitled: "議会会議録",
        speeches,
    };
    Ok(documents(meeting))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    const MINUTES: &str = "令和６年第２回架空市議会定例会会議録（第３号）
令和６年６月１１日（火曜日）
出席議員（２０名）
――――――――――――――――――
○議長（長谷部典子君）　ただいまから本日の会議を開きます。
　日程第１、一般質問を行います。３番、佐藤花子議員。
〔３番　佐藤花子君登壇〕
○３番（佐藤花子君）　おはようございます。
　住民票の写しのコンビニ交付について伺います。手数料はいくらですか。
○議長（長谷部典子君）　市長。
〔市長　鈴木一郎君登壇〕
○市長（鈴木一郎君）　佐藤議員の御質問にお答えいたします。
　コンビニ交付の手数料は、一通二百円としております。〔拍手〕
○市民課長（大河内誠君）　補足いたします。窓口より百円安く設定しております。
○３番（佐藤花子君）　ありがとうございました。終わります。
○議長（長谷部典子君）　以上で一般質問を終わります。\n";

    #[test]
    fn committee_markers_and_roster_lines() {
        let text = "令和６年架空市議会総務常任委員会会議録
令和６年９月１３日
○出席委員（６名）
説明のため出席した者
　総務部長　　小田切　　仁　君
○長谷部委員長　ただいまから委員会を開きます。
○村瀬委員　窓口の混雑について伺います。
○長谷部委員長　総務部長。
○小田切総務部長　繁忙期は臨時窓口を設けております。
";
        assert!(looks_like(text));
        let docs = extract(Path::new("c.txt"), text).unwrap();
        let ex: Vec<&ExtractedDocument> = docs.iter().filter(|d| d.exchange.is_some()).collect();
        assert_eq!(ex.len(), 1, "{docs:#?}");
        let e = ex[0].exchange.as_ref().unwrap();
        assert_eq!(e.questioner.name, "村瀬");
        assert_eq!(e.answerers[0].cited(), "小田切仁（総務部長）");
        assert_eq!(split_surname("佐伯教育長", &[]), Some(("教育長".into(), "佐伯".into())));
        assert_eq!(e.meeting, "令和6年総務常任委員会");
        // The roster line is not a speech: the first speech is the chair's.
        let rest = docs.iter().find(|d| d.exchange.is_none()).unwrap();
        assert_eq!(rest.sections[0].text, "ただいまから委員会を開きます。");
    }

    #[test]
    fn recognises_assembly_minutes_and_not_other_text() {
        assert!(looks_like(MINUTES));
        assert!(!looks_like("○印は必須項目です。\n○申請書\n○添付書類\n"));
    }

    #[test]
    fn pairs_a_members_question_with_the_mayors_and_the_managers_answers() {
        let docs = extract(Path::new("r6-2-3.txt"), MINUTES).unwrap();
        let ex: Vec<&ExtractedDocument> = docs.iter().filter(|d| d.exchange.is_some()).collect();
        assert_eq!(ex.len(), 1, "{docs:#?}");
        let d = ex[0];
        assert_eq!(d.issuer.as_deref(), Some("架空市議会"));
        assert_eq!(d.issued, NaiveDate::from_ymd_opt(2024, 6, 11));
        assert_eq!(d.number.as_deref(), Some("第3号"));
        let e = d.exchange.as_ref().unwrap();
        assert_eq!(e.meeting, "令和6年第2回定例会");
        assert_eq!(e.questioner.name, "佐藤花子");
        assert_eq!(e.questioner.position, None);
        let who: Vec<String> = e.answerers.iter().map(Speaker::cited).collect();
        assert_eq!(who, ["鈴木一郎（市長）", "大河内誠（市民課長）"]);
        assert!(d.sections[0].text.contains("手数料はいくらですか"), "{:?}", d.sections[0]);
        assert!(!d.sections[1].text.contains("拍手"), "stage directions are dropped: {:?}", d.sections[1]);
        assert!(d.sections[1].text.contains("一通二百円"));
        // The chair's calls and the closing 「終わります」 stay in the meeting's document.
        let rest = docs.iter().find(|d| d.exchange.is_none()).unwrap();
        assert_eq!(rest.sections.len(), 4);
    }
}
