//! Law units: the parts of an article that an official quotes whole.
//!
//! A sentence of a law often means nothing alone. 「次に掲げる事項を記載しなければならない。」
//! needs its 号 list, a 号 needs the 柱書 that says what the list is, and 「ただし、…」 needs the
//! main sentence of its 項. The e-Gov extractor writes each 項 as a passage whose first line is
//! the 柱書 (after the caption) and whose 号 each start a line (`ingest::law_xml`); this module
//! finds, for a sentence chosen from such a passage, the other sentences of its unit, so the
//! answerer quotes the unit verbatim with the 号 in each sentence's citation.

use std::sync::OnceLock;

use regex::Regex;

/// Most 号 quoted with their 柱書. A longer list (an article of definitions) is quoted as the
/// 柱書 and the chosen 号 only: the answer must stay readable.
const MAX_ITEMS: usize = 15;

/// A 号 (一, 二…, 十五), a 号の細分 (イ, ロ…) or a numbered sub-item ((1), （一）) at the start of a
/// line, followed by a space.
fn item_label() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^([一二三四五六七八九十百]+(?:の[一二三四五六七八九十]+)?|[イロハニホヘトチリヌルヲワカヨタレソツネナラム]|[（(][0-9０-９一二三四五六七八九十]+[)）])[ 　]").expect("static regex"))
}

/// The 号 label a line starts with (「三」, 「イ」), if it is a 号's line.
pub fn item_of(line: &str) -> Option<String> {
    item_label().captures(line.trim_start()).and_then(|c| c.get(1)).map(|m| m.as_str().to_string())
}

/// Whether a 柱書 announces a list that follows it.
fn announces_list(line: &str) -> bool {
    ["次に掲げる", "次の各号", "左に掲げる", "次のいずれか", "次の事項"].iter().any(|p| line.contains(p))
}

/// A sentence of a passage: character offsets and text, as `extract::sentences` gives them.
pub type Sentence = (usize, usize, String);

/// The line (0-based) of each sentence of `text`.
fn line_numbers(text: &str, sentences: &[Sentence]) -> Vec<usize> {
    let starts: Vec<usize> = std::iter::once(0).chain(text.chars().enumerate().filter(|(_, c)| *c == '\n').map(|(i, _)| i + 1)).collect();
    sentences.iter().map(|(start, _, _)| starts.iter().rposition(|&s| s <= *start).unwrap_or(0)).collect()
}

/// The sentences (indices into `sentences`, in order) that form the unit of sentence `chosen` in
/// a law passage `text`: itself, plus
/// - for a 号, or for a 柱書 that announces a list: the 柱書's sentences and every 号 of the
///   list (at most [`MAX_ITEMS`]; beyond that the 柱書 and the chosen sentence);
/// - for 「ただし、…」: the sentence before it on its line (the main sentence);
/// - for a main sentence followed by 「ただし、…」 on its line: that ただし書.
pub fn unit(text: &str, sentences: &[Sentence], chosen: usize) -> Vec<usize> {
    let Some((_, _, sentence)) = sentences.get(chosen) else { return Vec::new() };
    let lines = line_numbers(text, sentences);
    let line_text = |l: usize| text.lines().nth(l).unwrap_or("");
    let mut out = vec![chosen];
    let in_item_line = item_of(line_text(lines[chosen])).is_some();
    // The 柱書 line: the last line before the chosen one that is not a 号 (for a 号), or the
    // chosen sentence's own line (for a 柱書 that announces a list).
    let head_line = if in_item_line {
        (0..lines[chosen]).rev().find(|&l| item_of(line_text(l)).is_none())
    } else if announces_list(sentence) {
        Some(lines[chosen])
    } else {
        None
    };
    if let Some(head) = head_line.filter(|&h| announces_list(line_text(h))) {
        let items: Vec<usize> = (0..sentences.len()).filter(|&i| lines[i] > head && in_list(&lines, head, i, &|l| item_of(line_text(l)).is_some())).collect();
        let mut item_lines: Vec<usize> = items.iter().map(|&i| lines[i]).collect();
        item_lines.dedup();
        out.extend((0..sentences.len()).filter(|&i| lines[i] == head));
        if item_lines.len() <= MAX_ITEMS {
            out.extend(items);
        }
    }
    // ただし書 and its main sentence, on one line.
    let line = lines[chosen];
    if sentence.starts_with("ただし") {
        if let Some(prev) = (0..chosen).rev().find(|&i| lines[i] == line) {
            out.push(prev);
        }
    } else if let Some(next) = (chosen + 1..sentences.len()).find(|&i| lines[i] == line) {
        if sentences[next].2.starts_with("ただし") {
            out.push(next);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether sentence `i` lies in the unbroken run of 号 lines after line `head`.
fn in_list(lines: &[usize], head: usize, i: usize, is_item_line: &dyn Fn(usize) -> bool) -> bool {
    (head + 1..=lines[i]).all(|l| is_item_line(l) || !lines.contains(&l))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::extract::sentences;

    const ARTICLE: &str = "（意見公募手続）\n第三十九条 命令等制定機関は、次に掲げる事項を公示し、広く一般の意見を求めなければならない。\n一 命令等の案\n二 関連する資料\n三 意見提出期間";
    const PROVISO: &str = "（審査請求期間）\n第十八条 処分についての審査請求は、三月を経過したときは、することができない。ただし、正当な理由があるときは、この限りでない。";

    const KANJI: [&str; 20] = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三", "十四", "十五", "十六", "十七", "十八", "十九", "二十"];

    fn texts(text: &str, chosen: &str) -> Vec<String> {
        let s = sentences(text);
        let i = s.iter().position(|x| x.2.contains(chosen)).expect("chosen sentence");
        unit(text, &s, i).into_iter().map(|k| s[k].2.clone()).collect()
    }

    #[test]
    fn an_item_comes_with_its_head_and_list() {
        let got = texts(ARTICLE, "関連する資料");
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got[0].starts_with("第三十九条") && got[3] == "三 意見提出期間", "{got:?}");
        assert_eq!(texts(ARTICLE, "次に掲げる事項"), got, "the head brings its list");
        assert_eq!(item_of("二 関連する資料").as_deref(), Some("二"));
        assert_eq!(item_of("第三十九条 命令等"), None);
    }

    #[test]
    fn a_proviso_and_its_main_sentence_go_together() {
        let both = texts(PROVISO, "正当な理由");
        assert_eq!(both.len(), 2, "{both:?}");
        assert!(both[1].starts_with("ただし"));
        assert_eq!(texts(PROVISO, "三月を経過"), both);
    }

    #[test]
    fn a_plain_sentence_stands_alone() {
        let text = "（目的）\n第一条 この法律は、手続の公正を確保することを目的とする。";
        assert_eq!(texts(text, "この法律は").len(), 1);
        // A list of definitions longer than the cap: the head and the chosen item only.
        let long = format!("第二条 次に掲げる用語の意義は、当該各号に定めるところによる。\n{}", KANJI.iter().enumerate().map(|(n, k)| format!("{k} 用語{}をいう。", n + 1)).collect::<Vec<_>>().join("\n"));
        let got = texts(&long, "用語7をいう");
        assert_eq!(got.len(), 2, "{got:?}");
    }
}
