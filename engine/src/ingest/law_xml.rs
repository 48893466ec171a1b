//! e-Gov 法令標準XML: one section per 項 (or per 条 when it has one 項), anchored the way laws are
//! cited (第十七条第二項, 附則第三条), with the 編/章/節 path as the heading.
//!
//! The reader streams the file (地方自治法 is 2.4 MB) and never expands entities: a document type
//! declaration that declares entities is refused outright, so a "billion laughs" file is an
//! error, not a hang. XML that is not a `<Law>` is read as plain text.

use std::path::Path;

use chrono::NaiveDate;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::document::{ExtractedDocument, IngestError, Section};
use super::meta;
use crate::model::DocType;
use crate::text::{era_year_to_western, normalize};

/// Deeper nesting than this is not a law (e-Gov files nest about 15 deep).
const MAX_DEPTH: usize = 256;

/// Structure levels, outermost first, with the element that carries each one's title.
const LEVELS: &[(&str, &str)] = &[
    ("Part", "PartTitle"),
    ("Chapter", "ChapterTitle"),
    ("Section", "SectionTitle"),
    ("Subsection", "SubsectionTitle"),
    ("Division", "DivisionTitle"),
];

/// 1 → 一, 10 → 十, 17 → 十七, 123 → 百二十三 (how laws number 条 and 項).
pub(crate) fn to_kanji(n: u64) -> String {
    const DIGITS: [&str; 10] = ["〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    if n == 0 {
        return "〇".to_string();
    }
    if n >= 10_000 {
        return n.to_string();
    }
    let mut out = String::new();
    for (unit, name) in [(1000, "千"), (100, "百"), (10, "十")] {
        let d = (n / unit % 10) as usize;
        if d > 1 {
            out.push_str(DIGITS[d]);
        }
        if d > 0 {
            out.push_str(name);
        }
    }
    let d = (n % 10) as usize;
    if d > 0 {
        out.push_str(DIGITS[d]);
    }
    out
}

#[derive(Default)]
struct Para {
    num: String,
    caption: String,
    para_num: String,
    text: String,
}

#[derive(Default)]
struct Article {
    title: String,
    caption: String,
    paragraphs: Vec<Para>,
}

#[derive(Default)]
struct Suppl {
    label: String,
    amend: Option<String>,
    /// 項 directly under the 附則 (no 条).
    paragraphs: Vec<Para>,
}

/// A free-standing block: 別表, 制定文, 前文.
struct Block {
    element: String,
    title: String,
    text: String,
}

#[derive(Default)]
struct State {
    law_num: String,
    law_title: String,
    headings: Vec<(usize, String)>,
    pending_level: Option<usize>,
    level_title: String,
    suppl: Option<Suppl>,
    article: Option<Article>,
    para: Option<Para>,
    block: Option<Block>,
    sections: Vec<Section>,
}

impl State {
    fn heading(&self) -> Option<String> {
        if let Some(s) = &self.suppl {
            let label = if s.label.is_empty() {
                "附則".to_string()
            } else {
                normalize(&s.label).replace(' ', "")
            };
            return Some(match &s.amend {
                Some(a) => format!("{label} ({a})"),
                None => label,
            });
        }
        let path: Vec<&str> = self.headings.iter().map(|(_, t)| t.as_str()).collect();
        (!path.is_empty()).then(|| path.join(" "))
    }

    fn anchor_prefix(&self) -> String {
        match &self.suppl {
            Some(s) => match &s.amend {
                Some(a) => format!("附則({a})"),
                None => "附則".to_string(),
            },
            None => String::new(),
        }
    }

    fn push_section(&mut self, text: String, anchor: String) {
        let text = normalize(&text);
        if !text.is_empty() {
            let heading = self.heading();
            self.sections.push(Section {
                text,
                page: None,
                anchor: Some(anchor).filter(|a| !a.is_empty()),
                heading,
            });
        }
    }

