//! Markdown and plain-text documents, cut into sections at their headings.
//!
//! The Markdown seen in practice is converted web pages: it keeps the site's breadcrumb list at
//! the top and navigation links at the bottom, so link-only lines, link-only headings and
//! breadcrumb lists are dropped and link syntax is reduced to its text. Plain text has no
//! markup, so sections start at the numbered headings of Japanese notices (第１, １．, 記).

use super::document::{ExtractedDocument, Section};
use super::meta;
use crate::text::normalize;

/// Replaces `[text](url)` by `text`, drops images `![alt](src)`, `<br>` tags and emphasis
/// markers. Unbalanced brackets are left as they are.
fn strip_inline(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        let image = chars[i] == '!' && chars.get(i + 1) == Some(&'[');
        let open = if image { i + 1 } else { i };
        if chars[open] == '[' {
            if let Some((text, end)) = link_at(&chars, open) {
                if !image {
                    out.push_str(&strip_inline(&text));
                }
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out.replace("<br>", "\n")
        .replace("<br/>", "\n")
        .replace("<br />", "\n")
        .replace("**", "")
        .replace("__", "")
}

/// A link `[text](target)` starting at `open` (the `[`): its text and the index after it.
fn link_at(chars: &[char], open: usize) -> Option<(String, usize)> {
    let mut depth = 0usize;
    let mut close = None;
    for (j, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    close = Some(j);
                    break;
                }
            }
            _ => {}
        }
    }
    let close = close?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = chars[close + 2..].iter().position(|&c| c == ')')? + close + 3;
    Some((chars[open + 1..close].iter().collect(), end))
}

/// A list item's content without its marker, if the line is a list item.
fn list_item(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if let Some(rest) = t
        .strip_prefix("- ")
        .or_else(|| t.strip_prefix("* "))
        .or_else(|| t.strip_prefix("+ "))
    {
        return Some(rest);
    }
    let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 {
        return t[digits..]
            .strip_prefix(". ")
            .or_else(|| t[digits..].strip_prefix(") "));
    }
    None
}

/// True when the text is nothing but links (and images): navigation.
fn is_link_only(s: &str) -> bool {
    let chars: Vec<char> = s.trim().chars().collect();
    if chars.is_empty() {
        return false;
    }
    let mut i = 0;
    let mut links = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let open = if chars[i] == '!' && chars.get(i + 1) == Some(&'[') {
            i + 1
        } else {
            i
        };
        if chars[open] != '[' {
            return false;
        }
        match link_at(&chars, open) {
            Some((_, end)) => {
                links += 1;
                i = end;
            }
            None => return false,
        }
    }
    links > 0
}

/// Markdown table row to cells separated by ` | `; `None` for the `| --- |` separator row.
fn table_row(line: &str) -> Option<String> {
    let t = line.trim();
    if !t.starts_with('|') {
        return Some(line.to_string());
    }
    if t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ')) {
        return None;
    }
    Some(
        t.trim_matches('|')
            .split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join(" | "),
    )
}

fn heading_of(line: &str) -> Option<(usize, &str)> {
    let t = line.trim_start();
    let level = t.chars().take_while(|&c| c == '#').count();
    if (1..=6).contains(&level) {
        let rest = &t[level..];
        if rest.is_empty() || rest.starts_with(' ') {
            return Some((level, rest.trim().trim_end_matches('#').trim()));
        }
    }
    None
}

