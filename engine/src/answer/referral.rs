//! Law units that live in another article: what a 準用 points to, the definition of a term the
//! question asks about, and the 罰則 that names an article.
//!
//! 「第十条の規定は、前条の届出について準用する。」 says nothing until the reader has 第十条; a term
//! the law defines (「四 不利益処分 行政庁が、…をいう。」, 「この法律において「X」とは、…をいう。」)
//! means what its definition says, not what it means in daily use; and an obligation is read
//! together with the penalty for breaking it (「第十四条の規定に違反した者は、三十万円以下の罰金に
//! 処する。」), which sits in the 罰則 chapter far from the article. Neither is
//! among the passages retrieval found, so unlike [`super::units`] (a unit inside one 項) these need
//! a second lookup: in the same law, under the caller's filter, among the passages the index holds.
//! [`referred`] returns, for the sentences an answer quotes, the first sentence of each article a
//! 準用 points to, the definition of the longest defined term that both the question and a quoted
//! sentence use, and each penalty sentence naming a quoted article, verbatim with their passages.

use std::sync::LazyLock;

use regex::Regex;

use super::extract::{is_article_caption, sentences};
use crate::model::Passage;
use crate::retrieve::query::article_refs;

/// Referrals added to one answer at most (a definition with the list it announces counts as
/// one): a reader wants the unit, not the law.
pub const MAX_REFERRED: usize = 2;

/// 「第十条の規定は、…準用する」「第五条第二項の規定は、…準用する」: the article a 準用 points to.
static APPLIED: LazyLock<Regex> = LazyLock::new(|| {
    const N: &str = "[〇一二三四五六七八九十百千]+";
    Regex::new(&format!(r"(第{N}条(?:の{N})?(?:第{N}項)?)(?:[、及びから至るまで第{N}条の項]*)?の規定は、[^。]*?準用する")).expect("valid regex")
});

/// The article an anchor names, as written (「第十四条」「第二百四十二条の二」).
static ARTICLE: LazyLock<Regex> = LazyLock::new(|| {
    const N: &str = "[〇一二三四五六七八九十百千]+";
    Regex::new(&format!(r"第{N}条(?:の{N})?")).expect("valid regex")
});

/// A definition in a 号 of a definitions article: 「四　不利益処分　行政庁が、…をいう。」.
static ITEM_DEFINITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[一二三四五六七八九十]+(?:の[一二三四五六七八九十]+)?[ 　]+([^ 　「」、。]{2,30})[ 　]+.*をいう。$").expect("valid regex")
});

/// A definition in a sentence: 「この法律において「審査請求」とは、…をいう。」.
static QUOTED_DEFINITION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"「([^」]{2,30})」とは、[^。]*をいう。").expect("valid regex"));

/// Words of a penalty provision.
const PENALTY: &[&str] = &["罰金", "懲役", "拘禁刑", "禁錮", "過料"];

/// What a quoted sentence needs from elsewhere in its law.
pub struct Referral {
    /// The sentence, verbatim, with its offsets in the passage.
    pub text: String,
    pub start: usize,
    pub end: usize,
    pub passage: Passage,
}

/// The first sentence of `passage` that is not its article caption (「（届出）」).
fn first_sentence(passage: &Passage) -> Option<(usize, usize, String)> {
    sentences(&passage.text).into_iter().find(|(_, _, s)| !is_article_caption(s, passage.anchor.as_deref()))
}

/// Whether `sentence` names `article` itself: 「第十四条の規定に違反」 names 第十四条, 「第十四条の二」
/// does not.
fn names(sentence: &str, article: &str) -> bool {
    sentence.match_indices(article).any(|(i, _)| {
        let mut after = sentence[i + article.len()..].chars();
        !(after.next() == Some('の') && after.next().is_some_and(|c| "〇一二三四五六七八九十百千".contains(c)))
    })
}