    /// Emits an article: one section per 項, or one for the whole 条 when it has one 項.
    fn finish_article(&mut self, article: Article) {
        let title = normalize(&article.title).replace(' ', "");
        let prefix = format!("{}{title}", self.anchor_prefix());
        let single = article.paragraphs.len() <= 1;
        for (i, p) in article.paragraphs.into_iter().enumerate() {
            let mut text = String::new();
            // Every 項 carries its article's caption (見出し): 「（審査請求期間）」 is what a question
            // about the second 項 matches, on both the keyword and the dense side.
            if !article.caption.is_empty() {
                text.push_str(&article.caption);
                text.push('\n');
            }
            if !p.caption.is_empty() {
                text.push_str(&p.caption);
                text.push('\n');
            }
            let lead = if i == 0 { &article.title } else { &p.para_num };
            if !lead.is_empty() {
                text.push_str(lead);
                text.push('\u{3000}');
            }
            text.push_str(&p.text);
            let anchor = if single {
                prefix.clone()
            } else {
                format!("{prefix}第{}項", paragraph_number(&p, i))
            };
            self.push_section(text, anchor);
        }
    }

    /// Emits 項 that stand outside any 条 (short 附則, or a law without articles).
    fn finish_loose_paragraphs(&mut self, paragraphs: Vec<Para>) {
        let prefix = self.anchor_prefix();
        let single = paragraphs.len() <= 1;
        for (i, p) in paragraphs.into_iter().enumerate() {
            let mut text = String::new();
            if !p.caption.is_empty() {
                text.push_str(&p.caption);
                text.push('\n');
            }
            if !p.para_num.is_empty() {
                text.push_str(&p.para_num);
                text.push('\u{3000}');
            }
            text.push_str(&p.text);
            let anchor = if single && !prefix.is_empty() {
                prefix.clone()
            } else {
                format!("{prefix}第{}項", paragraph_number(&p, i))
            };
            self.push_section(text, anchor);
        }
    }
}

