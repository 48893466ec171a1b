//! Diet minutes (国会会議録) as JSON Lines: one document per meeting, one section per speech.
//!
//! Each line is one speech (`id, url, house, meeting, date, speaker, speaker_group, speech`).
//! Speeches of the same (house, meeting, date) form one document keyed
//! `<date>-<house>-<meeting>`, cited by speaker. Only `speech` is required: missing metadata
//! defaults to empty (a line without `house` still belongs to its meeting). A line that is not
//! JSON, or has no speech text, is skipped and counted, never fatal: one mangled record must not
//! hide two thousand good ones.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;

use super::document::{ExtractedDocument, IngestError, Section};
use crate::model::DocType;
use crate::text::{normalize, parse_date};

#[derive(Deserialize)]
struct Speech {
    #[serde(default)]
    house: Option<String>,
    #[serde(default)]
    meeting: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    speaker: Option<String>,
    #[serde(default)]
    speech: Option<String>,
}

/// Why a line gave no speech.
enum Skip {
    /// Not a JSON object of the expected shape.
    Bad(String),
    /// A record without speech text.
    NoText,
}

fn parse_line(line: &str) -> Result<(Option<NaiveDate>, Speech), Skip> {
    let s: Speech = serde_json::from_str(line).map_err(|e| Skip::Bad(e.to_string()))?;
    if s.speech.as_deref().is_none_or(|t| t.trim().is_empty()) {
        return Err(Skip::NoText);
    }
    let date = s.date.as_deref().and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok().or_else(|| parse_date(d)));
    Ok((date, s))
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

/// Extracts one document per meeting. Fails only when no line at all is usable.
pub(crate) fn extract(path: &Path, source: &str) -> Result<Vec<ExtractedDocument>, IngestError> {
    let mut docs: Vec<ExtractedDocument> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut bad = 0usize;
    let mut empty = 0usize;
    for (n, line) in source.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (date, s) = match parse_line(line) {
            Ok(ok) => ok,
            Err(Skip::Bad(e)) => {
                bad += 1;
                tracing::warn!(path = %path.display(), line = n + 1, error = %e, "skipping bad minutes line");
                continue;
            }
            Err(Skip::NoText) => {
                empty += 1;
                continue;
            }
        };
        let text = normalize(strip_speaker_prefix(s.speech.as_deref().unwrap_or_default()));
        if text.is_empty() {
            empty += 1;
            continue;
        }
        let field = |v: &Option<String>| v.as_deref().map(normalize).unwrap_or_default();
        let (house, meeting) = (field(&s.house), field(&s.meeting));
        let day = date.map(|d| d.to_string()).unwrap_or_default();
        let key = format!("{day}-{house}-{meeting}");
        let i = *index.entry(key.clone()).or_insert_with(|| {
            let title = [house.as_str(), meeting.as_str(), day.as_str()].iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join(" ");
            docs.push(ExtractedDocument {
                key,
                title: if title.is_empty() { "国会会議録".to_string() } else { title },
                doc_type: DocType::Minutes,
                issuer: (!house.is_empty()).then(|| house.clone()),
                issued: date,
                number: None,
                sections: Vec::new(),
            });
            docs.len() - 1
        });
        let speaker = s.speaker.map(|sp| normalize(&sp)).filter(|sp| !sp.is_empty());
        docs[i].sections.push(Section {
            text,
            page: None,
            anchor: speaker,
            heading: None,
        });
    }
    if bad > 0 || empty > 0 {
        tracing::warn!(path = %path.display(), bad_lines = bad, lines_without_text = empty, "minutes lines skipped");
    }
    if docs.is_empty() {
        return Err(IngestError::Malformed {
            path: path.to_path_buf(),
            detail: format!(
                "no usable minutes line ({bad} bad lines, {empty} without speech text; expected JSON objects with a speech and optionally house, meeting, date, speaker)"
            ),
        });
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
