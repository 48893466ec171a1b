//! Query normalisation for Japanese administrative language: 和暦 ↔ 西暦 years and an editable
//! synonym/abbreviation list. Width, case and 旧字体 are handled by [`crate::text::analysis::prepare`]
//! on both the index and the query side; this module only *adds* alternative forms to the
//! question, so an expansion can widen recall but never removes the user's own words.

use std::path::Path;

use regex::Regex;
use serde::Deserialize;

use crate::error::{Error, Result};

const BUILTIN_SYNONYMS: &str = include_str!("synonyms.toml");

#[derive(Debug, Deserialize)]
struct SynonymFile {
    #[serde(default)]
    group: Vec<SynonymGroup>,
    #[serde(default)]
    plain: Vec<PlainWords>,
}

#[derive(Debug, Deserialize)]
struct SynonymGroup {
    terms: Vec<String>,
}

/// Words residents use and the official terms documents use for the same thing. One way only:
/// 「引っ越してきた」 means a 転入届, but a question about 転入届 says nothing of 引っ越し.
#[derive(Debug, Deserialize)]
struct PlainWords {
    words: Vec<String>,
    official: Vec<String>,
}

/// Expands questions with alternative forms.
#[derive(Debug)]
pub struct QueryExpander {
    groups: Vec<Vec<String>>,
    /// (plain words, official terms), prepared.
    plain: Vec<(Vec<String>, Vec<String>)>,
    era_year: Regex,
    western_year: Regex,
}

impl QueryExpander {
    /// The built-in synonym list.
    pub fn builtin() -> QueryExpander {
        Self::from_toml(BUILTIN_SYNONYMS).unwrap_or_else(|_| Self::with_groups(Vec::new()))
    }

    /// Loads a synonym list from a TOML file (`[[group]] terms = [...]`).
    pub fn from_file(path: &Path) -> Result<QueryExpander> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Self::from_toml(&text).map_err(|e| Error::InvalidQuery(format!("synonym list {}: {e}", path.display())))
    }

    /// The list the configuration names (`search.synonyms`, default `<data_dir>/synonyms.toml`)
    /// when that file exists, else the built-in one.
    pub fn from_config(config: &crate::config::Config) -> Result<QueryExpander> {
        let user_list = config.search.synonyms.clone().unwrap_or_else(|| config.data_dir.join("synonyms.toml"));
        if user_list.exists() {
            Self::from_file(&user_list)
        } else {
            Ok(Self::builtin())
        }
    }

    /// A list without synonyms (dates only), for measuring what the list adds.
    pub fn without_synonyms() -> QueryExpander {
        Self::with_groups(Vec::new())
    }

    fn from_toml(text: &str) -> std::result::Result<QueryExpander, toml::de::Error> {
        let file: SynonymFile = toml::from_str(text)?;
        let prepare_all = |terms: &[String]| -> Vec<String> { terms.iter().map(|t| crate::text::analysis::prepare(t)).collect() };
        let groups = file.group.iter().map(|g| prepare_all(&g.terms)).collect();
        let plain = file.plain.iter().map(|p| (prepare_all(&p.words), prepare_all(&p.official))).collect();
        Ok(Self::with_lists(groups, plain))
    }

    fn with_groups(groups: Vec<Vec<String>>) -> QueryExpander {
        Self::with_lists(groups, Vec::new())
    }

    fn with_lists(groups: Vec<Vec<String>>, plain: Vec<(Vec<String>, Vec<String>)>) -> QueryExpander {
        QueryExpander {
            groups,
            plain,
            // Digits are ASCII here: expansion runs on NFKC-normalised text.
            era_year: Regex::new(r"(令和|平成|昭和|大正|明治)(元|[0-9]{1,2})年").expect("static regex"),
            western_year: Regex::new(r"(1[89][0-9]{2}|20[0-9]{2})年").expect("static regex"),
        }
    }

    /// The question plus alternative forms, separated by spaces.
    pub fn expand(&self, question: &str) -> String {
        let normalized = crate::text::analysis::prepare(question);
        let mut extra: Vec<String> = Vec::new();
        for cap in self.era_year.captures_iter(&normalized) {
            let n = if &cap[2] == "元" { Some(1) } else { cap[2].parse::<u32>().ok() };
            if let Some(year) = n.and_then(|n| crate::text::era_year_to_western(&cap[1], n)) {
                extra.push(format!("{year}年"));
            }
        }
        for cap in self.western_year.captures_iter(&normalized) {
            if let Ok(year) = cap[1].parse::<i32>() {
                for (name, n) in crate::text::western_to_era_years(year) {
                    extra.push(if n == 1 { format!("{name}元年") } else { format!("{name}{n}年") });
                }
            }
        }
        for group in &self.groups {
            if group.iter().any(|t| normalized.contains(t.as_str())) {
                extra.extend(group.iter().filter(|t| !normalized.contains(t.as_str())).cloned());
            }
        }
        for (words, official) in &self.plain {
            if words.iter().any(|w| normalized.contains(w.as_str())) {
                for term in official {
                    if !normalized.contains(term.as_str()) && !extra.contains(term) {
                        extra.push(term.clone());
                    }
                }
            }
        }
        if extra.is_empty() {
            question.to_string()
        } else {
            format!("{question} {}", extra.join(" "))
        }
    }
}

