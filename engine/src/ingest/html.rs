//! HTML pages: the main text without the site's chrome, one section per heading.
//!
//! Government pages wrap a short notice in navigation, breadcrumbs and footers that would
//! otherwise match every query. The walk prefers `<main>`/`<article>`, skips chrome elements,
//! and turns block elements into paragraph breaks so that [`normalize`] can join the rest.

use scraper::{ElementRef, Html, Node, Selector};

use super::document::ExtractedDocument;
use crate::text::normalize;

/// Elements that never hold the page's own text.
const SKIP: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "button", "select",
    "iframe", "svg", "head", "object", "canvas",
];

/// Elements that end a paragraph.
const BLOCK: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tr",
    "blockquote",
    "pre",
    "hr",
    "figure",
    "figcaption",
    "caption",
    "address",
    "center",
];

/// id/class words of navigation blocks that are not marked up as `<nav>`.
const CHROME_WORDS: &[&str] = &[
    "breadcrumb",
    "topicpath",
    "pankuzu",
    "gnav",
    "globalnav",
    "global-nav",
    "localnav",
    "sidebar",
    "side-nav",
    "skip",
];

/// `inside_content`: the walk started at `<main>`/`<article>`, where a `<header>` holds the
/// article's own title and a `<footer>` its date, not the site's chrome.
fn is_chrome(el: &scraper::node::Element, inside_content: bool) -> bool {
    if inside_content && matches!(el.name(), "header" | "footer") {
        return false;
    }
    if SKIP.contains(&el.name()) {
        return true;
    }
    if matches!(
        el.attr("role"),
        Some("navigation" | "banner" | "contentinfo" | "search")
    ) || el.attr("hidden").is_some()
    {
        return true;
    }
    let id_class = format!(
        "{} {}",
        el.id().unwrap_or(""),
        el.classes().collect::<Vec<_>>().join(" ")
    )
    .to_ascii_lowercase();
    CHROME_WORDS.iter().any(|w| id_class.contains(w))
}

fn select_first<'a>(doc: &'a Html, css: &str) -> Option<ElementRef<'a>> {
    Selector::parse(css).ok().and_then(|s| doc.select(&s).next())
}

fn element_text(el: ElementRef<'_>) -> String {
    normalize(&el.text().collect::<Vec<_>>().join(" "))
}

/// `<title>` without a trailing 「｜サイト名」, or the first `<h1>`.
fn page_title(doc: &Html) -> Option<String> {
    let h1 = select_first(doc, "h1").map(element_text).filter(|t| !t.is_empty());
    let title = select_first(doc, "title")
        .map(element_text)
        .filter(|t| !t.is_empty())
        .map(|t| match t.rfind(['|', '｜']).or_else(|| t.rfind(" - ")) {
            Some(i) if i > 0 && t[i..].chars().count() <= 25 => t[..i].trim().to_string(),
            _ => t,
        });
    match (title, h1) {
        (Some(t), Some(h)) if t.contains(&h) => Some(h),
        (Some(t), _) => Some(t),
        (None, h) => h,
    }
}

