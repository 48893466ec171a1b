//! Canonical form of stored and indexed text.
//!
//! Three stages, each idempotent so that the whole is (`normalize(normalize(x)) == normalize(x)`):
//!
//! 1. **Characters.** NFKC (full-width ASCII → ASCII, half-width kana → full-width, Kangxi
//!    radicals → ideographs, ㍻ → 平成) except for a few characters where NFKC loses meaning
//!    (circled numbers ①, which would fuse with neighbouring digits; 〜/～, which keep one form,
//!    U+301C; …, ゛). CJK Radicals Supplement code points such as ⻑ (U+2ED1), which NFKC leaves
//!    alone, map through a small table. Control and zero-width characters are dropped, dash
//!    look-alikes become `-`.
//! 2. **Paragraphs.** When the input separates paragraphs with blank lines (as extracted PDF text
//!    and Markdown do), lines inside a paragraph are soft wraps and are joined; a line that
//!    starts an item (・, (1), 第２, ア …) starts a new paragraph. Input without any blank line is
//!    taken line by line (every newline is a paragraph break), which is also the form of the
//!    output: one paragraph per line, separated by a single `\n`. Runs of one-glyph lines
//!    (vertical text as PDF extractors print it) are joined.
//! 3. **Spaces.** Whitespace between two CJK characters, between CJK and a digit, or between CJK
//!    and a bracket/comma is removed (letter-spaced headings 「通　知」, PDF word gaps); a
//!    letter-spaced run of digits between CJK (「発 09 2 9 第」) is closed up; other runs of
//!    whitespace become one ASCII space.
//!
//! Every decision depends only on characters that the later stages keep, which is what makes
//! the function idempotent; the unit tests check that on a list of awkward strings.

use unicode_normalization::UnicodeNormalization;

/// Normalises extracted text into the stored/indexed canonical form (see the module docs).
///
/// Never panics; the output has no leading or trailing whitespace, no blank lines, and
/// paragraphs separated by single `\n`.
pub fn normalize(s: &str) -> String {
    let mapped = map_chars(s);
    let lines: Vec<&str> = mapped.split('\n').collect();
    let mut paragraphs: Vec<String> = Vec::new();
    if uses_blank_line_paragraphs(&lines) {
        for block in lines.split(|l| is_blank(l)).filter(|b| !b.is_empty()) {
            // A line clearly shorter than the block's longest ends its paragraph (a title above
            // body text, the last line of a paragraph); full-width lines are wraps.
            let widest = block.iter().map(|l| line_width(l)).max().unwrap_or(0);
            let mut current: Vec<&str> = Vec::new();
            for &line in block {
                if let Some(&prev) = current.last() {
                    // One- and two-glyph lines are vertical text (or 縦中横 digits): they join each
                    // other, and a run of them ends where a long line starts.
                    let fragment = |l: &str| l.trim().chars().count() <= 2;
                    let short = widest >= 20
                        && if fragment(prev) {
                            !fragment(line)
                        } else {
                            line_width(prev) * 4 < widest * 3
                        };
                    if short || starts_new_paragraph(prev, line) {
                        flush_paragraph(&mut current, &mut paragraphs);
                    }
                }
                current.push(line);
            }
            flush_paragraph(&mut current, &mut paragraphs);
        }
    } else {
        paragraphs.extend(lines.iter().filter(|l| !is_blank(l)).map(|l| clean_line(l)));
    }
    join_vertical_runs(paragraphs).join("\n")
}