/// An article (条) that a question or a citation anchor names: 第三十九条, 39条3項,
/// 第二百四十二条の二第二項. Numbers are compared as numbers, so 39条 names 第三十九条.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArticleRef {
    pub article: u64,
    /// The の number of an inserted article (第二百四十二条の二 → 2).
    pub branch: Option<u64>,
    /// The 項, when named.
    pub paragraph: Option<u64>,
}

impl ArticleRef {
    /// How closely `anchor` (a passage's citation, e.g. 「第二章 … 第十四条第一項」) matches this
    /// reference: 2 for the same 条 and 項, 1 for the same 条, 0 otherwise.
    pub fn match_level(&self, anchor: &str) -> u8 {
        let Some(a) = article_refs(anchor).pop() else { return 0 };
        if a.article != self.article || a.branch != self.branch {
            return 0;
        }
        match (self.paragraph, a.paragraph) {
            (Some(p), Some(q)) if p == q => 2,
            (Some(_), Some(_)) => 0,
            _ => 1,
        }
    }

    /// The passage among `passages` (one law's) that this reference names: one of the named 項
    /// before the rest of the 条, the first in the law first.
    pub fn passage_in<'p>(&self, passages: &'p [crate::model::Passage]) -> Option<&'p crate::model::Passage> {
        passages
            .iter()
            .map(|p| (self.match_level(p.anchor.as_deref().unwrap_or_default()), p))
            .filter(|(level, _)| *level > 0)
            .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.ordinal.cmp(&a.1.ordinal)))
            .map(|(_, p)| p)
    }
}

/// The articles named in `text` (kanji, Arabic or full-width numerals), in order.
pub fn article_refs(text: &str) -> Vec<ArticleRef> {
    use unicode_normalization::UnicodeNormalization;
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    const N: &str = "[0-9]+|[〇一二三四五六七八九十百千]+";
    let re = RE.get_or_init(|| Regex::new(&format!("第?({N})条(?:の({N}))?(?:第?({N})項)?")).expect("static regex"));
    let text: String = text.nfkc().collect();
    let mut out = Vec::new();
    for cap in re.captures_iter(&text) {
        let whole = cap.get(0).map_or("", |m| m.as_str());
        let after = cap.get(0).map_or("", |m| &text[m.end()..]);
        // 「三条件」「十条例」: 条 starts another word; an article needs 第 or a 項, or must not be
        // followed by such a word.
        if !whole.starts_with('第') && cap.get(3).is_none() && after.starts_with(['件', '例', '約', '文', '理', '規']) {
            continue;
        }
        let num = |i: usize| cap.get(i).and_then(|m| crate::text::kanji_number(m.as_str()));
        if let Some(article) = num(1) {
            out.push(ArticleRef { article, branch: num(2), paragraph: num(3) });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_are_read_in_any_numerals() {
        let r = |article, branch, paragraph| ArticleRef { article, branch, paragraph };
        assert_eq!(article_refs("行政手続法第三十九条について"), vec![r(39, None, None)]);
        assert_eq!(article_refs("39条3項の期間は"), vec![r(39, None, Some(3))]);
        assert_eq!(article_refs("３９条第３項"), vec![r(39, None, Some(3))]);
        assert_eq!(article_refs("第二百四十二条の二第二項"), vec![r(242, Some(2), Some(2))]);
        assert_eq!(article_refs("三条件を満たすとき、市の条例で定める"), vec![]);
        assert_eq!(r(14, None, Some(1)).match_level("第二章 申請に対する処分 第十四条第一項"), 2);
        assert_eq!(r(14, None, None).match_level("第十四条第二項"), 1);
        assert_eq!(r(14, None, Some(1)).match_level("第十四条第二項"), 0);
        assert_eq!(r(14, None, None).match_level("第十四条の二"), 0);
        assert_eq!(r(14, None, None).match_level("第四条"), 0);
    }

    #[test]
    fn era_and_western_years_expand_both_ways() {
        let e = QueryExpander::without_synonyms();
        assert_eq!(e.expand("令和6年の手数料"), "令和6年の手数料 2024年");
        assert_eq!(e.expand("令和６年"), "令和６年 2024年");
        // A year in which the era changed names both eras: early 2019 documents say 平成31年.
        assert_eq!(e.expand("2019年の通知"), "2019年の通知 令和元年 平成31年");
        assert_eq!(e.expand("平成32年度"), "平成32年度 2020年", "named before the era ended");
        assert_eq!(e.expand("平成元年"), "平成元年 1989年");
        assert_eq!(e.expand("1990年"), "1990年 平成2年");
        assert_eq!(e.expand("手数料"), "手数料");
    }

    #[test]
    fn synonyms_add_the_other_terms() {
        let e = QueryExpander::builtin();
        let out = e.expand("マイナ保険証はいつから");
        assert!(out.contains("マイナンバーカードの健康保険証利用"), "{out}");
        assert!(out.starts_with("マイナ保険証はいつから"));
    }

    #[test]
    fn plain_words_add_the_official_term_one_way() {
        let e = QueryExpander::from_toml("[[plain]]\nwords = [\"引っ越してきた\", \"越してきた\"]\nofficial = [\"転入届\"]\n").expect("list");
        assert_eq!(e.expand("東京から引っ越してきた"), "東京から引っ越してきた 転入届");
        assert_eq!(e.expand("転入届の期限"), "転入届の期限");
        // Two plain words of one entry add the term once.
        assert_eq!(e.expand("引っ越してきた、越してきた"), "引っ越してきた、越してきた 転入届");
    }
}
