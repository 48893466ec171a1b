//! Diet minutes (国会会議録): the National Diet Library's minutes API records, as the API's JSON
//! (`{"speechRecord": [...]}`, or `{"meetingRecord": [{..., "speechRecord": [...]}]}`) or as JSON
//! Lines of records, and the older lines of this project (`id, url, house, meeting, date, speaker,
//! speaker_group, speech`).
//!
//! Records are grouped by meeting (house, meeting, date) in speaking order and handed to
//! [`super::exchanges::documents`]: where the records name positions (the API's
//! `speakerPosition`/`speakerRole`), each question and its answers become an exchange document and
//! the rest stays in the meeting's document (keyed `<date>-<house>-<meeting>`, cited by speaker);
//! older lines without positions give the meeting's document alone, as before. Only `speech` is
//! required: missing metadata defaults to empty. A line or record that is not JSON of this shape,
//! or has no speech text, is skipped and counted, never fatal: one mangled record must not hide
//! two thousand good ones.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;

use super::document::{ExtractedDocument, IngestError};
use super::exchanges::{documents, role_of, without_directions, Meeting, Speech};
use crate::model::Speaker;
use crate::text::{normalize, parse_date};

/// A number or a string in the source (the API writes `session` and `speechOrder` as numbers,
/// `issue` as 「第3号」), read as text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    S(String),
    N(serde_json::Number),
}

impl Text {
    fn into_string(self) -> String {
        match self {
            Text::S(s) => s,
            Text::N(n) => n.to_string(),
        }
    }
}

/// One speech record, in the API's field names or this project's older ones.
#[derive(Deserialize)]
struct Record {
    #[serde(default, alias = "nameOfHouse")]
    house: Option<String>,
    #[serde(default, alias = "nameOfMeeting")]
    meeting: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    speaker: Option<String>,
    #[serde(default, alias = "speakerGroup")]
    speaker_group: Option<String>,
    #[serde(default, alias = "speakerPosition")]
    speaker_position: Option<String>,
    #[serde(default, alias = "speakerRole")]
    speaker_role: Option<String>,
    #[serde(default, alias = "speechOrder")]
    speech_order: Option<Text>,
    #[serde(default)]
    issue: Option<Text>,
    #[serde(default)]
    session: Option<Text>,
    #[serde(default, alias = "speechURL")]
    url: Option<String>,
    #[serde(default)]
    speech: Option<String>,
}

/// The API's replies: speeches, or meetings holding speeches.
#[derive(Deserialize)]
struct Reply {
    #[serde(default, rename = "speechRecord")]
    speeches: Vec<serde_json::Value>,
    #[serde(default, rename = "meetingRecord")]
    meetings: Vec<MeetingRecord>,
}

#[derive(Deserialize)]
struct MeetingRecord {
    #[serde(default, rename = "speechRecord")]
    speeches: Vec<serde_json::Value>,
    #[serde(flatten)]
    meeting: serde_json::Map<String, serde_json::Value>,
}

/// The header record the API puts first in each meeting: the attendance list, not a speech.
const MEETING_INFO: &str = "会議録情報";

/// Why a record gave no speech.
enum Skip {
    /// Not a JSON object of the expected shape.
    Bad(String),
    /// A record without speech text (or the meeting's header record).
    NoText,
}

fn parse_record(value: serde_json::Value) -> Result<Record, Skip> {
    let r: Record = serde_json::from_value(value).map_err(|e| Skip::Bad(e.to_string()))?;
    if r.speech.as_deref().is_none_or(|t| t.trim().is_empty()) || r.speaker.as_deref() == Some(MEETING_INFO) {
        return Err(Skip::NoText);
    }
    Ok(r)
}

/// Drops the 「○山田太郎君　」 prefix of verbatim NDL speeches: the speaker is the anchor.
fn strip_speaker_prefix(speech: &str) -> &str {
    let Some(rest) = speech.strip_prefix('○') else {
        return speech;
    };
    match rest.char_indices().take(30).find(|&(_, c)| c == '\u{3000}' || c == ' ') {
        Some((i, c)) if i > 0 => &rest[i + c.len_utf8()..],
        _ => speech,
    }
}

/// Counts of what was read, for the warning and the error.
#[derive(Default)]
struct Counts {
    bad: usize,
    empty: usize,
}