/// True for the characters treated as CJK text when deciding whether whitespace between two
/// characters is an extraction artefact: kanji, kana, CJK punctuation, and the symbols that
/// Japanese documents use inline (①, ※, ○, ■, →).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3001..=0x303F          // CJK symbols and punctuation (U+3000 is whitespace)
        | 0x3041..=0x3098        // hiragana, without the combining sound marks
        | 0x309B..=0x309F
        | 0x30A0..=0x30FF        // katakana
        | 0x31F0..=0x31FF
        | 0x3190..=0x319F        // kanbun
        | 0x3200..=0x33FF        // enclosed CJK, CJK compatibility
        | 0x3400..=0x4DBF        // CJK extension A
        | 0x4E00..=0x9FFF        // CJK unified ideographs
        | 0xF900..=0xFAFF        // compatibility ideographs (﨑 stays one)
        | 0x20000..=0x3FFFF      // CJK extensions B..
        | 0x2E80..=0x2FDF        // radicals (normally mapped away)
        | 0xFE30..=0xFE4F        // vertical forms
        | 0xFF01..=0xFFEF        // full-width forms that survive NFKC
        | 0x2460..=0x24FF        // circled numbers
        | 0x2776..=0x2793
        | 0x25A0..=0x26FF        // ○●□■◆ ☆★
        | 0x2190..=0x21FF        // arrows
        | 0x203B                 // ※
        | 0x2025..=0x2026        // ‥ …
    )
}

// ---------------------------------------------------------------------------------------------
// Stage 1: characters

/// Characters that NFKC would damage: kept as they are.
fn is_protected(c: char) -> bool {
    matches!(c as u32,
        0x2460..=0x24FF | 0x2776..=0x2793 | 0x3251..=0x325F | 0x32B1..=0x32BF // ① ❶ ㉑ ㊱
        | 0x301C                // 〜 (the one form of the wave dash we keep)
        | 0x2025..=0x2026       // ‥ … (NFKC: "..")
        | 0x309B..=0x309C       // ゛ ゜ (NFKC: space + combining mark)
    )
}

/// CJK Radicals Supplement code points (which NFKC does not fold) to the ideograph they stand
/// for. PDF fonts with radical glyphs produce these, e.g. ⻑ for 長 in Osaka's press releases.
fn radical_to_ideograph(c: char) -> Option<char> {
    Some(match c {
        '\u{2E8A}' => '卜',
        '\u{2E8E}' => '兀',
        '\u{2E8F}' => '尢',
        '\u{2E92}' => '巳',
        '\u{2E94}' => '彑',
        '\u{2E97}' => '心',
        '\u{2E99}' => '攵',
        '\u{2E9B}' => '旡',
        '\u{2E9F}' => '母',
        '\u{2EA0}' => '民',
        '\u{2EA3}' => '灬',
        '\u{2EA4}' => '爫',
        '\u{2EA6}' => '丬',
        '\u{2EA8}' => '犭',
        '\u{2EAA}' => '疋',
        '\u{2EAB}' => '罒',
        '\u{2EAC}' => '示',
        '\u{2EAD}' => '礻',
        '\u{2EAE}' => '竹',
        '\u{2EAF}' => '糹',
        '\u{2EB3}' => '罓',
        '\u{2EB7}' => '羊',
        '\u{2EB9}' => '耂',
        '\u{2EBB}' => '聿',
        '\u{2EBC}' => '肉',
        '\u{2EBE}' => '艹',
        '\u{2EC3}' => '襾',
        '\u{2EC4}' => '西',
        '\u{2EC5}' => '见',
        '\u{2EC6}' => '角',
        '\u{2EC8}' => '讠',
        '\u{2EC9}' => '贝',
        '\u{2ECA}' => '足',
        '\u{2ECB}' => '车',
        '\u{2ECC}' => '辶',
        '\u{2ECF}' => '阝',
        '\u{2ED0}' => '钅',
        '\u{2ED1}' => '長',
        '\u{2ED2}' => '镸',
        '\u{2ED4}' => '门',
        '\u{2ED6}' => '阝',
        '\u{2ED7}' => '雨',
        '\u{2ED8}' => '青',
        '\u{2EDA}' => '页',
        '\u{2EDB}' => '风',
        '\u{2EDD}' => '食',
        '\u{2EDF}' => '飠',
        '\u{2EE0}' => '饣',
        '\u{2EE2}' => '马',
        '\u{2EE3}' => '骨',
        '\u{2EE4}' => '鬼',
        '\u{2EE5}' => '鱼',
        '\u{2EE6}' => '鸟',
        '\u{2EE7}' => '卤',
        '\u{2EE8}' => '麦',
        '\u{2EE9}' => '黄',
        '\u{2EEA}' => '黾',
        '\u{2EEB}' => '斉',
        '\u{2EEC}' => '齐',
        '\u{2EED}' => '歯',
        '\u{2EEE}' => '齿',
        '\u{2EEF}' => '竜',
        '\u{2EF0}' => '龙',
        '\u{2EF1}' => '龜',
        '\u{2EF2}' => '亀',
        '\u{2EF3}' => '龟',
        _ => return None,
    })
}