/// Extracts one document from an HTML page.
pub(crate) fn extract(source: &str) -> ExtractedDocument {
    let doc = Html::parse_document(source);
    let root = select_first(&doc, "main")
        .or_else(|| select_first(&doc, "article"))
        .or_else(|| select_first(&doc, "body"))
        .unwrap_or_else(|| doc.root_element());
    let inside_content = matches!(root.value().name(), "main" | "article");

    // (heading, raw text) per heading block; iterative walk, so deep nesting cannot overflow.
    let mut blocks: Vec<(Option<String>, String)> = vec![(None, String::new())];
    enum Step<'a> {
        Enter(ElementRef<'a>),
        Text(&'a str),
        Leave(&'static str),
    }
    fn push(blocks: &mut [(Option<String>, String)], s: &str) {
        if let Some(last) = blocks.last_mut() {
            last.1.push_str(s);
        }
    }
    let mut stack = vec![Step::Enter(root)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Leave(sep) => push(&mut blocks, sep),
            // Source newlines in HTML are plain whitespace.
            Step::Text(t) => push(&mut blocks, &t.replace(['\n', '\r'], " ")),
            Step::Enter(el) => {
                if is_chrome(el.value(), inside_content) {
                    continue;
                }
                let name = el.value().name();
                if matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6") {
                    let heading = Some(element_text(el)).filter(|h| !h.is_empty());
                    blocks.push((heading, String::new()));
                    continue;
                }
                let sep: &'static str = if BLOCK.contains(&name) {
                    "\n\n"
                } else if name == "br" {
                    "\n"
                } else if matches!(name, "td" | "th") {
                    // Cells stay apart (「区分 | 内容」): whitespace alone would vanish between CJK.
                    let row_start = blocks
                        .last()
                        .is_none_or(|b| b.1.trim_end_matches(' ').ends_with('\n') || b.1.trim().is_empty());
                    if row_start {
                        " "
                    } else {
                        " | "
                    }
                } else {
                    ""
                };
                push(&mut blocks, sep);
                stack.push(Step::Leave(if sep == " | " { " " } else { sep }));
                let children: Vec<Step<'_>> = el
                    .children()
                    .filter_map(|child| match child.value() {
                        Node::Text(t) => Some(Step::Text(&t.text)),
                        Node::Element(_) => ElementRef::wrap(child).map(Step::Enter),
                        _ => None,
                    })
                    .collect();
                stack.extend(children.into_iter().rev());
            }
        }
    }

    super::markup::build(blocks, page_title(&doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DocType;

    const PAGE: &str = r#"<!DOCTYPE html><html><head><title>申告書等閲覧サービスの実施について（事務運営指針）｜国税庁</title>
<script>var x = "スクリプト";</script><style>.a{}</style></head>
<body><header><a href="/">国税庁ホーム</a></header>
<nav><ul><li>ホーム</li><li>法令等</li></ul></nav>
<div class="breadcrumb">ホーム &gt; 法令等</div>
<main>
<p>官総１－１５<br>令和６年３月２９日</p>
<p>各国税局長　殿</p><p>国税庁長官</p>
<h1>申告書等閲覧サービスの実施について（事務運営指針）</h1>
<p>標記のことについて、別冊の　と　お　り　定めたから、
これにより適切に実施されたい。</p>
<h2>第１章　基本的な考え方</h2>
<p>閲覧サービスは、<b>本人確認</b>を行った上で実施する。</p>
<table><tr><th>区分</th><td>内容</td></tr></table>
</main>
<footer>このページの先頭へ</footer></body></html>"#;

    #[test]
    fn main_text_without_chrome() {
        let d = extract(PAGE);
        assert_eq!(d.title, "申告書等閲覧サービスの実施について(事務運営指針)");
        let all: String = d.sections.iter().map(|s| s.text.clone()).collect::<Vec<_>>().join("\n");
        for chrome in ["国税庁ホーム", "スクリプト", "法令等", "このページの先頭へ"] {
            assert!(!all.contains(chrome), "{chrome} leaked into {all}");
        }
        assert!(
            all.contains("別冊のとおり定めたから、これにより適切に実施されたい。"),
            "{all}"
        );
        assert_eq!(d.doc_type, DocType::Circular);
        assert_eq!(d.issuer.as_deref(), Some("国税庁長官"));
        assert_eq!(d.issued, chrono::NaiveDate::from_ymd_opt(2024, 3, 29));
        assert_eq!(d.number.as_deref(), Some("官総1-15"));
    }

    #[test]
    fn one_section_per_heading() {
        let d = extract(PAGE);
        let headings: Vec<Option<&str>> = d.sections.iter().map(|s| s.anchor.as_deref()).collect();
        assert_eq!(
            headings,
            vec![
                None,
                Some("申告書等閲覧サービスの実施について(事務運営指針)"),
                Some("第1章 基本的な考え方")
            ]
        );
        assert!(d.sections[2].text.contains("本人確認を行った上で実施する。"));
        assert!(d.sections[2].text.contains("区分 | 内容"), "{}", d.sections[2].text);
    }

    #[test]
    fn page_without_main_uses_body_and_h1() {
        let d = extract("<html><body><h1>お知らせ</h1><p>本文です。</p></body></html>");
        assert_eq!(d.title, "お知らせ");
        assert_eq!(d.sections.len(), 1);
        assert_eq!(d.sections[0].text, "本文です。");
    }

    #[test]
    fn article_header_is_content() {
        let d = extract("<html><body><header>サイト名</header><article><header><h1>記事の見出し</h1></header><p>本文。</p><footer>令和6年4月1日</footer></article></body></html>");
        assert_eq!(d.sections[0].anchor.as_deref(), Some("記事の見出し"));
        assert!(d.sections[0].text.contains("令和6年4月1日"));
        assert!(!d.sections.iter().any(|s| s.text.contains("サイト名")));
        assert_eq!(d.issued, chrono::NaiveDate::from_ymd_opt(2024, 4, 1));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let html = format!(
            "<html><body>{}深い{}</body></html>",
            "<div>".repeat(20_000),
            "</div>".repeat(20_000)
        );
        let d = extract(&html);
        assert!(d.sections.iter().any(|s| s.text.contains("深い")));
    }
}