fn paragraph_number(p: &Para, index: usize) -> String {
    p.num
        .trim()
        .parse::<u64>()
        .map_or_else(|_| to_kanji(index as u64 + 1), to_kanji)
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

fn promulgation_date(e: &BytesStart<'_>) -> Option<NaiveDate> {
    let era = match attr(e, b"Era")?.as_str() {
        "Meiji" => "明治",
        "Taisho" => "大正",
        "Showa" => "昭和",
        "Heisei" => "平成",
        "Reiwa" => "令和",
        _ => return None,
    };
    let year = era_year_to_western(era, attr(e, b"Year")?.trim().parse().ok()?)?;
    let month = attr(e, b"PromulgateMonth")?.trim().parse().ok()?;
    let day = attr(e, b"PromulgateDay")?.trim().parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Extracts the law in an e-Gov XML file (or the text of other XML).
pub(crate) fn extract(path: &Path, source: &str) -> Result<ExtractedDocument, IngestError> {
    let mut reader = Reader::from_str(source);
    let mut walk = Walk::default();
    loop {
        let event = reader.read_event().map_err(|e| xml_error(path, &reader, e.to_string()))?;
        match walk.on(event).map_err(|detail| xml_error(path, &reader, detail))? {
            Flow::Continue => {}
            Flow::Done => break,
        }
    }
    if let Some(open) = walk.stack.last() {
        return Err(xml_error(path, &reader, format!("file ends inside <{open}> (truncated?)")));
    }
    Ok(walk.into_document())
}

fn xml_error(path: &Path, reader: &Reader<&[u8]>, detail: String) -> IngestError {
    IngestError::Xml {
        path: path.to_path_buf(),
        position: reader.error_position().max(reader.buffer_position()),
        detail,
    }
}

enum Flow {
    Continue,
    Done,
}

/// The state of one pass over the XML events: the open elements, and either the law being read
/// (the root is `<Law>`) or the plain text of any other XML.
#[derive(Default)]
struct Walk {
    stack: Vec<String>,
    st: State,
    issued: Option<NaiveDate>,
    /// Decided by the root element.
    is_law: Option<bool>,
    /// Non-law XML: its text and the first text of an element named like a title.
    plain: String,
    plain_title: Option<String>,
    /// Inside these, text is not document text (the TOC repeats headings; Rt is a reading).
    skip_until: Option<usize>,
}

impl Walk {
    /// Takes one event; an error is the detail of a malformed or refused document.
    fn on(&mut self, event: Event<'_>) -> Result<Flow, String> {
        match event {
            Event::DocType(d) => {
                if String::from_utf8_lossy(d.as_ref()).contains("ENTITY") {
                    return Err("the document type declares entities; entity expansion is refused".into());
                }
            }
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if self.is_law.is_none() {
                    self.is_law = Some(name == "Law");
                    if name == "Law" {
                        self.issued = promulgation_date(&e);
                    }
                }
                self.stack.push(name.clone());
                if self.stack.len() > MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                }
                if self.is_law == Some(true) && self.skip_until.is_none() {
                    start_element(&mut self.st, &name, &e);
                    if matches!(name.as_str(), "TOC" | "Rt") {
                        self.skip_until = Some(self.stack.len());
                    }
                }
            }
            Event::Empty(e) => {
                if self.is_law.is_none() {
                    self.is_law = Some(false);
                }
                let law_item = self.is_law == Some(true) && self.skip_until.is_none() && e.local_name().as_ref() == b"Item";
                if let Some(p) = self.st.para.as_mut().filter(|_| law_item) {
                    p.text.push('\n');
                }
            }
            Event::End(_) => {
                let Some(name) = self.stack.pop() else { return Ok(Flow::Done) };
                if self.skip_until.is_some_and(|d| d > self.stack.len()) {
                    self.skip_until = None;
                } else if self.is_law == Some(true) {
                    if self.skip_until.is_none() {
                        end_element(&mut self.st, &name);
                    }
                } else if !self.plain.ends_with('\n') {
                    self.plain.push('\n');
                }
            }
            Event::Text(t) if self.skip_until.is_none() => {
                let text = t.unescape().map_err(|e| e.to_string())?;
                self.text(&text, true);
            }
            Event::CData(c) if self.skip_until.is_none() => self.text(&String::from_utf8_lossy(&c), false),
            Event::Eof => return Ok(Flow::Done),
            _ => {}
        }
        Ok(Flow::Continue)
    }

    /// Text inside the current element; `may_title`: plain text here may be a title.
    fn text(&mut self, text: &str, may_title: bool) {
        if self.is_law == Some(true) {
            text_in(&mut self.st, &self.stack, text);
            return;
        }
        if may_title
            && self.plain_title.is_none()
            && self.stack.last().is_some_and(|n| n.to_ascii_lowercase().contains("title"))
            && !text.trim().is_empty()
        {
            self.plain_title = Some(normalize(text));
        }
        self.plain.push_str(text);
    }

    fn into_document(self) -> ExtractedDocument {
        if self.is_law != Some(true) {
            let text = normalize(&self.plain);
            let m = meta::guess(&text, self.plain_title.as_deref());
            return ExtractedDocument::from_meta(m, vec![Section { text, page: None, anchor: None, heading: None }]);
        }
        ExtractedDocument {
            key: String::new(),
            title: normalize(&self.st.law_title),
            doc_type: DocType::Law,
            issuer: None,
            issued: self.issued,
            number: Some(normalize(&self.st.law_num)).filter(|n| !n.is_empty()),
            sections: self.st.sections,
            exchange: None,
        }
    }
}

fn start_element(st: &mut State, name: &str, e: &BytesStart<'_>) {
    if let Some(level) = LEVELS.iter().position(|(el, _)| *el == name) {
        if st.suppl.is_none() {
            st.headings.retain(|(l, _)| *l < level);
            st.pending_level = Some(level);
            st.level_title.clear();
        }
        return;
    }
    match name {
        "SupplProvision" => {
            st.suppl = Some(Suppl {
                amend: attr(e, b"AmendLawNum"),
                ..Suppl::default()
            })
        }
        "Article" => st.article = Some(Article::default()),
        "Paragraph" => {
            st.para = Some(Para {
                num: attr(e, b"Num").unwrap_or_default(),
                ..Para::default()
            })
        }
        // Each 号 (and 号の細分) starts a line inside its 項.
        "Item" | "Subitem1" | "Subitem2" | "Subitem3" | "Subitem4" | "Subitem5" | "Subitem6" => {
            if let Some(p) = st.para.as_mut() {
                p.text.push('\n');
            }
        }
        "EnactStatement" | "Preamble" | "AppdxTable" | "AppdxNote" | "AppdxStyle" | "AppdxFormat" | "AppdxFig"
        | "Appdx"
            if st.para.is_none() && st.block.is_none() =>
        {
            st.block = Some(Block {
                element: name.to_string(),
                title: String::new(),
                text: String::new(),
            });
        }
        _ => {}
    }
}