/// Invisible characters that only get in the way of matching.
fn is_dropped(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c as u32,
            0x00AD | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064
            | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
            | 0xFE00..=0xFE0F | 0xE0100..=0xE01EF) // variation selectors
}

/// Applied after NFKC: dash look-alikes that PDF fonts emit for the hyphen in 「Ｄ００６−８」.
fn post_map(c: char) -> char {
    match c {
        '\u{2010}'..='\u{2013}' | '\u{2212}' | '\u{FE63}' => '-',
        c => c,
    }
}

fn map_chars(s: &str) -> String {
    fn flush(run: &mut String, out: &mut String) {
        out.extend(run.nfkc().map(post_map));
        run.clear();
    }
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    let mut run = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                run.push('\n');
            }
            '\u{0B}' | '\u{85}' | '\u{2028}' => run.push('\n'),
            // A form feed is a page break: keep it as a paragraph break.
            '\u{0C}' | '\u{2029}' => run.push_str("\n\n"),
            '\u{FF5E}' | '\u{301C}' => {
                flush(&mut run, &mut out);
                out.push('\u{301C}');
            }
            c if is_dropped(c) => {}
            c if is_protected(c) => {
                flush(&mut run, &mut out);
                out.push(c);
            }
            c => run.push(radical_to_ideograph(c).unwrap_or(c)),
        }
    }
    flush(&mut run, &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Stage 2: paragraphs

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn is_blank(line: &str) -> bool {
    line.chars().all(is_space)
}

/// True when some blank line separates two lines with content: then single newlines are wraps.
fn uses_blank_line_paragraphs(lines: &[&str]) -> bool {
    let mut seen_content = false;
    let mut blank_after_content = false;
    for line in lines {
        if is_blank(line) {
            blank_after_content |= seen_content;
        } else if blank_after_content {
            return true;
        } else {
            seen_content = true;
        }
    }
    false
}

/// Display width of a line: wide (CJK) characters count 2, a run of whitespace counts 1.
fn line_width(line: &str) -> usize {
    let mut width = 0;
    let mut in_space = false;
    for c in line.trim().chars() {
        if is_space(c) {
            if !in_space {
                width += 1;
            }
            in_space = true;
            continue;
        }
        in_space = false;
        width += if (c as u32) >= 0x2E80 { 2 } else { 1 };
    }
    width
}

fn flush_paragraph(current: &mut Vec<&str>, out: &mut Vec<String>) {
    if current.is_empty() {
        return;
    }
    // A soft wrap is whitespace; clean_line decides whether it disappears (between CJK) or
    // stays as one space (between Latin words).
    let cleaned = clean_line(&current.join(" "));
    current.clear();
    if !cleaned.is_empty() {
        out.push(cleaned);
    }
}

fn starts_new_paragraph(prev: &str, line: &str) -> bool {
    let prev_t = prev.trim();
    let line_t = line.trim();
    if prev_t.starts_with('#') || matches!(prev_t, "記" | "以上" | "写") || matches!(line_t, "記" | "以上" | "写")
    {
        return true;
    }
    // An indented line after a finished sentence is a new paragraph (字下げ).
    if prev_t.ends_with('。') && line.starts_with(is_space) {
        return true;
    }
    starts_with_item_marker(line_t)
}

fn is_kanji_numeral(c: char) -> bool {
    matches!(
        c,
        '〇' | '一' | '二' | '三' | '四' | '五' | '六' | '七' | '八' | '九' | '十' | '百' | '千'
    )
}

/// Line openings that mark a list item or a numbered heading in Japanese documents.
fn starts_with_item_marker(line: &str) -> bool {
    let chars: Vec<char> = line.chars().take(12).collect();
    let Some(&first) = chars.first() else { return false };
    let followed_by_space = |i: usize| chars.get(i).is_none_or(|&c| is_space(c));
    match first {
        '・' | '●' | '○' | '◎' | '■' | '□' | '◆' | '◇' | '▲' | '△' | '▼' | '▽' | '※' | '★' | '☆' | '◯' | '•' | '‣'
        | '-' | '*' | '+' | '>' | '#' | '|' => true,
        c if is_protected(c) && c != '\u{301C}' && !matches!(c, '‥' | '…' | '゛' | '゜') => true,
        '(' => {
            // (1) (12) (ア) (一)
            let close = chars.iter().position(|&c| c == ')');
            matches!(close, Some(2..=4))
                && chars[1..close.unwrap_or(1)].iter().all(|&c| {
                    c.is_ascii_digit()
                        || is_kanji_numeral(c)
                        || ('ア'..='ン').contains(&c)
                        || ('あ'..='ん').contains(&c)
                })
        }
        '0'..='9' => {
            let n = chars.iter().take_while(|c| c.is_ascii_digit()).count();
            match chars.get(n) {
                None => false,
                Some(&c) if is_space(c) || c == ')' => true,
                // 「1.」 but not 「1.5倍」
                Some('.') => chars.get(n + 1).is_none_or(|c| !c.is_ascii_digit()),
                _ => false,
            }
        }
        '第' => {
            let n = chars[1..]
                .iter()
                .take_while(|&&c| c.is_ascii_digit() || is_kanji_numeral(c))
                .count();
            if n == 0 {
                return false;
            }
            match chars.get(1 + n) {
                None => true,
                Some(&c) if is_space(c) => true,
                Some('章' | '節' | '款' | '編' | '部') => true,
                Some('条' | '項' | '号') => followed_by_space(2 + n),
                _ => false,
            }
        }
        c if is_kanji_numeral(c) => {
            let n = chars.iter().take_while(|&&c| is_kanji_numeral(c)).count();
            n < chars.len() && followed_by_space(n)
        }
        c if ('ア'..='ン').contains(&c) => chars.len() > 1 && followed_by_space(1),
        _ => false,
    }
}

/// A paragraph that is one glyph, as PDF extractors print vertical text (or 1–3 digits, the
/// 縦中横 numbers inside it).
fn fragment_kind(p: &str) -> Option<bool /* is CJK */> {
    let mut it = p.chars();
    let first = it.next()?;
    let rest = it.count();
    if rest == 0 && (is_cjk(first) || first.is_ascii_digit() || first.is_ascii_punctuation()) {
        return Some(is_cjk(first));
    }
    if rest < 3 && p.chars().all(|c| c.is_ascii_digit()) {
        return Some(false);
    }
    None
}

/// Joins maximal runs of ≥ 3 one-glyph paragraphs, when at least half of them are CJK (a column
/// of table numbers stays apart).
fn join_vertical_runs(paragraphs: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(paragraphs.len());
    let mut run: Vec<(String, bool)> = Vec::new();
    fn flush(run: &mut Vec<(String, bool)>, out: &mut Vec<String>) {
        let cjk = run.iter().filter(|(_, is_cjk)| *is_cjk).count();
        if run.len() >= 3 && cjk * 2 >= run.len() {
            out.push(run.iter().map(|(p, _)| p.as_str()).collect());
        } else {
            out.extend(run.iter().map(|(p, _)| p.clone()));
        }
        run.clear();
    }
    for p in paragraphs {
        match fragment_kind(&p) {
            Some(is_cjk) => run.push((p, is_cjk)),
            None => {
                flush(&mut run, &mut out);
                out.push(p);
            }
        }
    }
    flush(&mut run, &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Stage 3: spaces inside a line

/// ASCII (or NFKC-folded full-width) punctuation that hugs Japanese text: （）「」，．：
fn is_joiner_punct(c: char) -> bool {
    matches!(
        c,
        '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | ',' | '.' | ':' | ';' | '!' | '?' | '"' | '\'' | '\u{2018}'
            ..='\u{201F}'
    )
}

fn gap_removable(a: char, b: char) -> bool {
    // CJK on one side, and CJK, a digit or hugging punctuation on the other.
    let hugs = |c: char| is_cjk(c) || c.is_ascii_digit() || is_joiner_punct(c);
    (is_cjk(a) && hugs(b)) || (is_cjk(b) && hugs(a))
}

/// Removes whitespace that is an extraction artefact and collapses the rest to one space.
fn clean_line(line: &str) -> String {
    let toks: Vec<&str> = line.split(is_space).filter(|t| !t.is_empty()).collect();
    let n = toks.len();
    if n == 0 {
        return String::new();
    }
    let first = |t: &str| t.chars().next().unwrap_or(' ');
    let last = |t: &str| t.chars().next_back().unwrap_or(' ');
    let mut remove: Vec<bool> = (0..n - 1)
        .map(|i| gap_removable(last(toks[i]), first(toks[i + 1])))
        .collect();
    // Keep the space after a leading item number: 「1 別添中」, 「ア デング」, 「第1章 総則」.
    if n > 1 && is_marker_token(toks[0]) {
        remove[0] = false;
    }

    // Letter-spaced digits between CJK: 「発 09 2 9 第」→「発0929第」, 「月 2 9日」→「月29日」.
    let mut i = 0;
    while i + 1 < n {
        if last(toks[i]).is_ascii_digit() && first(toks[i + 1]).is_ascii_digit() {
            let start = i;
            let mut end = i + 1;
            while end + 1 < n && last(toks[end]).is_ascii_digit() && first(toks[end + 1]).is_ascii_digit() {
                end += 1;
            }
            if digit_chain_anchored(&toks, &remove, start, end) {
                for r in &mut remove[start..end] {
                    *r = true;
                }
            }
            i = end;
        } else {
            i += 1;
        }
    }

    let mut out = String::with_capacity(line.len());
    for (i, t) in toks.iter().enumerate() {
        if i > 0 && !remove[i - 1] {
            out.push(' ');
        }
        out.push_str(t);
    }
    out
}

/// A token that numbers an item or heading at the start of a paragraph.
fn is_marker_token(t: &str) -> bool {
    let chars: Vec<char> = t.chars().collect();
    let digits = chars.iter().take_while(|c| c.is_ascii_digit()).count();
    match chars.as_slice() {
        [] => false,
        [c] if is_protected(*c) && c.is_alphanumeric() => true, // ①
        [c] if ('ア'..='ン').contains(c) => true,
        ['(', inner @ .., ')'] => (1..=3).contains(&inner.len()),
        ['第', rest @ ..] => {
            let n = rest
                .iter()
                .take_while(|&&c| c.is_ascii_digit() || is_kanji_numeral(c))
                .count();
            n > 0
                && (n == rest.len()
                    || (n + 1 == rest.len()
                        && matches!(rest[n], '章' | '節' | '款' | '編' | '部' | '条' | '項' | '号')))
        }
        _ if digits > 0 => {
            digits <= 3 && (digits == chars.len() || (digits + 1 == chars.len() && matches!(chars[digits], '.' | ')')))
        }
        _ => chars.iter().all(|&c| is_kanji_numeral(c)),
    }
}

/// Whether the digit tokens `toks[start..=end]` are one letter-spaced number: short digit groups,
/// with CJK right before the first and right after the last (looking through gaps that are
/// already removed, so that the decision is the same on the output).
fn digit_chain_anchored(toks: &[&str], remove: &[bool], start: usize, end: usize) -> bool {
    let first_tok: Vec<char> = toks[start].chars().collect();
    let lead_digits = first_tok.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    let left = if lead_digits < first_tok.len() {
        first_tok.get(first_tok.len() - lead_digits - 1).copied()
    } else if start > 0 && remove[start - 1] {
        toks[start - 1].chars().next_back()
    } else {
        None
    };
    let last_tok: Vec<char> = toks[end].chars().collect();
    let trail_digits = last_tok.iter().take_while(|c| c.is_ascii_digit()).count();
    let right = if trail_digits < last_tok.len() {
        last_tok.get(trail_digits).copied()
    } else if end + 1 < toks.len() && remove[end] {
        toks[end + 1].chars().next()
    } else {
        None
    };
    let inner_ok = toks[start + 1..end]
        .iter()
        .all(|t| t.len() <= 2 && t.chars().all(|c| c.is_ascii_digit()));
    lead_digits <= 4 && trail_digits <= 4 && inner_ok && left.is_some_and(is_cjk) && right.is_some_and(is_cjk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfkc_folds_width_and_radicals() {
        assert_eq!(normalize("ＡＢＣ１２３"), "ABC123");
        assert_eq!(normalize("ｶﾞｲﾄﾞﾗｲﾝ"), "ガイドライン");
        assert_eq!(normalize("11⽉16⽇"), "11月16日");
        assert_eq!(normalize("⾷品 ⻑官"), "食品長官");
        assert_eq!(normalize("㍻31年"), "平成31年");
        assert_eq!(normalize("Ｄ００６−８"), "D006-8");
    }

    #[test]
    fn keeps_meaningful_symbols() {
        assert_eq!(normalize("①10件"), "①10件");
        assert_eq!(normalize("4月～6月"), "4月〜6月");
        assert_eq!(normalize("4月〜6月"), "4月〜6月");
        assert_eq!(normalize("以下…"), "以下…");
    }

    #[test]
    fn drops_invisible_characters() {
        assert_eq!(normalize("\u{FEFF}行政\u{200B}手続"), "行政手続");
        assert_eq!(normalize("a\u{0}b\u{7}c"), "abc");
    }

    #[test]
    fn removes_letter_spacing() {
        assert_eq!(normalize("通　知"), "通知");
        assert_eq!(normalize("（ 公 印 省 略 ）"), "(公印省略)");
        assert_eq!(normalize("保 医 発 09 2 9 第８号"), "保医発0929第8号");
        assert_eq!(normalize("平 成 29 年 ９ 月 2 9日"), "平成29年9月29日");
        assert_eq!(normalize("保 発 0819 第 １ 号"), "保発0819第1号");
        assert_eq!(normalize("標 記 につ い て は 、"), "標記については、");
        assert_eq!(normalize("第    ２   次"), "第2次");
        assert_eq!(normalize("音   威    子   府   村"), "音威子府村");
    }

    #[test]
    fn keeps_spaces_that_separate_words_and_numbers() {
        assert_eq!(normalize("SaaS におけるシステム"), "SaaS におけるシステム");
        assert_eq!(normalize("hello    world\tagain"), "hello world again");
        assert_eq!(normalize("東京 1 2 3"), "東京1 2 3");
        assert_eq!(normalize("1 2 3"), "1 2 3");
        assert_eq!(normalize("表 1   SaaS"), "表1 SaaS");
    }

    #[test]
    fn joins_wrapped_lines_and_keeps_paragraphs() {
        let raw =
            "標記について、下記のとおり改正し\n適用する。\n\n記\n\n１　別添中「A」を\n「B」に改める。\n２　施行する。";
        assert_eq!(
            normalize(raw),
            "標記について、下記のとおり改正し適用する。\n記\n1 別添中「A」を「B」に改める。\n2 施行する。"
        );
        assert_eq!(normalize("the quick\nbrown fox\n\nnext"), "the quick brown fox\nnext");
    }

    #[test]
    fn single_newlines_without_blank_lines_are_kept() {
        assert_eq!(normalize("第一条\n第二条"), "第一条\n第二条");
        assert_eq!(normalize("a\r\nb\rc"), "a\nb\nc");
    }

    #[test]
    fn joins_vertical_one_glyph_lines() {
        assert_eq!(normalize("別\n表\n第\n一\nか\nら"), "別表第一から");
        assert_eq!(
            normalize("令\n和\n四\n年\n\n厚\n生\n労\n働\n大\n臣"),
            "令和四年\n厚生労働大臣"
        );
        assert_eq!(normalize("注\n10\nの\n規\n定"), "注10の規定");
        // A column of numbers is not vertical text.
        assert_eq!(normalize("1\n2\n3"), "1\n2\n3");
    }

    #[test]
    fn form_feed_is_a_paragraph_break() {
        assert_eq!(normalize("一頁目\u{c}二頁目"), "一頁目\n二頁目");
    }

    #[test]
    fn empty_and_whitespace() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" \n\u{3000}\n\t "), "");
    }

    /// Property-style check: idempotent and panic-free on awkward strings and their
    /// concatenations.
    #[test]
    fn idempotent_on_tricky_inputs() {
        let samples = [
            "",
            " ",
            "\n",
            "\n\n\n",
            "\u{3000}",
            "a",
            "あ",
            "1",
            "(",
            "ｶﾞ",
            "か\u{3099}",
            "か ゙",
            "\u{309B}",
            "e\u{301}",
            "e \u{301}",
            "保 医 発 09 2 9 第８号",
            "平 成 29 年 ９ 月 2 9日",
            "（ 公 印 省 略 ）",
            "1 あ 2 い 3 XX かき くけ こさ しす",
            "発 1 2 3 4 5 6 第",
            "令\n和\n\n四",
            "記\n\n殿\n\nあ",
            "1\n\n2\n\n3",
            "注\n1\n0\nの",
            "a\n\nb\nc",
            "・項目\n・項目二\n\n本文",
            "(1) 概要\n(2) 詳細",
            "第１章　総則\n第一条　目的",
            "一　定義\n二　範囲",
            "ア　イ\nウ　エ",
            "11⽉16⽇ ⻑官",
            "①②③",
            "～〜~",
            "\u{FEFF}\u{200B}",
            "\r\n\r\n",
            "\u{c}\u{c}",
            "Ｄ００６−８",
            "\u{2011}\u{207B}",
            "㈱ ㎡ ㍻",
            "SaaS におけるシステム",
            "1.5倍\n2. 項目",
            "x\u{0}y",
            "\u{10FFFF}\u{E000}",
            "漢字 abc 漢字",
            "「 診 療 報 酬 の 算 定 方 法",
            "28 年 3 月 4 日",
            "D 0 1 2 感染症",
            "第\n1\n条",
            "\u{2029}p",
            "# 見出し\n本文\n\n## 次",
            "｜表｜",
            "Ａ　Ｂ　Ｃ",
            "ﾊﾝｶｸ ｶﾀｶﾅ",
            "一\n\n二\n\n三\n\n四",
            "abc\n\n1\n2\n3",
        ];
        let mut inputs: Vec<String> = samples.iter().map(|s| s.to_string()).collect();
        for a in &samples {
            for b in &samples {
                inputs.push(format!("{a}{b}"));
                inputs.push(format!("{a}\n{b}"));
                inputs.push(format!("{a} {b}"));
            }
        }
        for input in &inputs {
            let once = normalize(input);
            let twice = normalize(&once);
            assert_eq!(once, twice, "not idempotent on {input:?}");
            assert!(!once.contains("\n\n"), "blank line left in {once:?}");
            assert_eq!(once.trim(), once, "untrimmed {once:?}");
        }
    }

    /// Random strings over an alphabet of the characters that drive the decisions.
    #[test]
    fn idempotent_on_random_strings() {
        let alphabet: Vec<char> = "あ漢字第条記以上一二十1２0 \u{3000}\n\n\r\t(（)）.,:aZ①～〜~ｶﾞ\u{3099}e\u{301}⻑⽇-−・※。、#|\u{c}\u{200B}゛…ア年月日"
            .chars()
            .collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let once = normalize(&s);
            assert_eq!(normalize(&once), once, "not idempotent on {s:?}");
        }
    }
}
