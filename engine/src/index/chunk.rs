//! Chunking: cuts an extracted document into passages, the unit of retrieval and citation.
//!
//! Structure comes first: a passage never spans two sections with different citation anchors
//! (条/項 of a law, a heading of a circular, a speaker in minutes) or two PDF pages, so every
//! passage cites one place. Inside a long section the text is cut at sentence ends (。！？ and
//! line breaks) into pieces of about `target` characters; short neighbouring sections with the
//! same anchor and page are joined. The default target (400 characters ≈ 200 E5 tokens) keeps
//! every passage far below E5's 512-token window and short enough for BM25 length
//! normalisation to favour focused passages; see the README for the measurement.

use crate::ingest::{ExtractedDocument, Section};
use crate::model::Passage;

/// Cuts `doc` into passages of about `target` characters, with ids derived from `doc_id`.
pub fn chunk(doc_id: &str, doc: &ExtractedDocument, target: usize) -> Vec<Passage> {
    let target = target.max(50);
    let mut pieces: Vec<(String, Option<u32>, Option<String>)> = Vec::new();
    for section in &doc.sections {
        let anchor = anchor_of(section);
        for piece in split_text(&section.text, target) {
            let joinable = pieces.last().is_some_and(|(text, page, last_anchor)| {
                *page == section.page
                    && *last_anchor == anchor
                    && text.chars().count() + piece.chars().count() <= target
            });
            match pieces.last_mut() {
                Some(last) if joinable => {
                    last.0.push('\n');
                    last.0.push_str(&piece);
                }
                _ => pieces.push((piece, section.page, anchor.clone())),
            }
        }
    }
    // Offsets refer to the document text formed by joining the passages with a newline.
    let mut offset = 0;
    let mut passages = Vec::with_capacity(pieces.len());
    for (ordinal, (text, page, anchor)) in pieces.into_iter().enumerate() {
        let len = text.chars().count();
        let ordinal = ordinal as u32;
        passages.push(Passage {
            id: Passage::make_id(doc_id, ordinal),
            doc_id: doc_id.to_string(),
            ordinal,
            text,
            page,
            anchor,
            start: offset,
            end: offset + len,
        });
        offset += len + 1;
    }
    passages
}

fn anchor_of(section: &Section) -> Option<String> {
    match (&section.heading, &section.anchor) {
        (Some(h), Some(a)) if h != a && !a.starts_with(h.as_str()) => Some(format!("{h} {a}")),
        (_, Some(a)) => Some(a.clone()),
        (Some(h), None) => Some(h.clone()),
        (None, None) => None,
    }
}

/// Splits `text` into pieces of at most about `target` characters at sentence ends.
fn split_text(text: &str, target: usize) -> Vec<String> {
    let text = text.trim();
    if text.is_empty() {
        return Vec::new();
    }
    if text.chars().count() <= target + target / 2 {
        return vec![text.to_string()];
    }
    let mut sentences: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if matches!(c, '。' | '！' | '？' | '\n') {
            let s = current.trim().to_string();
            if !s.is_empty() {
                sentences.push(s);
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        sentences.push(current.trim().to_string());
    }
    let mut pieces = Vec::new();
    let mut piece = String::new();
    for sentence in sentences {
        // A sentence longer than the target is cut hard (tables, lists without punctuation).
        for part in hard_cut(&sentence, target) {
            let joiner = if piece.ends_with('。') || piece.is_empty() { "" } else { "\n" };
            if !piece.is_empty() && piece.chars().count() + part.chars().count() > target {
                pieces.push(std::mem::take(&mut piece));
                piece.push_str(&part);
            } else {
                piece.push_str(joiner);
                piece.push_str(&part);
            }
        }
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

fn hard_cut(sentence: &str, target: usize) -> Vec<String> {
    let chars: Vec<char> = sentence.chars().collect();
    chars.chunks(target).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_util::document as doc;

    fn section(text: &str, page: Option<u32>, anchor: Option<&str>) -> Section {
        Section { text: text.into(), page, anchor: anchor.map(Into::into), heading: None }
    }

    #[test]
    fn long_sections_are_cut_at_sentence_ends_and_keep_all_text() {
        let sentence = "住民票の写しの交付手数料は一通三百円とする。";
        let text = sentence.repeat(60);
        let passages = chunk("d", &doc(vec![section(&text, Some(3), None)]), 200);
        assert!(passages.len() > 3);
        for p in &passages {
            assert!(p.text.chars().count() <= 200, "{}", p.text.chars().count());
            assert!(p.text.ends_with('。'));
            assert_eq!(p.page, Some(3));
        }
        let joined: String = passages.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn anchors_and_pages_are_never_mixed() {
        let d = doc(vec![
            section("第一項の文。", Some(1), Some("第一条第一項")),
            section("第二項の文。", Some(1), Some("第一条第二項")),
            section("次の頁。", Some(2), Some("第一条第二項")),
            section("同じ頁の続き。", Some(2), Some("第一条第二項")),
        ]);
        let passages = chunk("law", &d, 400);
        let summary: Vec<_> = passages.iter().map(|p| (p.anchor.clone().unwrap_or_default(), p.page)).collect();
        assert_eq!(
            summary,
            vec![
                ("第一条第一項".to_string(), Some(1)),
                ("第一条第二項".to_string(), Some(1)),
                ("第一条第二項".to_string(), Some(2)),
            ]
        );
        assert_eq!(passages[2].text, "次の頁。\n同じ頁の続き。");
    }

    #[test]
    fn ids_and_offsets_are_deterministic() {
        let d = doc(vec![section("一。", None, None), section("二。", None, Some("見出し"))]);
        let a = chunk("x", &d, 400);
        assert_eq!(a, chunk("x", &d, 400));
        assert_eq!(a[0].id, "x#0");
        assert_eq!(a[1].id, "x#1");
        assert_eq!((a[1].start, a[1].end), (3, 5));
    }
}
