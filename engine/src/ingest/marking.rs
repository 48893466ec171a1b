//! Confidentiality markings written in a document itself.
//!
//! Offices mark documents in their text, not only in the label files beside them: 機密性１/２/３
//! (the government's unified security standard), 取扱注意, 部外秘, 関係者限り and other 〜限り,
//! 秘 and 極秘. A marking sits at the top of the first page, in the page-1 header or footer of a
//! PDF, or in the stamp area that OCR reads, so this module looks only there ([`opening_text`]):
//! a word such as 秘密 or 秘書課 deep in the body says nothing about the document's level.
//!
//! This module owns recognising a marking and the level it implies ([`read`]); the indexer owns
//! applying it (a document is indexed at the stricter of its label and its marking).

use std::sync::OnceLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use super::document::ExtractedDocument;

/// A marking found in a document's opening text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marking {
    /// The 機密性 level the marking implies (1 to 3).
    pub level: u8,
    /// The marking as it was written (after NFKC), for the run report.
    pub text: String,
}

/// Non-empty lines read from the start of a document.
const OPENING_LINES: usize = 6;
/// Characters read from the start of a document, over those lines.
const OPENING_CHARS: usize = 300;
/// Non-empty lines read from the end of a PDF's first page (footer, stamp area).
const FOOTER_LINES: usize = 3;
/// Characters kept of one footer line (the last ones: a long paragraph ends with the footer).
const FOOTER_LINE_CHARS: usize = 100;

/// Where a document carries its marking: its title, its first lines (at most
/// [`OPENING_CHARS`] characters), and for a paged source the last lines of page 1.
pub fn opening_text(doc: &ExtractedDocument) -> String {
    let mut out = String::new();
    out.push_str(&doc.title);
    out.push('\n');
    let mut budget = OPENING_CHARS;
    let lines = doc.sections.iter().flat_map(|s| s.text.lines()).filter(|l| !l.trim().is_empty());
    for line in lines.take(OPENING_LINES) {
        if budget == 0 {
            break;
        }
        let kept: String = line.chars().take(budget).collect();
        budget -= kept.chars().count();
        out.push_str(&kept);
        out.push('\n');
    }
    if let Some(first_page) = doc.sections.iter().find(|s| s.page == Some(1)) {
        let tail: Vec<&str> = first_page.text.lines().filter(|l| !l.trim().is_empty()).rev().take(FOOTER_LINES).collect();
        for line in tail.into_iter().rev() {
            let n = line.chars().count();
            out.extend(line.chars().skip(n.saturating_sub(FOOTER_LINE_CHARS)));
            out.push('\n');
        }
    }
    out
}

/// The strictest marking in a document's opening text, if any.
pub fn of_document(doc: &ExtractedDocument) -> Option<Marking> {
    read(&opening_text(doc))
}

/// One kind of marking: a pattern whose group `m` is the marking, and the level it implies
/// (`None`: the level is the digit in group `d`).
struct Rule {
    pattern: Regex,
    level: Option<u8>,
}

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let rule = |pattern: &str, level: Option<u8>| {
            // The patterns are constants of this file, checked by the unit tests.
            #[allow(clippy::expect_used)]
            let pattern = Regex::new(pattern).expect("a valid marking pattern");
            Rule { pattern, level }
        };
        vec![
            // 機密性３, 機密性3情報, 機密性 ２ (full-width digits are ASCII after NFKC).
            rule(r"(?P<m>機密性\s*(?P<d>[123一二三]))", None),
            // 極秘, but not the adverb 極秘裏に of body text.
            rule(r"(?P<m>極秘)(?:[^裏]|$)", Some(3)),
            rule(r"(?P<m>厳秘)", Some(3)),
            // 秘 alone: on its own, in brackets, or set off by spaces; never inside a word
            // (秘書課, 秘密保持, 部外秘 is its own rule).
            rule(r"(?:^|[\s(\[「『【〔〈《])(?P<m>秘)(?:$|[\s)\]」』】〕〉》])", Some(3)),
            rule(r"(?P<m>[部庁課局省室]外秘)", Some(2)),
            rule(r"(?P<m>取り?扱い?注意)", Some(2)),
            // 関係者限り, 人事課限り, 庁内限り … (not この限り, できる限り, 年度限り).
            rule(r"(?P<m>(?:者|課|部|室|局|係|班|庁|省|委員会|課内|部内|室内|局内|庁内|省内)限り)", Some(2)),
        ]
    })
}