/// Meetings in order of first appearance, each with its speeches in speaking order.
#[derive(Default)]
struct Meetings {
    list: Vec<Meeting>,
    index: HashMap<String, usize>,
}

impl Meetings {
    fn add(&mut self, r: Record, position_in_file: usize) -> bool {
        let text = normalize(&without_directions(strip_speaker_prefix(r.speech.as_deref().unwrap_or_default())));
        if text.is_empty() {
            return false;
        }
        let field = |v: &Option<String>| v.as_deref().map(normalize).unwrap_or_default();
        let (house, meeting) = (field(&r.house), field(&r.meeting));
        let date = r.date.as_deref().and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok().or_else(|| parse_date(d)));
        let day = date.map(|d| d.to_string()).unwrap_or_default();
        let key = format!("{day}-{house}-{meeting}");
        let i = *self.index.entry(key.clone()).or_insert_with(|| {
            self.list.push(Meeting {
                key,
                house,
                meeting,
                issue: r.issue.map(|t| normalize(&t.into_string())).filter(|t| !t.is_empty()),
                session: r.session.and_then(|t| t.into_string().trim().parse().ok()),
                date,
                structured: false,
                untitled: "国会会議録",
                speeches: Vec::new(),
            });
            self.list.len() - 1
        });
        let position = field(&r.speaker_position);
        let role = field(&r.speaker_role);
        let m = &mut self.list[i];
        m.structured |= !position.is_empty() || !role.is_empty();
        let speaker = Speaker {
            name: field(&r.speaker),
            group: Some(field(&r.speaker_group)).filter(|g| !g.is_empty()),
            position: Some(position.clone()).filter(|p| !p.is_empty()),
        };
        let order = r.speech_order.and_then(|t| t.into_string().trim().parse().ok()).unwrap_or(position_in_file as u32);
        m.speeches.push(Speech {
            order,
            role: role_of(&position, &role),
            speaker,
            text,
            url: r.url.filter(|u| !u.trim().is_empty()),
        });
        true
    }

    fn add_value(&mut self, value: serde_json::Value, n: usize, counts: &mut Counts, path: &Path) {
        match parse_record(value) {
            Ok(r) => {
                if !self.add(r, n) {
                    counts.empty += 1;
                }
            }
            Err(Skip::Bad(e)) => {
                counts.bad += 1;
                tracing::warn!(path = %path.display(), record = n + 1, error = %e, "skipping bad minutes record");
            }
            Err(Skip::NoText) => counts.empty += 1,
        }
    }

    fn finish(self, path: &Path, counts: Counts) -> Result<Vec<ExtractedDocument>, IngestError> {
        let Counts { bad, empty } = counts;
        if bad > 0 || empty > 0 {
            tracing::warn!(path = %path.display(), bad_records = bad, records_without_text = empty, "minutes records skipped");
        }
        if self.list.is_empty() {
            return Err(IngestError::Malformed {
                path: path.to_path_buf(),
                detail: format!(
                    "no usable minutes record ({bad} bad lines, {empty} without speech text; expected JSON objects with a speech and optionally house, meeting, date, speaker, or the minutes API's speechRecord fields)"
                ),
            });
        }
        Ok(self
            .list
            .into_iter()
            .flat_map(|mut m| {
                m.speeches.sort_by_key(|s| s.order);
                documents(m)
            })
            .collect())
    }
}

/// Extracts the documents of a JSON Lines file of speech records (one per line). Fails only when
/// no line at all is usable.
pub(crate) fn extract(path: &Path, source: &str) -> Result<Vec<ExtractedDocument>, IngestError> {
    let mut meetings = Meetings::default();
    let mut counts = Counts::default();
    for (n, line) in source.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => meetings.add_value(v, n, &mut counts, path),
            Err(e) => {
                counts.bad += 1;
                tracing::warn!(path = %path.display(), line = n + 1, error = %e, "skipping bad minutes line");
            }
        }
    }
    meetings.finish(path, counts)
}