/// For `quoted` sentences (text, passage) of one law `law` (all its passages, in order) that
/// answer `question`: the first sentence of each article a 準用 among them points to, then the
/// definition of the longest term that the question and a quoted sentence both use, then each
/// penalty sentence that names the article a quoted sentence belongs to; none that is already
/// quoted, at most [`MAX_REFERRED`]. The definition comes with the rest of its law unit
/// ([`super::units::unit`]): its ただし書, and the 号 of a list that it or its ただし書 announces.
pub fn referred(question: &str, quoted: &[(&str, &Passage)], law: &[Passage]) -> Vec<Referral> {
    let mut out: Vec<Referral> = Vec::new();
    let already = |out: &[Referral], p: &Passage, text: &str| quoted.iter().any(|(t, q)| q.id == p.id && *t == text) || out.iter().any(|r| r.passage.id == p.id && r.text == text);
    for (text, _) in quoted {
        for cap in APPLIED.captures_iter(text) {
            let Some(target) = article_refs(&cap[1]).into_iter().next() else { continue };
            if let Some(p) = target.passage_in(law) {
                if let Some((start, end, s)) = first_sentence(p) {
                    if !already(&out, p, &s) && out.len() < MAX_REFERRED {
                        out.push(Referral { text: s, start, end, passage: p.clone() });
                    }
                }
            }
        }
    }
    // The law's sentences, split once for the definition and the penalties.
    let split: Vec<(&Passage, Vec<(usize, usize, String)>)> = law.iter().map(|p| (p, sentences(&p.text))).collect();
    if let Some((start, _, text, p)) = definition(question, quoted, &split) {
        if !already(&out, p, &text) && out.len() < MAX_REFERRED {
            // The definition with the rest of its unit, and a list it announces with the list
            // (「…をいう。ただし、次に掲げるものを除く。」 + 一 二 三): it counts as one referral.
            let in_passage = split.iter().find(|(q, _)| q.id == p.id).map(|(_, s)| s.as_slice()).unwrap_or_default();
            let chosen = in_passage.iter().position(|(s0, _, _)| *s0 == start).unwrap_or_default();
            // A definition by 号 is quoted alone: its unit would be the whole list of definitions.
            let mut members = if ITEM_DEFINITION.is_match(&text) { vec![chosen] } else { super::units::unit(&p.text, in_passage, chosen) };
            for m in members.clone().into_iter().filter(|&m| m != chosen) {
                for more in super::units::unit(&p.text, in_passage, m) {
                    if !members.contains(&more) {
                        members.push(more);
                    }
                }
            }
            members.sort_unstable();
            for m in members {
                let Some((start, end, text)) = in_passage.get(m).cloned() else { continue };
                if !already(&out, p, &text) {
                    out.push(Referral { text, start, end, passage: p.clone() });
                }
            }
        }
    }
    for (_, q) in quoted {
        let Some(article) = q.anchor.as_deref().and_then(|a| ARTICLE.find_iter(a).last()).map(|m| m.as_str().to_string()) else { continue };
        for (p, in_passage) in &split {
            for (start, end, s) in in_passage {
                if out.len() >= MAX_REFERRED {
                    return out;
                }
                if names(s, &article) && s.contains("違反") && PENALTY.iter().any(|w| s.contains(w)) && !already(&out, p, s) {
                    out.push(Referral { text: s.clone(), start: *start, end: *end, passage: (*p).clone() });
                }
            }
        }
    }
    out
}

