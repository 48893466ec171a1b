//! Japanese dates (和暦 and 西暦) and kanji numerals.
//!
//! Administrative documents date themselves in the era calendar, in any of ASCII, full-width or
//! kanji numerals (令和6年4月1日, 令和６年４月１日, 令和六年四月一日, 令和元年, 平成三十一年), and
//! sometimes in 西暦 (2024年4月1日, 二〇二四年, 2024-04-01, 2024/4/1). Issue dates, 施行日 and
//! filters all need a [`NaiveDate`], so this module parses them all; [`find_dates`] also reports
//! where each date sits (byte ranges of the input) so callers can look "near the top".

use chrono::NaiveDate;
use std::ops::Range;

/// The eras since the Meiji restoration: name, first day (year, month, day) and last era year
/// (`None`: the current era). The last day of one era is the first day of the next (昭和64年1月7日,
/// then 平成元年1月8日; 大正15年12月25日 is also 昭和元年12月25日).
const ERAS: &[(&str, (i32, u32, u32), Option<u32>)] = &[
    ("令和", (2019, 5, 1), None),
    ("平成", (1989, 1, 8), Some(31)),
    ("昭和", (1926, 12, 25), Some(64)),
    ("大正", (1912, 7, 30), Some(15)),
    // 明治 dates before 明治6年 follow the lunar calendar; the era counts from the western year.
    ("明治", (1868, 1, 1), Some(45)),
];

/// Era years past an era's end that still name a date. Documents written before an era change
/// name later dates in the old era (the consumption tax law's 平成三十一年十月一日, plans' targets
/// for 平成42年): the western date is what they mean, so 平成32年4月1日 is 2020-04-01 (令和2年).
const YEARS_PAST_END: u32 = 20;

/// Spellings of the era names, with the era each stands for: kanji, the one-character
/// ligatures (㋿ ㍻ ㍼ ㍽ ㍾) and the Latin initials used in 「R6.4.1」「H31.4.30」.
const ERA_SPELLINGS: &[(&str, &str)] = &[
    ("令和", "令和"),
    ("平成", "平成"),
    ("昭和", "昭和"),
    ("大正", "大正"),
    ("明治", "明治"),
    ("㋿", "令和"),
    ("㍻", "平成"),
    ("㍼", "昭和"),
    ("㍽", "大正"),
    ("㍾", "明治"),
    ("R", "令和"),
    ("H", "平成"),
    ("S", "昭和"),
    ("T", "大正"),
    ("M", "明治"),
    ("Ｒ", "令和"),
    ("Ｈ", "平成"),
    ("Ｓ", "昭和"),
    ("Ｔ", "大正"),
    ("Ｍ", "明治"),
];

/// The western year of `year` in `era` (令和/平成/昭和/大正/明治), or `None` for an unknown era or
/// a year the era cannot name (0, or more than [`YEARS_PAST_END`] past its last year: 平成32年
/// is 2020, 平成99年 is no year).
pub fn era_year_to_western(era: &str, year: u32) -> Option<i32> {
    let (_, (first, _, _), last) = era_named(era)?;
    if year == 0 || last.is_some_and(|last| year > last + YEARS_PAST_END) {
        return None;
    }
    first.checked_add(i32::try_from(year).ok()? - 1)
}

/// The row of [`ERAS`] for `era`.
fn era_named(era: &str) -> Option<&'static (&'static str, (i32, u32, u32), Option<u32>)> {
    ERAS.iter().find(|(name, _, _)| *name == era)
}

/// The era years that name western `year`, newest era first: one for most years, two for the
/// year an era changed (2019 is 令和元年 and 平成31年).
pub fn western_to_era_years(year: i32) -> Vec<(&'static str, u32)> {
    ERAS.iter()
        .filter(|(_, (first, _, _), last)| year >= *first && last.is_none_or(|last| year < first + last as i32))
        .filter_map(|(name, (first, _, _), _)| u32::try_from(year - first + 1).ok().map(|n| (*name, n)))
        .collect()
}

/// Whether `date` can be written in `era`: not before the era began (令和元年4月1日 never
/// existed, and which era was meant is unclear). Dates after its end are kept, see
/// [`YEARS_PAST_END`].
fn era_has_begun(era: &str, date: NaiveDate) -> bool {
    era_named(era)
        .and_then(|(_, (y, m, d), _)| NaiveDate::from_ymd_opt(*y, *m, *d))
        .is_some_and(|first| date >= first)
}