/// Extracts the documents of one reply of the minutes API (`.json`): its `speechRecord` list, or
/// the speeches of each of its `meetingRecord`s (their meeting fields fill the speeches' own).
pub(crate) fn extract_api_reply(path: &Path, source: &str) -> Result<Vec<ExtractedDocument>, IngestError> {
    let reply: Reply = serde_json::from_str(source).map_err(|e| IngestError::Malformed {
        path: path.to_path_buf(),
        detail: format!("not a reply of the minutes API ({e}); expected a JSON object with speechRecord or meetingRecord"),
    })?;
    let mut meetings = Meetings::default();
    let mut counts = Counts::default();
    let mut n = 0;
    for v in reply.speeches {
        meetings.add_value(v, n, &mut counts, path);
        n += 1;
    }
    for m in reply.meetings {
        for mut v in m.speeches {
            if let Some(obj) = v.as_object_mut() {
                for (k, val) in &m.meeting {
                    obj.entry(k.clone()).or_insert_with(|| val.clone());
                }
            }
            meetings.add_value(v, n, &mut counts, path);
            n += 1;
        }
    }
    meetings.finish(path, counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DocType;

    const JSONL: &str = r#"{"id": "1", "url": "u", "house": "衆議院", "meeting": "地方行政委員会", "date": "1950-11-27", "speaker": "鈴木俊一", "speaker_group": null, "speech": "地方公務員の制度について\n申し上げます"}
not json at all
{"house": "衆議院", "meeting": "地方行政委員会", "date": "1950-11-27", "speaker": "別の議員", "speech": "質問いたします。"}
{"house": "参議院", "meeting": "本会議", "date": "2021-06-04", "speaker": "山田太郎", "speech": "○山田太郎君　賛成の討論を行います。"}
{"house": "参議院", "meeting": "本会議"}
"#;

    #[test]
    fn groups_speeches_by_meeting() {
        let docs = extract(Path::new("m.jsonl"), JSONL).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].key, "1950-11-27-衆議院-地方行政委員会");
        assert_eq!(docs[0].title, "衆議院 地方行政委員会 1950-11-27");
        assert_eq!(docs[0].doc_type, DocType::Minutes);
        assert_eq!(docs[0].issued, NaiveDate::from_ymd_opt(1950, 11, 27));
        assert_eq!(docs[0].sections.len(), 2);
        assert_eq!(docs[0].sections[0].anchor.as_deref(), Some("鈴木俊一"));
        assert_eq!(docs[0].sections[0].text, "地方公務員の制度について\n申し上げます");
        assert_eq!(docs[1].key, "2021-06-04-参議院-本会議");
        assert_eq!(docs[1].sections[0].text, "賛成の討論を行います。");
    }

    #[test]
    fn optional_metadata_defaults_and_lines_without_text_are_skipped() {
        let jsonl = concat!(
            r#"{"meeting": "予算委員会", "date": "2021-03-01", "speaker": "甲", "speech": "質問します。"}"#,
            "\n",
            r#"{"meeting": "予算委員会", "date": "2021-03-01", "speaker": "乙", "speech": "答弁します。"}"#,
            "\n",
            r#"{"speech": "日付も院名もない発言。"}"#,
            "\n",
            r#"{"house": "衆議院", "meeting": "本会議", "date": "2021-03-02", "speech": "   "}"#,
            "\n",
            r#"{"house": "衆議院", "meeting": "本会議", "date": "not a date", "speech": "日付の読めない発言。"}"#,
            "\n",
        );
        let docs = extract(Path::new("m.jsonl"), jsonl).unwrap();
        assert_eq!(docs.len(), 3, "{docs:?}");
        assert_eq!(docs[0].title, "予算委員会 2021-03-01");
        assert_eq!(docs[0].issuer, None);
        assert_eq!(docs[0].sections.len(), 2);
        assert_eq!(docs[1].title, "国会会議録");
        assert_eq!(docs[1].issued, None);
        assert_eq!(docs[2].title, "衆議院 本会議");
        // A file whose lines all lack house is still indexed whole.
        let no_house = r#"{"meeting": "本会議", "date": "2021-01-01", "speech": "発言。"}"#;
        assert_eq!(extract(Path::new("m.jsonl"), no_house).unwrap().len(), 1);
        // Only lines without text: an error that says so.
        let err = extract(Path::new("m.jsonl"), "{\"house\": \"衆議院\"}\n").unwrap_err();
        assert!(err.to_string().contains("1 without speech text"), "{err}");
    }

    #[test]
    fn all_bad_lines_is_an_error() {
        let err = extract(Path::new("m.jsonl"), "garbage\n{\"a\":1}\n").unwrap_err();
        assert!(err.to_string().contains("1 bad lines, 1 without speech text"), "{err}");
    }

    /// A reply of the minutes API's meeting endpoint: the meeting's fields once, its speeches
    /// inside, the header record first.
    const API_REPLY: &str = r#"{"numberOfRecords": 1, "meetingRecord": [{"issueID": "121704024X00520250416", "session": 217,
      "nameOfHouse": "衆議院", "nameOfMeeting": "文部科学委員会", "issue": "第5号", "date": "2025-04-16",
      "speechRecord": [
        {"speechID": "121704024X00520250416_000", "speechOrder": 0, "speaker": "会議録情報", "speech": "令和七年四月十六日（水曜日）出席委員"},
        {"speechID": "121704024X00520250416_001", "speechOrder": 1, "speaker": "中村裕之", "speakerPosition": "委員長", "speech": "○中村委員長　これより会議を開きます。質疑の申出がありますので、これを許します。安藤じゅん子君。"},
        {"speechID": "121704024X00520250416_003", "speechOrder": 3, "speaker": "あべ俊子", "speakerGroup": "自由民主党・無所属の会", "speakerPosition": "文部科学大臣", "speech": "○あべ国務大臣　給付型奨学金の対象を拡大いたします。", "speechURL": "https://kokkai.ndl.go.jp/txt/121704024X00520250416/3"},
        {"speechID": "121704024X00520250416_002", "speechOrder": 2, "speaker": "安藤じゅん子", "speakerGroup": "立憲民主党・無所属", "speakerPosition": "", "speech": "○安藤（じ）委員　修学支援新制度の対象拡大について伺います。", "speechURL": "https://kokkai.ndl.go.jp/txt/121704024X00520250416/2"},
        {"speechID": "121704024X00520250416_004", "speechOrder": 4, "speaker": "伊藤学司", "speakerPosition": "文部科学省高等教育局長", "speakerRole": "政府参考人", "speech": "○伊藤政府参考人　お答え申し上げます。多子世帯が対象です。"}
      ]}]}"#;

    #[test]
    fn api_reply_pairs_questions_and_answers_in_speaking_order() {
        let docs = extract_api_reply(Path::new("reply.json"), API_REPLY).unwrap();
        assert_eq!(docs.len(), 2, "{docs:#?}");
        let d = &docs[0];
        assert_eq!(d.key, "2025-04-16-衆議院-文部科学委員会-0002");
        assert_eq!(d.number.as_deref(), Some("第5号"));
        assert_eq!(d.sections[0].text, "修学支援新制度の対象拡大について伺います。");
        assert_eq!(d.sections[0].anchor.as_deref(), Some("質問 安藤じゅん子（立憲民主党・無所属）"));
        assert_eq!(d.sections[2].anchor.as_deref(), Some("答弁 伊藤学司（文部科学省高等教育局長）"));
        let e = d.exchange.as_ref().unwrap();
        assert_eq!((e.session, e.order), (Some(217), 2));
        assert_eq!(e.url.as_deref(), Some("https://kokkai.ndl.go.jp/txt/121704024X00520250416/2"));
        assert_eq!(e.answerers.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["あべ俊子", "伊藤学司"]);
        // The chair's call is kept, in the meeting's own document; the header record is not.
        assert_eq!(docs[1].key, "2025-04-16-衆議院-文部科学委員会");
        assert_eq!(docs[1].sections.len(), 1);
        // The same records as JSON Lines give the same documents.
        let reply: serde_json::Value = serde_json::from_str(API_REPLY).unwrap();
        let meeting = &reply["meetingRecord"][0];
        let lines: Vec<String> = meeting["speechRecord"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut r = r.clone();
                for k in ["session", "nameOfHouse", "nameOfMeeting", "issue", "date"] {
                    r[k] = meeting[k].clone();
                }
                r.to_string()
            })
            .collect();
        assert_eq!(extract(Path::new("records.jsonl"), &lines.join("\n")).unwrap(), docs);
        let err = extract_api_reply(Path::new("reply.json"), "[1, 2]").unwrap_err();
        assert!(err.to_string().contains("not a reply of the minutes API"), "{err}");
    }
}
