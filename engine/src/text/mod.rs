//! Japanese text normalisation: the one place that decides what stored and indexed text looks like.
//!
//! Extracted text from government PDFs, HTML and law XML arrives with full-width digits, Kangxi
//! radicals in place of ideographs, letter-spaced headings, one glyph per line (縦書き) and hard
//! line wraps. [`normalize`] turns it into canonical text (NFKC where safe, CJK whitespace repair,
//! one paragraph per line); [`to_shinjitai`] folds 旧字体/異体字 to 新字体 for the analysers only
//! (stored text keeps the original glyphs); [`wareki`] parses 和暦 and 西暦 dates and kanji
//! numerals; [`looks_like_heading`] recognises the numbered headings of notices. Everything here is
//! a pure function of its input: no I/O, no panics, no state — except [`analysis`], the tokenisers
//! both the keyword index and the answerer cut text with (lindera IPADIC and character bigrams),
//! which load their dictionary once.

pub mod analysis;
pub mod normalize;
pub mod variants;
pub mod wareki;

pub use normalize::normalize;
pub use variants::to_shinjitai;
pub use wareki::{era_year_to_western, find_dates, kanji_number, parse_date, western_to_era_years};

/// Whether a line is shaped like a numbered heading of a notice (「第１　趣旨」「第2章」「１．目的」
/// 「記」): where the plain-text extractor cuts sections, and a line the answerer never quotes.
pub fn looks_like_heading(line: &str) -> bool {
    let t = line.trim();
    if t == "記" {
        return true;
    }
    let chars: Vec<char> = t.chars().collect();
    let is_num = |c: char| c.is_ascii_digit() || ('０'..='９').contains(&c) || "一二三四五六七八九十".contains(c);
    if chars.first() == Some(&'第') {
        let n = chars[1..].iter().take_while(|&&c| is_num(c)).count();
        return n > 0
            && match chars.get(1 + n) {
                None => true,
                Some(&c) => c.is_whitespace() || "章節款".contains(c),
            };
    }
    let n = chars
        .iter()
        .take_while(|&&c| c.is_ascii_digit() || ('０'..='９').contains(&c))
        .count();
    n > 0 && matches!(chars.get(n), Some('．' | '.')) && chars.get(n + 1).is_some_and(|c| !c.is_ascii_digit())
}