/// Value of one digit character: ASCII, full-width, or kanji (〇/零 一 … 九, 壱 弐 参).
fn digit_value(c: char) -> Option<u64> {
    Some(match c {
        '0'..='9' => c as u64 - '0' as u64,
        '０'..='９' => c as u64 - '０' as u64,
        '〇' | '零' => 0,
        '一' | '壱' => 1,
        '二' | '弐' => 2,
        '三' | '参' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

fn small_unit(c: char) -> Option<u64> {
    Some(match c {
        '十' | '拾' => 10,
        '百' | '佰' => 100,
        '千' | '阡' | '仟' => 1000,
        _ => return None,
    })
}

fn big_unit(c: char) -> Option<u64> {
    Some(match c {
        '万' | '萬' => 10_000,
        '億' => 100_000_000,
        '兆' => 1_000_000_000_000,
        _ => return None,
    })
}

fn is_numeral(c: char) -> bool {
    digit_value(c).is_some() || small_unit(c).is_some() || big_unit(c).is_some()
}

/// Parses a number written in kanji, digits or a mix: 五十九 → 59, 二千二十四 → 2024,
/// 二〇二四 (digit by digit) → 2024, 三万五千 → 35000, 1万5000 → 15000, 十 → 10.
/// `None` for anything else, for units out of order (十十, 百千) and on overflow.
pub fn kanji_number(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.chars().all(|c| digit_value(c).is_some()) {
        return s
            .chars()
            .try_fold(0u64, |acc, c| acc.checked_mul(10)?.checked_add(digit_value(c)?));
    }
    let mut total: u64 = 0;
    let mut section: u64 = 0; // the part below 万
    let mut current: Option<u64> = None; // digits not yet multiplied
    let mut last_small = u64::MAX;
    let mut last_big = u64::MAX;
    for c in s.chars() {
        if let Some(d) = digit_value(c) {
            current = Some(current.unwrap_or(0).checked_mul(10)?.checked_add(d)?);
        } else if let Some(m) = small_unit(c) {
            if m >= last_small {
                return None;
            }
            section = section.checked_add(current.unwrap_or(1).checked_mul(m)?)?;
            current = None;
            last_small = m;
        } else if let Some(b) = big_unit(c) {
            if b >= last_big {
                return None;
            }
            let group = section.checked_add(current.unwrap_or(0))?;
            total = total.checked_add(if group == 0 { 1 } else { group }.checked_mul(b)?)?;
            section = 0;
            current = None;
            last_small = u64::MAX;
            last_big = b;
        } else {
            return None;
        }
    }
    total.checked_add(section)?.checked_add(current.unwrap_or(0))
}

/// A small cursor over `s` from a byte position.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn skip_spaces(&mut self) {
        while let Some(c) = self.peek() {
            if c == ' ' || c == '\u{3000}' || c == '\t' {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }
    fn eat(&mut self, lit: &str) -> bool {
        if self.rest().starts_with(lit) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }
    fn eat_any(&mut self, chars: &[char]) -> Option<char> {
        let c = self.peek()?;
        if chars.contains(&c) {
            self.pos += c.len_utf8();
            Some(c)
        } else {
            None
        }
    }
    /// A run of numeral characters (at most 12), evaluated; `digits_only` restricts it to
    /// ASCII/full-width digits.
    fn number(&mut self, digits_only: bool) -> Option<u64> {
        let start = self.pos;
        let mut end = start;
        for (n, c) in self.rest().chars().enumerate() {
            let ok = if digits_only {
                c.is_ascii_digit() || ('０'..='９').contains(&c)
            } else {
                is_numeral(c)
            };
            if !ok || n >= 12 {
                break;
            }
            end += c.len_utf8();
        }
        if end == start {
            return None;
        }
        let v = kanji_number(self.s.get(start..end)?)?;
        self.pos = end;
        Some(v)
    }
}

fn ymd(y: i64, m: u64, d: u64) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, u32::try_from(m).ok()?, u32::try_from(d).ok()?)
}

/// 「M月D日」 after the year, or 「.M.D」「/M/D」「-M-D」 with `sep`.
fn month_day(c: &mut Cursor<'_>, y: i64, allow_sep: bool) -> Option<NaiveDate> {
    c.skip_spaces();
    if c.eat("年") {
        c.skip_spaces();
        let m = c.number(false)?;
        c.skip_spaces();
        if !c.eat("月") {
            return None;
        }
        c.skip_spaces();
        let d = c.number(false)?;
        c.skip_spaces();
        if !c.eat("日") {
            return None;
        }
        return ymd(y, m, d);
    }
    if !allow_sep {
        return None;
    }
    let seps = ['.', '/', '-', '．', '／', '－'];
    let sep = c.eat_any(&seps)?;
    let m = c.number(true)?;
    if c.eat_any(&[sep])? != sep {
        return None;
    }
    let d = c.number(true)?;
    if c.peek()
        .is_some_and(|ch| ch.is_ascii_digit() || ('０'..='９').contains(&ch))
    {
        return None;
    }
    if m > 12 || d > 31 {
        return None;
    }
    ymd(y, m, d)
}

/// Parses one date starting exactly at byte `start`; returns its end and value.
fn parse_at(s: &str, start: usize) -> Option<(usize, NaiveDate)> {
    let prev = s.get(..start).and_then(|p| p.chars().next_back());
    let mut c = Cursor { s, pos: start };

    // 和暦: 令和6年4月1日, 平成三十一年四月三十日, 令和元年5月1日, R6.4.1
    for (spelling, era) in ERA_SPELLINGS {
        if !c.rest().starts_with(spelling) {
            continue;
        }
        let latin = spelling
            .chars()
            .all(|ch| ch.is_ascii_alphabetic() || ('Ａ'..='Ｚ').contains(&ch));
        if latin && prev.is_some_and(|p| p.is_alphanumeric() && !is_cjk_ideograph(p)) {
            continue; // the M in "FORM6.4.1" is not an era
        }
        let mut e = Cursor {
            s,
            pos: start + spelling.len(),
        };
        e.skip_spaces();
        let year = if e.eat("元") {
            Some(1)
        } else {
            e.number(latin).and_then(|y| u32::try_from(y).ok())
        };
        let Some(year) = year else { continue };
        let Some(west) = era_year_to_western(era, year) else {
            continue;
        };
        // Latin initials only in the dotted form (「H31.4.30」), kanji eras in both.
        let date = if latin {
            let mut probe = Cursor { s, pos: e.pos };
            if probe.peek() == Some('年') {
                None
            } else {
                month_day(&mut probe, i64::from(west), true).map(|d| (probe.pos, d))
            }
        } else {
            let mut probe = Cursor { s, pos: e.pos };
            month_day(&mut probe, i64::from(west), true).map(|d| (probe.pos, d))
        };
        if let Some((end, date)) = date {
            if era_has_begun(era, date) {
                return Some((end, date));
            }
        }
    }

    // 西暦: 2024年4月1日, 二〇二四年四月一日, 2024-04-01, 2024/4/1
    if prev.is_some_and(is_numeral) {
        return None;
    }
    let year_digits_only = c
        .peek()
        .is_some_and(|ch| ch.is_ascii_digit() || ('０'..='９').contains(&ch));
    let y = c.number(false)?;
    if !(1000..=9999).contains(&y) {
        return None;
    }
    let mut probe = Cursor { s, pos: c.pos };
    let d = month_day(&mut probe, i64::try_from(y).ok()?, year_digits_only)?;
    Some((probe.pos, d))
}

fn is_cjk_ideograph(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x3040..=0x30FF)
}