/// The definition, among a law's sentences (`split`, per passage), of the longest term that
/// `question` and one of the `quoted` sentences both use.
fn definition<'l>(question: &str, quoted: &[(&str, &Passage)], split: &[(&'l Passage, Vec<(usize, usize, String)>)]) -> Option<(usize, usize, String, &'l Passage)> {
    let asked = crate::text::analysis::prepare(question);
    let mut best: Option<(usize, (usize, usize, String, &Passage))> = None;
    for (p, in_passage) in split {
        for (start, end, s) in in_passage {
            let term = ITEM_DEFINITION.captures(s).or_else(|| QUOTED_DEFINITION.captures(s)).map(|c| c[1].to_string());
            let Some(term) = term else { continue };
            let used = asked.contains(&crate::text::analysis::prepare(&term)) && quoted.iter().any(|(t, _)| t.contains(term.as_str()) && t != s);
            let len = term.chars().count();
            if used && best.as_ref().is_none_or(|(l, _)| len > *l) {
                best = Some((len, (*start, *end, s.clone(), *p)));
            }
        }
    }
    best.map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(ordinal: u32, anchor: &str, text: &str) -> Passage {
        Passage { id: format!("law#{ordinal}"), doc_id: "law".into(), ordinal, text: text.into(), page: None, anchor: Some(anchor.into()), start: 0, end: 0 }
    }

    #[test]
    fn an_applied_article_and_the_penalty_are_found() {
        let law = vec![
            passage(0, "第九条第一項", "（届出）\n事業者は、あらかじめ市長に届け出なければならない。"),
            passage(1, "第十条", "（変更の届出）\n前条の規定は、届出事項の変更について準用する。"),
            passage(2, "第十四条", "（報告）\n市長は、事業者に対し報告を求めることができる。"),
            passage(6, "第六章 罰則 第二十一条", "第十三条の規定に違反した者は、五万円以下の過料に処する。"),
            passage(3, "第十四条の二", "（立入検査）\n市長は、立入検査をさせることができる。"),
            passage(4, "第六章 罰則 第二十条", "（罰則）\n第十四条の二の規定による検査を拒んだ者は、十万円以下の過料に処する。\n第九条第一項の規定に違反した者は、三十万円以下の罰金に処する。"),
            passage(5, "第十一条", "（準用）\n第九条第一項の規定は、事業の廃止について準用する。"),
        ];
        // 準用 → the first sentence of 第九条第一項, caption skipped.
        let quoted = [("第九条第一項の規定は、事業の廃止について準用する。", &law[5])];
        let r = referred("", &quoted, &law);
        assert_eq!(r[0].text, "事業者は、あらかじめ市長に届け出なければならない。");
        assert_eq!(r[0].passage.id, "law#0");
        // A sentence of 第九条 brings the penalty naming 第九条, not the one naming 第十四条の二.
        let quoted = [("事業者は、あらかじめ市長に届け出なければならない。", &law[0])];
        let r = referred("", &quoted, &law);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].text, "第九条第一項の規定に違反した者は、三十万円以下の罰金に処する。");
        let chars: Vec<char> = r[0].passage.text.chars().collect();
        assert_eq!(r[0].passage.id, "law#4");
        assert_eq!(chars[r[0].start..r[0].end].iter().collect::<String>(), r[0].text, "offsets locate the sentence");
        // 第十四条 is not 第十四条の二.
        let quoted = [("市長は、事業者に対し報告を求めることができる。", &law[2])];
        assert!(referred("", &quoted, &law).is_empty());
        assert!(names("第十四条の規定に違反した者", "第十四条"));

        // A term the question and the quoted sentence use brings its definition (the longest such
        // term); a term only the sentence uses does not.
        let law = vec![
            passage(0, "第二条", "（定義）\nこの条例において、次の各号に掲げる用語の意義は、当該各号に定めるところによる。\n一 空き家 居住その他の使用がなされていないことが常態である建築物をいう。\n二 管理者 所有者に代わり空き家を管理する者をいう。"),
            passage(1, "第三条", "（届出）\n空き家の所有者は、管理者を定めて市長に届け出なければならない。"),
            passage(2, "第四条", "この条例において「特定空き家」とは、倒壊のおそれのある空き家をいう。"),
        ];
        let quoted = [("空き家の所有者は、管理者を定めて市長に届け出なければならない。", &law[1])];
        let r = referred("管理者を届け出る義務はあるか", &quoted, &law);
        assert_eq!(r.len(), 1, "only 管理者 is in the question");
        assert_eq!(r[0].text, "二 管理者 所有者に代わり空き家を管理する者をいう。");
        assert!(referred("届出の期限は", &quoted, &law).is_empty());
        let quoted = [("市長は、特定空き家の所有者に助言することができる。", &law[1])];
        let r = referred("特定空き家とは何か", &quoted, &law);
        assert_eq!(r[0].text, "この条例において「特定空き家」とは、倒壊のおそれのある空き家をいう。");

        // A definition that leaves out a list comes with the list.
        let law = vec![
            passage(0, "第二条第四項", "この法律において「行政文書」とは、職員が職務上作成した文書であって、行政機関が保有しているものをいう。ただし、次に掲げるものを除く。\n一 官報、白書その他不特定多数の者に販売するもの\n二 特定歴史公文書等"),
            passage(1, "第五条", "行政機関の長は、行政文書を分類し、保存期間を設定しなければならない。"),
        ];
        let quoted = [("行政機関の長は、行政文書を分類し、保存期間を設定しなければならない。", &law[1])];
        let r = referred("行政文書の保存期間は誰が決めるか", &quoted, &law);
        let texts: Vec<&str> = r.iter().map(|x| x.text.as_str()).collect();
        assert_eq!(texts, ["この法律において「行政文書」とは、職員が職務上作成した文書であって、行政機関が保有しているものをいう。", "ただし、次に掲げるものを除く。", "一 官報、白書その他不特定多数の者に販売するもの", "二 特定歴史公文書等"]);
        for x in &r {
            let chars: Vec<char> = x.passage.text.chars().collect();
            assert_eq!(chars[x.start..x.end].iter().collect::<String>(), x.text);
        }
        assert!(!names("第十四条の二の規定による検査", "第十四条"));
    }
}