/// The strictest marking in `text` (read line by line, after NFKC), if any. 機密性１ is a
/// marking too, of level 1.
pub fn read(text: &str) -> Option<Marking> {
    let text: String = text.nfkc().collect();
    let mut best: Option<Marking> = None;
    for line in text.lines() {
        for rule in rules() {
            for found in rule.pattern.captures_iter(line) {
                let level = match rule.level {
                    Some(level) => level,
                    None => match found.name("d").map(|d| d.as_str()) {
                        Some("1" | "一") => 1,
                        Some("2" | "二") => 2,
                        _ => 3,
                    },
                };
                if best.as_ref().is_none_or(|b| level > b.level) {
                    let text = found.name("m").map_or("", |m| m.as_str()).to_string();
                    best = Some(Marking { level, text });
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Section;
    use crate::model::DocType;

    fn level(text: &str) -> Option<u8> {
        read(text).map(|m| m.level)
    }

    #[test]
    fn security_standard_levels_in_any_digit_width() {
        assert_eq!(level("機密性３　人事課限り　複製禁止"), Some(3));
        assert_eq!(level("機密性3"), Some(3));
        assert_eq!(level("機密性３情報"), Some(3));
        assert_eq!(level("機密性 2"), Some(2));
        assert_eq!(level("機密性２　取扱注意（財政課及び査定対象課限り）"), Some(2));
        assert_eq!(level("機密性１"), Some(1));
        assert_eq!(level("機密性三"), Some(3));
        let m = read("機密性３　人事課限り　複製禁止").expect("a marking");
        assert_eq!(m.text, "機密性3");
    }

    #[test]
    fn other_markings() {
        for (text, want) in [
            ("極秘", 3),
            ("【極秘】令和６年度人事異動案", 3),
            ("秘", 3),
            ("【秘】", 3),
            ("〔秘〕", 3),
            ("（秘）", 3),
            ("(秘)", 3),
            ("「秘」", 3),
            ("秘 ", 3),
            ("文書番号 秘 第12号", 3),
            ("取扱注意", 2),
            ("取扱い注意", 2),
            ("部外秘", 2),
            ("関係者限り", 2),
            ("人事課限り", 2),
            ("庁内限り", 2),
        ] {
            assert_eq!(level(text), Some(want), "{text}");
        }
        assert_eq!(read("【秘】").map(|m| m.text).as_deref(), Some("秘"));
        assert_eq!(read("【極秘】令和６年度").map(|m| m.text).as_deref(), Some("極秘"));
        assert_eq!(read("部外秘").map(|m| m.text).as_deref(), Some("部外秘"));
    }

    #[test]
    fn words_that_only_contain_a_marking_are_not_markings() {
        for text in [
            "秘書課長　山田",
            "秘密保持契約の説明",
            "本件は秘密保持契約に基づき",
            "極秘裏に進められた計画",
            "機密性の高い情報の取扱いについて",
            "この限りでない。",
            "できる限り速やかに",
            "令和６年度限りの措置",
            "便秘の予防",
            "黙秘権",
            "情報セキュリティポリシー",
        ] {
            assert_eq!(read(text), None, "{text}");
        }
    }

    #[test]
    fn the_strictest_marking_wins() {
        assert_eq!(level("取扱注意\n極秘"), Some(3));
        assert_eq!(level("機密性１\n部外秘"), Some(2));
    }

    fn doc(title: &str, sections: &[(&str, Option<u32>)]) -> ExtractedDocument {
        ExtractedDocument {
            key: String::new(),
            title: title.into(),
            doc_type: DocType::Other,
            issuer: None,
            issued: None,
            number: None,
            sections: sections.iter().map(|(t, page)| Section { text: (*t).into(), page: *page, anchor: None, heading: None }).collect(),
            exchange: None,
        }
    }

    #[test]
    fn only_the_opening_and_the_first_page_footer_are_read() {
        let body = "本文。\n".repeat(20);
        let marked_late = doc("通知", &[(&format!("{body}極秘"), None)]);
        assert_eq!(of_document(&marked_late), None, "a marking deep in the body is text, not a marking");
        let footer = doc("通知", &[(&format!("{body}【秘】"), Some(1)), ("二頁目", Some(2))]);
        assert_eq!(of_document(&footer).map(|m| m.level), Some(3), "the page-1 footer of a PDF");
        let second_page = doc("通知", &[("一頁目", Some(1)), (&format!("{body}【秘】"), Some(2))]);
        assert_eq!(of_document(&second_page), None, "only page 1 is read");
        let header = doc("人事評価の運用について", &[("機密性3人事課限り複製禁止\n人事評価の運用について", None)]);
        assert_eq!(of_document(&header).map(|m| m.level), Some(3));
    }
}
