//! Diet minutes (国会会議録) as JSON Lines: one document per meeting, one section per speech.
//!
//! Each line is one speech (`id, url, house, meeting, date, speaker, speaker_group, speech`).
//! Speeches of the same (house, meeting, date) form one document keyed
//! `<date>-<house>-<meeting>`, cited by speaker. A bad line is skipped and counted, never fatal:
//! one mangled record must not hide two thousand good ones.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;

use super::{ExtractedDocument, IngestError, Section};
use crate::model::DocType;
use crate::text::{normalize, parse_date};

#[derive(Deserialize)]
struct Speech {
    house: String,
    meeting: String,
    date: String,
    #[serde(default)]
    speaker: Option<String>,
    speech: String,
}

fn parse_line(line: &str) -> Result<(NaiveDate, Speech), String> {
    let s: Speech = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let date = NaiveDate::parse_from_str(s.date.trim(), "%Y-%m-%d")
        .ok()
        .or_else(|| parse_date(&s.date))
        .ok_or_else(|| format!("unreadable date {:?}", s.date))?;
    if s.house.trim().is_empty() || s.meeting.trim().is_empty() {
        return Err("empty house or meeting".into());
    }
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
    for (n, line) in source.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (date, s) = match parse_line(line) {
            Ok(ok) => ok,
            Err(e) => {
                bad += 1;
                tracing::warn!(path = %path.display(), line = n + 1, error = %e, "skipping bad minutes line");
                continue;
            }
        };
        let text = normalize(strip_speaker_prefix(&s.speech));
        if text.is_empty() {
            continue;
        }
        let (house, meeting) = (normalize(&s.house), normalize(&s.meeting));
        let key = format!("{date}-{house}-{meeting}");
        let i = *index.entry(key.clone()).or_insert_with(|| {
            docs.push(ExtractedDocument {
                key,
                title: format!("{house} {meeting} {date}"),
                doc_type: DocType::Minutes,
                issuer: Some(house.clone()),
                issued: Some(date),
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
    if bad > 0 {
        tracing::warn!(path = %path.display(), bad_lines = bad, "minutes lines skipped");
    }
    if docs.is_empty() {
        return Err(IngestError::Malformed {
            path: path.to_path_buf(),
            detail: format!(
                "no usable minutes line ({bad} bad lines; expected JSON objects with house, meeting, date, speech)"
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
{"house": "参議院", "meeting": "本会議", "date": "not a date", "speech": "x"}
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
    fn all_bad_lines_is_an_error() {
        let err = extract(Path::new("m.jsonl"), "garbage\n{\"a\":1}\n").unwrap_err();
        assert!(err.to_string().contains("2 bad lines"), "{err}");
    }
}