/// Parses a string that is one date (surrounding whitespace allowed): 令和6年4月1日,
/// 令和元年5月1日, 平成三十一年四月三十日, 昭和22年5月3日, 2024年4月1日, 2024-04-01, 2024/4/1,
/// R6.4.1. `None` for anything else, including impossible dates (令和6年2月30日).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let t = s.trim();
    let offset = s.len() - s.trim_start().len();
    let (end, d) = parse_at(s, offset)?;
    (end == offset + t.len()).then_some(d)
}

/// Every date in `s`, in order, with its byte range in `s`.
pub fn find_dates(s: &str) -> Vec<(Range<usize>, NaiveDate)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if let Some((end, d)) = parse_at(s, i) {
            out.push((i..end, d));
            i = end;
            continue;
        }
        i += s.get(i..).and_then(|r| r.chars().next()).map_or(1, char::len_utf8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn kanji_numbers() {
        assert_eq!(kanji_number("五十九"), Some(59));
        assert_eq!(kanji_number("十"), Some(10));
        assert_eq!(kanji_number("十二"), Some(12));
        assert_eq!(kanji_number("三十一"), Some(31));
        assert_eq!(kanji_number("百五"), Some(105));
        assert_eq!(kanji_number("四百三十二"), Some(432));
        assert_eq!(kanji_number("二千二十四"), Some(2024));
        assert_eq!(kanji_number("千九百八十九"), Some(1989));
        assert_eq!(kanji_number("二〇二四"), Some(2024));
        assert_eq!(kanji_number("一〇"), Some(10));
        assert_eq!(kanji_number("三万五千"), Some(35_000));
        assert_eq!(kanji_number("1万5000"), Some(15_000));
        assert_eq!(kanji_number("万"), Some(10_000));
        assert_eq!(kanji_number("一億二千万"), Some(120_000_000));
        assert_eq!(kanji_number("２０２４"), Some(2024));
        assert_eq!(kanji_number("弐拾"), Some(20));
        assert_eq!(kanji_number(""), None);
        assert_eq!(kanji_number("十十"), None);
        assert_eq!(kanji_number("百千"), None);
        assert_eq!(kanji_number("万億"), None);
        assert_eq!(kanji_number("五x"), None);
        assert_eq!(kanji_number("九九九九九九九九九九九九九九九九九九九九九"), None);
        // overflow
    }

    #[test]
    fn era_years() {
        assert_eq!(era_year_to_western("令和", 6), Some(2024));
        assert_eq!(era_year_to_western("令和", 1), Some(2019));
        assert_eq!(era_year_to_western("平成", 31), Some(2019));
        assert_eq!(era_year_to_western("平成", 1), Some(1989));
        assert_eq!(era_year_to_western("昭和", 64), Some(1989));
        assert_eq!(era_year_to_western("大正", 15), Some(1926));
        assert_eq!(era_year_to_western("明治", 45), Some(1912));
        assert_eq!(era_year_to_western("平成", 32), Some(2020), "named before the era ended");
        assert_eq!(era_year_to_western("平成", 52), None);
        assert_eq!(era_year_to_western("令和", 300), Some(2318));
        assert_eq!(era_year_to_western("令和", 0), None);
        assert_eq!(era_year_to_western("天平", 1), None);
        assert_eq!(western_to_era_years(2024), [("令和", 6)]);
        assert_eq!(western_to_era_years(2019), [("令和", 1), ("平成", 31)]);
        assert_eq!(western_to_era_years(1989), [("平成", 1), ("昭和", 64)]);
        assert_eq!(western_to_era_years(1926), [("昭和", 1), ("大正", 15)]);
        assert_eq!(western_to_era_years(1990), [("平成", 2)]);
        assert_eq!(western_to_era_years(1867), []);
    }

    #[test]
    fn parses_wareki() {
        assert_eq!(parse_date("令和6年4月1日"), Some(d(2024, 4, 1)));
        assert_eq!(parse_date("令和元年5月1日"), Some(d(2019, 5, 1)));
        assert_eq!(parse_date("平成31年4月30日"), Some(d(2019, 4, 30)));
        assert_eq!(parse_date("令和６年４月１日"), Some(d(2024, 4, 1)));
        assert_eq!(parse_date("令和六年四月一日"), Some(d(2024, 4, 1)));
        assert_eq!(parse_date("平成三十一年四月三十日"), Some(d(2019, 4, 30)));
        assert_eq!(parse_date("平成三十年十二月二十八日"), Some(d(2018, 12, 28)));
        assert_eq!(parse_date("昭和22年5月3日"), Some(d(1947, 5, 3)));
        assert_eq!(parse_date("昭和二十二年十月二十七日"), Some(d(1947, 10, 27)));
        assert_eq!(parse_date("大正11年4月22日"), Some(d(1922, 4, 22)));
        assert_eq!(parse_date("明治29年4月27日"), Some(d(1896, 4, 27)));
        assert_eq!(parse_date(" 令和 6 年 4 月 1 日 "), Some(d(2024, 4, 1)));
        assert_eq!(parse_date("㍻31年4月30日"), Some(d(2019, 4, 30)));
        assert_eq!(parse_date("R6.4.1"), Some(d(2024, 4, 1)));
        assert_eq!(parse_date("H31.4.30"), Some(d(2019, 4, 30)));
        assert_eq!(parse_date("令和6.4.1"), Some(d(2024, 4, 1)));
    }

    #[test]
    fn era_boundaries() {
        // The first and last days of each era.
        assert_eq!(parse_date("昭和64年1月7日"), Some(d(1989, 1, 7)));
        assert_eq!(parse_date("平成元年1月8日"), Some(d(1989, 1, 8)));
        assert_eq!(parse_date("平成31年4月30日"), Some(d(2019, 4, 30)));
        assert_eq!(parse_date("令和元年5月1日"), Some(d(2019, 5, 1)));
        assert_eq!(parse_date("大正15年12月25日"), Some(d(1926, 12, 25)));
        assert_eq!(parse_date("昭和元年12月25日"), Some(d(1926, 12, 25)));
        assert_eq!(parse_date("明治45年7月30日"), Some(d(1912, 7, 30)));
        assert_eq!(parse_date("大正元年7月30日"), Some(d(1912, 7, 30)));
        // Before an era began: no such date.
        assert_eq!(parse_date("令和元年4月1日"), None);
        assert_eq!(parse_date("R1.4.30"), None);
        assert_eq!(parse_date("平成元年1月7日"), None);
        assert_eq!(parse_date("昭和元年12月24日"), None);
        assert_eq!(parse_date("大正元年7月29日"), None);
        // After an era ended: the date the document meant, which is in the next era.
        assert_eq!(parse_date("平成31年5月1日"), Some(d(2019, 5, 1)));
        assert_eq!(parse_date("平成三十一年十月一日"), Some(d(2019, 10, 1)));
        assert_eq!(parse_date("平成32年4月1日"), Some(d(2020, 4, 1)));
        assert_eq!(parse_date("昭和64年1月8日"), Some(d(1989, 1, 8)));
        assert_eq!(parse_date("平成99年1月1日"), None);
    }

    #[test]
    fn parses_seireki() {
        assert_eq!(parse_date("2024年4月1日"), Some(d(2024, 4, 1)));
        assert_eq!(parse_date("２０２４年４月１日"), Some(d(2024, 4, 1)));
        assert_eq!(parse_date("二〇二四年四月一日"), Some(d(2024, 4, 1)));
        assert_eq!(parse_date("二千二十四年四月一日"), Some(d(2024, 4, 1)));
        assert_eq!(parse_date("2024-04-01"), Some(d(2024, 4, 1)));
        assert_eq!(parse_date("2024/4/1"), Some(d(2024, 4, 1)));
        assert_eq!(parse_date("2024.4.1"), Some(d(2024, 4, 1)));
    }

    #[test]
    fn rejects_non_dates() {
        for s in [
            "",
            "令和",
            "令和6年",
            "令和6年4月",
            "平成99年1月1日",
            "令和6年2月30日",
            "2024-13-01",
            "2024-02-30",
            "20240-04-01",
            "2024/4/1/2",
            "123年4月5日",
            "令和6年4月1日から",
            "XR6.4.1",
            "天平元年1月1日",
            "令和0年1月1日",
        ] {
            assert_eq!(parse_date(s), None, "{s}");
        }
    }

    #[test]
    fn finds_dates_with_byte_ranges() {
        let s = "平成７年８月２９日から施行する。なお、平成３年告示は、平成７年８月２８日限り、廃止する。";
        let found = find_dates(s);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].1, d(1995, 8, 29));
        assert_eq!(&s[found[0].0.clone()], "平成７年８月２９日");
        assert_eq!(found[1].1, d(1995, 8, 28));
        assert_eq!(&s[found[1].0.clone()], "平成７年８月２８日");

        let s = "改正(2024-04-01施行)、令和元年5月1日、1950-11-27";
        let dates: Vec<NaiveDate> = find_dates(s).into_iter().map(|(_, d)| d).collect();
        assert_eq!(dates, vec![d(2024, 4, 1), d(2019, 5, 1), d(1950, 11, 27)]);
        assert!(find_dates("第12024年4月1日").is_empty());
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "年月日",
            "令和",
            "令和元",
            "令和元年",
            "R",
            "2024-",
            "2024-04-",
            "２０２４／",
            "〇〇〇〇年〇月〇日",
            "\u{0}",
            "令和\u{3000}",
        ] {
            let _ = parse_date(s);
            let _ = find_dates(s);
        }
    }
}