/// Extracts one document from Markdown.
pub(crate) fn extract_markdown(source: &str) -> ExtractedDocument {
    let lines: Vec<&str> = source.lines().collect();
    // Breadcrumb lists: runs of list items that are mostly bare links.
    let mut drop = vec![false; lines.len()];
    let mut i = 0;
    while i < lines.len() {
        if list_item(lines[i]).is_none() {
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && list_item(lines[i]).is_some() {
            i += 1;
        }
        let items = &lines[start..i];
        let links = items.iter().filter(|l| list_item(l).is_some_and(is_link_only)).count();
        if items.len() >= 2 && links * 2 >= items.len() {
            drop[start..i].iter_mut().for_each(|d| *d = true);
        }
    }

    let mut sections: Vec<(Option<String>, String)> = vec![(None, String::new())];
    let mut title = None;
    let mut in_nav = false;
    let mut in_code = false;
    for (line, dropped) in lines.iter().zip(drop) {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if dropped {
            continue;
        }
        if !in_code {
            if let Some((level, text)) = heading_of(line) {
                // A heading that is only a link is site navigation, and so is what follows it.
                in_nav = is_link_only(text);
                if !in_nav {
                    let h = normalize(&strip_inline(text));
                    if level == 1 && title.is_none() && !h.is_empty() {
                        title = Some(h.clone());
                    }
                    sections.push((Some(h).filter(|h| !h.is_empty()), String::new()));
                }
                continue;
            }
        }
        if in_nav {
            continue;
        }
        let body = list_item(line).unwrap_or(line);
        if is_link_only(body) {
            continue;
        }
        let Some(row) = table_row(line) else { continue };
        let row = row.trim_start_matches('>').to_string();
        if let Some(last) = sections.last_mut() {
            last.1.push_str(&strip_inline(&row));
            last.1.push('\n');
        }
    }
    build(sections, title)
}

/// Extracts one document from plain text.
pub(crate) fn extract_plain(source: &str) -> ExtractedDocument {
    let mut sections: Vec<(Option<String>, String)> = vec![(None, String::new())];
    for line in source.lines() {
        if crate::text::looks_like_heading(line) {
            let h: String = normalize(line).chars().take(60).collect();
            sections.push((Some(h), String::new()));
        }
        if let Some(last) = sections.last_mut() {
            last.1.push_str(line);
            last.1.push('\n');
        }
    }
    build(sections, None)
}

/// A document from `(heading, raw text)` blocks: normalised sections (empty ones dropped) and the
/// metadata guessed from their text, with `title_hint` (a `<title>` or `#` heading) preferred.
pub(super) fn build(sections: Vec<(Option<String>, String)>, title_hint: Option<String>) -> ExtractedDocument {
    let sections: Vec<Section> = sections
        .into_iter()
        .map(|(heading, raw)| Section {
            text: normalize(&raw),
            page: None,
            anchor: heading.clone(),
            heading,
        })
        .filter(|s| !s.text.is_empty())
        .collect();
    let full = sections.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join("\n");
    let m = meta::guess(&full, title_hint.as_deref());
    ExtractedDocument::from_meta(m, sections)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DocType;

    const NTA: &str = "1. [ホーム](https://www.nta.go.jp/)\n2. [法令等](https://www.nta.go.jp/law/index.htm)\n\
3. 個人情報保護法の一部改正に伴う関係事務運営指針の整理について（事務運営指針）\n\n\n官公１－15\n\n令和４年３月23日\n\n\
各国税局長　殿\n\n国税庁長官\n\n（官印省略）\n\n# 個人情報保護法の一部改正に伴う関係事務運営指針の整理について（事務運営指針）\n\n\
表題のことについては、[別紙](https://x/01.pdf)のとおり改正したから、\nこれにより適切に対応されたい。\n\n（趣旨）\n\n\
[![Adobe Reader](https://x/get.gif)](http://get.adobe.com/jp/reader/)\n\n[このページの先頭へ](https://x#top)\n\n\
## [法令等](https://www.nta.go.jp/law/index.htm)\n\n### [税法](https://elaws)\n\n|     |     |\n| --- | --- |\n|  |  |\n";

    #[test]
    fn markdown_drops_navigation() {
        let d = extract_markdown(NTA);
        assert_eq!(
            d.title,
            "個人情報保護法の一部改正に伴う関係事務運営指針の整理について(事務運営指針)"
        );
        let all: String = d.sections.iter().map(|s| s.text.clone()).collect::<Vec<_>>().join("\n");
        for nav in ["ホーム", "法令等", "税法", "このページの先頭へ", "Adobe", "https://"] {
            assert!(!all.contains(nav), "{nav} leaked into {all}");
        }
        assert!(
            all.contains("別紙のとおり改正したから、これにより適切に対応されたい。"),
            "{all}"
        );
        assert_eq!(d.sections.len(), 2);
        assert_eq!(d.sections[1].heading.as_deref(), Some(d.title.as_str()));
        assert_eq!(d.number.as_deref(), Some("官公1-15"));
        assert_eq!(d.issued, chrono::NaiveDate::from_ymd_opt(2022, 3, 23));
        assert_eq!(d.issuer.as_deref(), Some("国税庁長官"));
        assert_eq!(d.doc_type, DocType::Circular);
    }

    #[test]
    fn markdown_tables_and_links() {
        assert_eq!(strip_inline("[a[b]](u) and ![img](s) [x]"), "a[b] and  [x]");
        assert_eq!(table_row("| 区分 | 内容 |").as_deref(), Some("区分 | 内容"));
        assert_eq!(table_row("| --- | :-: |"), None);
        assert!(is_link_only("[a](b) ![c](d)"));
        assert!(!is_link_only("[a](b) text"));
        assert_eq!(strip_inline("unclosed [bracket"), "unclosed [bracket");
        assert_eq!(strip_inline("[text](no close"), "[text](no close");
    }

    #[test]
    fn plain_text_sections() {
        let src = "検査料の点数の取扱いについて\n\n標記について通知する。\n\n記\n\n１．別添１を次のように改める。\n\n２．適用は令和３年９月１日とする。\n\n第２　その他\n以上\n";
        let d = extract_plain(src);
        assert_eq!(d.title, "検査料の点数の取扱いについて");
        let anchors: Vec<Option<&str>> = d.sections.iter().map(|s| s.anchor.as_deref()).collect();
        assert_eq!(
            anchors,
            vec![
                None,
                Some("記"),
                Some("1.別添1を次のように改める。"),
                Some("2.適用は令和3年9月1日とする。"),
                Some("第2 その他")
            ]
        );
        assert!(d.sections[4].text.starts_with("第2 その他"));
        assert!(!crate::text::looks_like_heading("1.5倍にする"));
        assert!(crate::text::looks_like_heading("第１章　総則"));
        assert!(!crate::text::looks_like_heading("第三者に提供"));
    }
}