fn end_element(st: &mut State, name: &str) {
    if let Some(level) = LEVELS.iter().position(|(_, title)| *title == name) {
        if st.suppl.is_none() && st.pending_level == Some(level) {
            st.headings.push((level, normalize(&st.level_title)));
            st.pending_level = None;
        }
        return;
    }
    match name {
        "ItemTitle" | "Subitem1Title" | "Subitem2Title" | "Subitem3Title" | "Subitem4Title" | "Subitem5Title"
        | "Subitem6Title" | "Column" => {
            if let Some(p) = st.para.as_mut() {
                p.text.push('\u{3000}');
            }
        }
        "TableRow" | "Sentence" if st.para.is_none() => {
            if let Some(b) = st.block.as_mut() {
                b.text.push('\n');
            }
        }
        "TableColumn" => {
            if let Some(p) = st.para.as_mut() {
                p.text.push('\u{3000}');
            } else if let Some(b) = st.block.as_mut() {
                b.text.push('\u{3000}');
            }
        }
        "TableRow" => {
            if let Some(p) = st.para.as_mut() {
                p.text.push('\n');
            }
        }
        "Paragraph" => {
            if let Some(p) = st.para.take() {
                if let Some(a) = st.article.as_mut() {
                    a.paragraphs.push(p);
                } else if let Some(s) = st.suppl.as_mut() {
                    s.paragraphs.push(p);
                } else {
                    st.finish_loose_paragraphs(vec![p]);
                }
            }
        }
        "Article" => {
            if let Some(a) = st.article.take() {
                st.finish_article(a);
            }
        }
        "SupplProvision" => {
            let loose = st
                .suppl
                .as_mut()
                .map(|s| std::mem::take(&mut s.paragraphs))
                .unwrap_or_default();
            st.finish_loose_paragraphs(loose);
            st.suppl = None;
        }
        n if st.block.as_ref().is_some_and(|b| b.element == n) => {
            if let Some(b) = st.block.take() {
                let title = normalize(&b.title);
                let anchor = if !title.is_empty() {
                    title
                } else if n == "Preamble" {
                    "前文".to_string()
                } else if n == "EnactStatement" {
                    "制定文".to_string()
                } else {
                    "別表".to_string()
                };
                let suppl = st.suppl.take();
                let headings = std::mem::take(&mut st.headings);
                st.push_section(b.text, anchor);
                st.suppl = suppl;
                st.headings = headings;
            }
        }
        _ => {}
    }
}

