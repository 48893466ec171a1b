//! Japanese text normalisation: the one place that decides what stored and indexed text looks like.
//!
//! Extracted text from government PDFs, HTML and law XML arrives with full-width digits, Kangxi
//! radicals in place of ideographs, letter-spaced headings, one glyph per line (縦書き) and hard
//! line wraps. [`normalize`] turns it into canonical text (NFKC where safe, CJK whitespace repair,
//! one paragraph per line); [`to_shinjitai`] folds 旧字体/異体字 to 新字体 for the analysers only
//! (stored text keeps the original glyphs); [`wareki`] parses 和暦 and 西暦 dates and kanji
//! numerals. Everything here is a pure function of its input: no I/O, no panics, no state.

pub mod normalize;
pub mod variants;
pub mod wareki;

pub use normalize::normalize;
pub use variants::to_shinjitai;
pub use wareki::{era_year_to_western, find_dates, kanji_number, parse_date, western_to_era_years};