/// Routes a text node to the field the innermost relevant element says it belongs to.
fn text_in(st: &mut State, stack: &[String], text: &str) {
    let Some(current) = stack.last().map(String::as_str) else {
        return;
    };
    match current {
        "LawNum" => return st.law_num.push_str(text),
        "LawTitle" => return st.law_title.push_str(text),
        "ArticleTitle" => {
            if let Some(a) = st.article.as_mut() {
                a.title.push_str(text);
            }
            return;
        }
        "ArticleCaption" => {
            if let Some(a) = st.article.as_mut() {
                a.caption.push_str(text);
            }
            return;
        }
        "ParagraphCaption" => {
            if let Some(p) = st.para.as_mut() {
                p.caption.push_str(text);
            }
            return;
        }
        "ParagraphNum" => {
            if let Some(p) = st.para.as_mut() {
                p.para_num.push_str(text);
            }
            return;
        }
        "SupplProvisionLabel" => {
            if let Some(s) = st.suppl.as_mut() {
                s.label.push_str(text);
            }
            return;
        }
        _ => {}
    }
    if LEVELS.iter().any(|(_, t)| *t == current) {
        st.level_title.push_str(text);
        return;
    }
    if let Some(p) = st.para.as_mut() {
        // Whitespace between elements of pretty-printed files is not text.
        if !text.trim().is_empty() {
            p.text.push_str(text.trim_matches(['\n', '\r', '\t', ' ']));
        }
        return;
    }
    if let Some(b) = st.block.as_mut() {
        if current.ends_with("Title") && b.title.is_empty() {
            b.title.push_str(text);
        } else if !text.trim().is_empty() {
            b.text.push_str(text.trim_matches(['\n', '\r', '\t', ' ']));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAW: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Law Era="Heisei" Lang="ja" LawType="Act" Num="088" Year="05" PromulgateMonth="11" PromulgateDay="12">
  <LawNum>平成五年法律第八十八号</LawNum>
  <LawBody>
    <LawTitle Kana="ぎょうせいてつづきほう">行政手続法</LawTitle>
    <TOC><TOCLabel>目次</TOCLabel><TOCChapter Num="1"><ChapterTitle>第一章　総則</ChapterTitle></TOCChapter></TOC>
    <MainProvision>
      <Chapter Num="1"><ChapterTitle>第一章　総則</ChapterTitle>
        <Article Num="1"><ArticleCaption>（目的等）</ArticleCaption><ArticleTitle>第一条</ArticleTitle>
          <Paragraph Num="1"><ParagraphNum/><ParagraphSentence><Sentence>この法律は、<Ruby>竣<Rt>しゆん</Rt></Ruby>功を目的とする。</Sentence></ParagraphSentence></Paragraph>
          <Paragraph Num="2"><ParagraphNum>２</ParagraphNum><ParagraphSentence><Sentence>他の法律に特別の定めがある場合は、その定めるところによる。</Sentence></ParagraphSentence></Paragraph>
        </Article>
        <Article Num="2"><ArticleCaption>（定義）</ArticleCaption><ArticleTitle>第二条</ArticleTitle>
          <Paragraph Num="1"><ParagraphNum/><ParagraphSentence><Sentence>次の各号に掲げる用語の意義は、当該各号に定めるところによる。</Sentence></ParagraphSentence>
            <Item Num="1"><ItemTitle>一</ItemTitle><ItemSentence><Column Num="1"><Sentence>法令</Sentence></Column><Column Num="2"><Sentence>法律をいう。</Sentence></Column></ItemSentence></Item>
            <Item Num="2"><ItemTitle>二</ItemTitle><ItemSentence><Sentence>処分　行政庁の処分をいう。</Sentence></ItemSentence></Item>
          </Paragraph>
        </Article>
      </Chapter>
      <Chapter Num="3"><ChapterTitle>第三章　不利益処分</ChapterTitle>
        <Section Num="1"><SectionTitle>第一節　通則</SectionTitle>
          <Article Num="17"><ArticleTitle>第十七条</ArticleTitle>
            <Paragraph Num="1"><ParagraphNum/><ParagraphSentence><Sentence>第一項の文。</Sentence></ParagraphSentence></Paragraph>
            <Paragraph Num="2"><ParagraphNum>２</ParagraphNum><ParagraphSentence><Sentence>第二項の文。</Sentence></ParagraphSentence></Paragraph>
          </Article>
        </Section>
      </Chapter>
    </MainProvision>
    <SupplProvision><SupplProvisionLabel>附　則</SupplProvisionLabel>
      <Paragraph Num="1"><ParagraphCaption>（施行期日）</ParagraphCaption><ParagraphNum>１</ParagraphNum><ParagraphSentence><Sentence>この法律は、公布の日から施行する。</Sentence></ParagraphSentence></Paragraph>
      <Paragraph Num="2"><ParagraphNum>２</ParagraphNum><ParagraphSentence><Sentence>経過措置の文。</Sentence></ParagraphSentence></Paragraph>
    </SupplProvision>
    <SupplProvision AmendLawNum="平成一一年一二月八日法律第一五一号" Extract="true"><SupplProvisionLabel>附　則</SupplProvisionLabel>
      <Article Num="1"><ArticleTitle>第一条</ArticleTitle><Paragraph Num="1"><ParagraphNum/><ParagraphSentence><Sentence>この法律は、平成十二年四月一日から施行する。</Sentence></ParagraphSentence></Paragraph></Article>
    </SupplProvision>
  </LawBody>
</Law>"#;

    fn law() -> ExtractedDocument {
        extract(Path::new("t.xml"), LAW).unwrap()
    }

    #[test]
    fn metadata() {
        let d = law();
        assert_eq!(d.title, "行政手続法");
        assert_eq!(d.number.as_deref(), Some("平成五年法律第八十八号"));
        assert_eq!(d.issued, NaiveDate::from_ymd_opt(1993, 11, 12));
        assert_eq!(d.doc_type, DocType::Law);
    }

    #[test]
    fn anchors_and_headings() {
        let d = law();
        let anchors: Vec<&str> = d.sections.iter().map(|s| s.anchor.as_deref().unwrap_or("")).collect();
        assert_eq!(
            anchors,
            vec![
                "第一条第一項",
                "第一条第二項",
                "第二条",
                "第十七条第一項",
                "第十七条第二項",
                "附則第一項",
                "附則第二項",
                "附則(平成一一年一二月八日法律第一五一号)第一条"
            ]
        );
        assert_eq!(d.sections[0].heading.as_deref(), Some("第一章 総則"));
        assert_eq!(d.sections[3].heading.as_deref(), Some("第三章 不利益処分 第一節 通則"));
        assert_eq!(d.sections[5].heading.as_deref(), Some("附則"));
        assert_eq!(
            d.sections[7].heading.as_deref(),
            Some("附則 (平成一一年一二月八日法律第一五一号)")
        );
    }

    #[test]
    fn texts() {
        let d = law();
        assert_eq!(d.sections[0].text, "(目的等)\n第一条 この法律は、竣功を目的とする。");
        assert_eq!(
            d.sections[1].text,
            "(目的等)\n2 他の法律に特別の定めがある場合は、その定めるところによる。",
            "every 項 carries its article's caption"
        );
        let items = &d.sections[2].text;
        assert!(
            items.contains("\n一 法令法律をいう。\n二 処分行政庁の処分をいう。"),
            "{items}"
        );
        assert!(
            d.sections[5].text.starts_with("(施行期日)\n1 この法律は"),
            "{}",
            d.sections[5].text
        );
        // The TOC's copy of the chapter title is not text.
        assert!(!d.sections.iter().any(|s| s.text.contains("目次")));
    }

    #[test]
    fn kanji_numbers_for_anchors() {
        assert_eq!(to_kanji(1), "一");
        assert_eq!(to_kanji(10), "十");
        assert_eq!(to_kanji(17), "十七");
        assert_eq!(to_kanji(20), "二十");
        assert_eq!(to_kanji(123), "百二十三");
        assert_eq!(to_kanji(1001), "千一");
    }

    #[test]
    fn billion_laughs_is_refused() {
        let xml = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        let err = extract(Path::new("bomb.xml"), xml).unwrap_err();
        assert!(matches!(err, IngestError::Xml { .. }), "{err}");
        assert!(err.to_string().contains("entit"), "{err}");
        // An undeclared entity is an error too, not an expansion.
        assert!(extract(
            Path::new("u.xml"),
            "<Law><LawBody><LawTitle>&lol;</LawTitle></LawBody></Law>"
        )
        .is_err());
    }

    #[test]
    fn malformed_xml_is_an_error() {
        for bad in ["<Law><LawBody></Law>", "<Law><LawTitle>x", "<Law a=\"1></Law>"] {
            let r = extract(Path::new("bad.xml"), bad);
            assert!(matches!(r, Err(IngestError::Xml { .. })), "{bad}: {r:?}");
        }
    }

    #[test]
    fn other_xml_is_read_as_text() {
        let d = extract(
            Path::new("o.xml"),
            "<doc><title>お知らせ</title><body>本文です。</body></doc>",
        )
        .unwrap();
        assert_eq!(d.title, "お知らせ");
        assert_eq!(d.sections[0].text, "お知らせ\n本文です。");
        assert_eq!(d.doc_type, DocType::Other);
    }
}
