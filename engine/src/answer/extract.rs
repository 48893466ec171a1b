//! Grounded answers: the extractive answerer.
//!
//! An answer is made only of sentences copied verbatim from retrieved passages, each cited to
//! its passage, so every statement can be checked against its source. Every sentence of the
//! passages read is a candidate, described by the features of [`crate::answer::model`]: its
//! embedding similarity to the question (measured in its document, the title before it, since
//! 「この法律は、…」 only says which law it is about there), how many of the question's content
//! words it contains, answer-type cues (an amount for いくら, a date for いつ, a count for 何人,
//! an office for どこ), and where its passage ranks. The learned sentence model scores them; the
//! best are ordered by their place in the ranking and de-duplicated. The learned decision model
//! then gives the probability that the quoted sentences hold the answer, and below the threshold
//! the answerer abstains instead of guessing.

use regex::Regex;
use serde::Serialize;

use crate::answer::model::{sigmoid, AnswerModel, DecisionFeatures, SentenceFeatures};
use crate::error::Result;
use crate::index::embed::{cosine, Embedder};
use crate::retrieve::search::PassageHit;
use crate::text::analysis::{prepare, Analyzers};
use crate::text::variants::fold_sokuon;

/// Passages the answerer ranks first: it reads these (and the rank feature favours them).
pub const PASSAGES_READ: usize = 5;
/// Passages the answerer reads at most: the best [`PASSAGES_READ`] and the neighbours
/// [`crate::answer::ask`] adds after them.
pub const MAX_PASSAGES_READ: usize = PASSAGES_READ + 6;
/// Candidate sentences embedded at most per question: those whose logit without similarity
/// (the cheap part) is best. Embedding is most of an answer's cost, and some questions have 150
/// candidates; with each sentence embedded after its document's title, 6 keep `/api/answer`
/// within its 250 ms p95 on 2 cores, and on the officials' dev questions and JSQuAD gave the
/// figures of 8 and 16 (README, "Grounded answers").
pub const MAX_EMBEDDED: usize = 6;
/// Most sentences in an answer.
pub const MAX_SENTENCES: usize = 3;

/// The Japanese message of an abstention.
pub const ABSTAIN_MESSAGE: &str = "検索された文書からは、この質問に確実に答えられる記述が見つかりませんでした。関連する文書を確認してください。";

/// One answer sentence, verbatim from `passage_id`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnswerSentence {
    pub text: String,
    /// 1-based citation numbers into [`Answer::citations`].
    pub citations: Vec<usize>,
    pub passage_id: String,
    /// Character offsets of the sentence inside its passage text.
    pub start: usize,
    pub end: usize,
    /// Extractive: the sentence model's probability that this sentence answers. Generated: the
    /// share of the sentence covered by verbatim runs of its cited passages.
    pub score: f32,
    /// Written by the optional generator (and checked against its citations) rather than copied
    /// verbatim; `start`/`end` then locate the passage sentence it overlaps most.
    pub generated: bool,
    /// For a table row: the table's header row, verbatim from the same passage, so that
    /// 「住民票の写し | 1通300円 | 1通200円」 comes with 「区分 | 窓口 | コンビニ交付」.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_header: Option<String>,
    /// In a law's 項: the 号 the sentence is (「第二号」, or 「イ」 for a 号の細分), which with the
    /// passage's 条/項 makes its citation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
}

/// An answer or an abstention.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub answerable: bool,
    pub sentences: Vec<AnswerSentence>,
    /// Passage ids cited, in citation-number order.
    pub cited_passages: Vec<String>,
    /// The decision model's probability that the quoted sentences hold the answer (what the
    /// threshold was compared with); 0 when no sentence was a candidate.
    pub best_score: f32,
}

/// A candidate sentence.
struct Candidate {
    passage_id: String,
    text: String,
    start: usize,
    end: usize,
    /// Rank of the passage in reading order (0 = best); sentences are quoted in this order.
    rank: usize,
    table_header: Option<String>,
    /// The title of the sentence's document, when the caller knows it.
    title: Option<String>,
    /// Its features; `sim` is filled in once the sentence is embedded.
    features: SentenceFeatures,
    /// In a law passage: the other sentences of its unit (see [`crate::answer::units`]), quoted
    /// with it.
    unit: Vec<UnitSentence>,
    /// Its 号, in a law passage.
    item: Option<String>,
    /// What the training trace records of it besides its features.
    words: Words,
}

/// Which of the question's content words a candidate holds, and where its passage was ranked:
/// recorded in the training trace so that features built from them can be tried offline.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Words {
    /// Indices into the question's words ([`Trace::question_words`]) the sentence holds.
    #[serde(default)]
    pub sentence: Vec<u16>,
    /// … that its passage holds.
    #[serde(default)]
    pub passage: Vec<u16>,
    /// … that its document's title holds.
    #[serde(default)]
    pub title: Vec<u16>,
    /// Its passage's 1-based rank on each side of retrieval, where it was found there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword_rank: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_rank: Option<usize>,
}

impl Candidate {
    /// What is scored: the sentence, with its table's header row when it is a row.
    fn scored_text(&self) -> String {
        match &self.table_header {
            Some(h) => format!("{h}\n{}", self.text),
            None => self.text.clone(),
        }
    }

    /// What is embedded to measure the sentence's similarity in its document: the title, then
    /// the scored text.
    fn text_in_document(&self) -> String {
        match &self.title {
            Some(t) => format!("{t}\n{}", self.scored_text()),
            None => self.scored_text(),
        }
    }
}

/// Another sentence of a candidate's law unit: where it is in the passage, and its 号.
struct UnitSentence {
    start: usize,
    end: usize,
    text: String,
    item: Option<String>,
}

/// Whether a line is a table row as the extractors write them (cells joined by ` | `).
fn is_table_row(line: &str) -> bool {
    line.contains(" | ")
}

/// The header row of the table that `row` (a line of `passage`) belongs to: the first line of
/// the run of table rows around it, when that is another line.
pub fn table_header(passage: &str, row: &str) -> Option<String> {
    if !is_table_row(row) {
        return None;
    }
    let mut first: Option<&str> = None;
    for line in passage.lines() {
        let line = line.trim();
        if !is_table_row(line) {
            first = None;
            continue;
        }
        let head = *first.get_or_insert(line);
        if line == row.trim() {
            return (head != line).then(|| head.to_string());
        }
    }
    None
}

/// A sentence end inside brackets longer than this is taken as a sentence end after all: the
/// bracket was probably never closed (a stray 「 or an OCR error), and one runaway sentence must
/// not swallow the passage.
const MAX_BRACKETED_CHARS: usize = 250;

/// Splits a passage into sentences with character offsets; the text of each is verbatim.
///
/// A 。！？ inside brackets (「」『』（）()【】［］) does not end the sentence: in
/// 「（以下「コンビニ交付」という。）の開始に伴い…」 the definition belongs to the sentence around
/// it. A line break always ends one (tables, lists, headings are lines).
pub fn sentences(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut current = String::new();
    let mut depth = 0usize;
    let mut len = 0usize;
    let flush = |start: usize, s: &mut String, out: &mut Vec<(usize, usize, String)>| {
        let trimmed_start = s.chars().take_while(|c| c.is_whitespace()).count();
        let trimmed: String = s.chars().skip(trimmed_start).collect::<String>().trim_end().to_string();
        if trimmed.chars().any(char::is_alphanumeric) {
            let begin = start + trimmed_start;
            out.push((begin, begin + trimmed.chars().count(), trimmed));
        }
        s.clear();
    };
    for (i, c) in text.chars().enumerate() {
        current.push(c);
        len += 1;
        match c {
            '「' | '『' | '（' | '(' | '【' | '［' | '[' => depth += 1,
            '」' | '』' | '）' | ')' | '】' | '］' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        let end = c == '\n' || (matches!(c, '。' | '！' | '？') && (depth == 0 || len > MAX_BRACKETED_CHARS));
        if end {
            flush(start, &mut current, &mut out);
            start = i + 1;
            depth = 0;
            len = 0;
        }
    }
    flush(start, &mut current, &mut out);
    out
}

/// Answer-type cues: what kind of expression the question asks for.
struct Cues {
    /// (question words, the expressions that answer them): a question containing any of the
    /// words asks for any of the expressions.
    kinds: Vec<(&'static [&'static str], Vec<Regex>)>,
    /// A counter after 何 in the question (何人, 何床, 何%, 何か月): the unit the answer counts in.
    counter: Regex,
}

/// Digits as the documents write them: Arabic (half- and full-width, with separators) or kanji.
const NUMBER: &str = "[0-9０-９一二三四五六七八九十百千万億.,，．]+";
/// Counters (助数詞) that 何 can ask for. 何色, 何語, 何県 and 何党 ask for a name, not a number.
const COUNTERS: &str = "人名件通回度個枚台本冊部床戸軒棟階歳才年月日時分秒週円点割倍位番号条項次種社校店機隻両基頭匹羽票席所世代期周巻話曲字桁万億千%％パ";
/// The small kana or 箇 between a number and some counters (三か月, 六箇月, 5ヶ所).
const COUNTER_LINK: &str = "(?:か|カ|ヶ|ヵ|箇|ケ)?";

impl Cues {
    /// The cues, compiled once per process.
    fn get() -> &'static Cues {
        static CUES: std::sync::OnceLock<Cues> = std::sync::OnceLock::new();
        CUES.get_or_init(Cues::new)
    }

    fn new() -> Cues {
        let re = |pattern: &str| Regex::new(&pattern.replace("{N}", NUMBER)).expect("static regex");
        let amount = re(r"{N}\s*(円|万円|億円)");
        let date = re(r"(令和|平成|昭和|[0-9０-９]{4}年|[0-9０-９一二三四五六七八九十]+月|[0-9０-９一二三四五六七八九十]+日|まで|以内|期限)");
        let count = re(r"{N}\s*(人|件|通|回|か所|箇所|名|部|枚|日間|年間|か月|種類|項目|色|歳|か国|カ国|校|台|個|社|団体|世帯)");
        let office = re(r"(課|係|室|窓口|センター|事務所|支所|出張所|局|部|省|庁|府|庁舎|場所|所在地)");
        let period = re(r"{N}\s*(日|週間|か月|箇月|ケ月|ヶ月|カ月|月|年)(以内|以上|以下|未満|間|を経過|を超え|前|後|まで)?");
        let ratio = re(r"({N}分の{N}|{N}\s*(%|％|パーセント)|{N}割)");
        // A bound on a number: 三分の二以上, 人口二十万以上, 五十万円以下.
        let bound = re(r"{N}[^\s、。]{0,3}(以上|以下|以内|未満|を超え)");
        let penalty = re(r"(罰金|懲役|禁錮|拘禁刑|科料|過料)");
        let actor = re(r"(者|職員|長|委員会|大臣|知事|議会|庁|機関|本人|代理人|審査庁|行政庁)(は|が|に|を|の|から|又は|及び)");
        let kinds: Vec<(&'static [&'static str], Vec<Regex>)> = vec![
            (&["いくら", "金額", "料金", "手数料", "費用", "何円", "限度額"], vec![amount.clone(), bound.clone()]),
            (&["いつ", "期限", "何日", "何月", "何年", "日付", "施行日"], vec![date, period.clone()]),
            (&["いくつ"], vec![count.clone()]),
            (&["どこ", "窓口", "担当", "どの課", "問い合わせ"], vec![office]),
            (&["期間", "いつまで", "猶予"], vec![period.clone()]),
            (&["どれだけ", "どれくらい", "どのくらい", "どの程度", "割合", "比率"], vec![bound, ratio, period, count, amount]),
            (&["罰則", "罰金", "刑罰", "処罰"], vec![penalty]),
            (&["誰", "だれ", "どなた", "何者", "どの者", "どの機関", "どの行政庁", "主体"], vec![actor]),
        ];
        Cues { kinds, counter: re(&format!("何\\s*{COUNTER_LINK}([{COUNTERS}])(.)?")) }
    }

    /// The expression a counter question wants: 何床 → a number followed by 床.
    fn counted(&self, question: &str) -> Option<Regex> {
        let found = self.counter.captures(question)?;
        let unit = found.get(1)?.as_str();
        // 何時代 asks for an era, not a time.
        if unit == "時" && found.get(2).is_some_and(|next| next.as_str() == "代") {
            return None;
        }
        let unit = if matches!(unit, "%" | "％" | "パ") { "(?:%|％|パーセント)".to_string() } else { regex::escape(unit) };
        Regex::new(&format!("{NUMBER}\\s*{COUNTER_LINK}{unit}")).ok()
    }

    /// What `question` asks for, worked out once per question.
    fn asked<'a>(&'a self, question: &str) -> AnswerTypes<'a> {
        let counted = self.counted(question);
        let kinds = self.kinds.iter().filter(|(words, _)| words.iter().any(|w| question.contains(w))).flat_map(|(_, e)| e).collect();
        AnswerTypes { counted, kinds }
    }

    #[cfg(test)]
    fn score(&self, question: &str, sentence: &str) -> f32 {
        self.asked(question).score(sentence)
    }
}

/// The answer types one question asks for.
struct AnswerTypes<'a> {
    counted: Option<Regex>,
    kinds: Vec<&'a Regex>,
}

impl AnswerTypes<'_> {
    /// Whether the question asks for a particular type.
    fn asks(&self) -> bool {
        self.counted.is_some() || !self.kinds.is_empty()
    }

    /// Whether the sentence holds an expression of a type the question asks for.
    fn has(&self, sentence: &str) -> bool {
        self.counted.iter().chain(self.kinds.iter().copied()).any(|re| re.is_match(sentence))
    }

    /// 1.0 when the question asks for a type and the sentence has it, 0.5 when the question asks
    /// for no particular type, 0.0 when it asks for one the sentence lacks.
    #[cfg(test)]
    fn score(&self, sentence: &str) -> f32 {
        if !self.asks() {
            0.5
        } else if self.has(sentence) {
            1.0
        } else {
            0.0
        }
    }
}

/// E5 cosines live in about [0.7, 0.95]; stretched to [0, 1].
fn stretch(cosine: f32) -> f32 {
    ((cosine - 0.7) / 0.25).clamp(0.0, 1.0)
}

/// The extractive answerer.
pub struct Answerer<'a> {
    pub analyzers: &'a Analyzers,
    pub embedder: &'a Embedder,
    /// The learned sentence and decision models.
    pub model: &'a AnswerModel,
    /// Least probability (of the decision model) to answer.
    pub threshold: f32,
    /// Whose entries of the embedder's cache the answer uses (see `Retriever::cache_scope`).
    pub cache_scope: &'a str,
}

/// One candidate sentence with every signal the answerer has, for training the model (`shirabe
/// eval-answers --trace`). Every candidate is embedded, none pruned.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TracedSentence {
    pub passage_id: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_header: Option<String>,
    pub features: SentenceFeatures,
    /// The similarity without the document's title (stretched), a decision feature.
    pub sim_alone: f32,
    /// The other sentences of its law unit, joined (quoted with it when it is chosen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default)]
    pub words: Words,
}

/// Every candidate of a question, as [`Answerer::trace`] gives them.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Trace {
    /// Whether the question asks for an answer type (a decision feature).
    pub asks_type: bool,
    /// Share of the question's content words in none of the candidates (a decision feature).
    #[serde(default)]
    pub uncovered: f32,
    /// The question's content words, as the analyzer cuts them.
    #[serde(default)]
    pub question_words: Vec<String>,
    pub sentences: Vec<TracedSentence>,
}

/// The candidates that are embedded: the [`MAX_EMBEDDED`] with the best logit without
/// similarity (ties: the earlier one). Shared with training, so that the model is trained on the
/// choice the answerer makes.
pub fn embedded_candidates(model: &AnswerModel, features: &[SentenceFeatures]) -> Vec<usize> {
    let cheap: Vec<f32> = features.iter().map(|f| model.sentence_cheap_logit(f)).collect();
    let mut live: Vec<usize> = (0..features.len()).collect();
    live.sort_by(|&a, &b| cheap[b].total_cmp(&cheap[a]).then(a.cmp(&b)));
    live.truncate(MAX_EMBEDDED);
    live
}

/// The embedded candidates `live` ordered by their logits (best first), each with its logit.
pub fn ranked(model: &AnswerModel, features: &[SentenceFeatures], live: &[usize]) -> Vec<(f32, usize)> {
    let mut scored: Vec<(f32, usize)> = live.iter().map(|&i| (model.sentence_logit(&features[i]), i)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
}

/// The decision features of a question from its candidates' features, the embedded ones ranked
/// (see [`ranked`]), the best one's similarity alone, whether the question asks for an answer
/// type and the share of its words no candidate holds.
pub fn decision_features(features: &[SentenceFeatures], scored: &[(f32, usize)], sim_alone: f32, asks_type: bool, uncovered: f32) -> DecisionFeatures {
    let (best_logit, best) = scored[0];
    let rare_max = features.iter().map(|f| f.rare_covered).fold(0.0, f32::max);
    DecisionFeatures::new(&features[best], best_logit, sim_alone, scored.get(1).map(|s| s.0), asks_type, uncovered, features.len(), rare_max)
}

impl Answerer<'_> {
    /// Candidate sentences of `hits` with their features other than similarity, whether the
    /// question asks for an answer type, and the share of its content words that no candidate
    /// holds; no candidates when the question has no content word. With `tracing`, each also
    /// records which question words its passage and its title hold.
    fn candidates(&self, question: &str, hits: &[PassageHit], title_of: &dyn Fn(&str) -> Option<String>, tracing: bool) -> (Vec<Candidate>, bool, f32, Vec<String>) {
        let q_prepared = prepare(question);
        let asked = Cues::get().asked(&q_prepared);
        let q_prepared = fold_sokuon(&q_prepared);
        let asks_type = asked.asks();
        let q_tokens: Vec<String> = self.analyzers.ja_tokens(&q_prepared).into_iter().filter(|t| is_content(t)).collect();
        if q_tokens.is_empty() {
            return (Vec::new(), asks_type, 0.0, q_tokens);
        }
        let held = |tokens: &[String]| -> Vec<u16> { (0..q_tokens.len()).filter(|&i| tokens.contains(&q_tokens[i])).map(|i| i as u16).collect() };
        let mut candidates = Vec::new();
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        for (rank, hit) in hits.iter().take(MAX_PASSAGES_READ).enumerate() {
            let title = title_of(&hit.passage.doc_id);
            let anchor = hit.passage.anchor.as_deref();
            let law_article = anchor.is_some_and(|a| !crate::retrieve::query::article_refs(a).is_empty());
            // A neighbour read after the best passages was retrieved by neither index.
            let neighbour = hit.keyword_rank.is_none() && hit.vector_rank.is_none();
            // Only a training trace records the passage's and the title's words: an answer needs
            // the sentence's alone, and tokenising whole passages would be wasted there.
            let (passage_words, title_words) = if tracing {
                (held(&self.analyzers.ja_tokens(&words_of(&hit.passage.text))), title.as_deref().map(|t| held(&self.analyzers.ja_tokens(&words_of(t)))).unwrap_or_default())
            } else {
                (Vec::new(), Vec::new())
            };
            let mut first = true;
            let all = sentences(&hit.passage.text);
            for (k, (start, end, text)) in all.iter().cloned().enumerate() {
                if text.chars().count() < 6 || is_heading_line(&text, title.as_deref(), anchor) {
                    continue;
                }
                let table_header = table_header(&hit.passage.text, &text);
                let (unit, item) = if law_article {
                    let members = crate::answer::units::unit(&hit.passage.text, &all, k)
                        .into_iter()
                        .filter(|&m| m != k)
                        .map(|m| UnitSentence { start: all[m].0, end: all[m].1, text: all[m].2.clone(), item: item_citation(&hit.passage.text, all[m].0) })
                        .collect();
                    (members, item_citation(&hit.passage.text, start))
                } else {
                    (Vec::new(), None)
                };
                let words = Words { sentence: Vec::new(), passage: passage_words.clone(), title: title_words.clone(), keyword_rank: hit.keyword_rank, vector_rank: hit.vector_rank };
                let mut c = Candidate { passage_id: hit.passage.id.clone(), text, start, end, rank, table_header, title: title.clone(), features: SentenceFeatures::default(), unit, item, words };
                let s_tokens = self.analyzers.ja_tokens(&words_of(&c.scored_text()));
                c.words.sentence = held(&s_tokens);
                let matched: Vec<&String> = q_tokens.iter().filter(|t| s_tokens.contains(t)).collect();
                let has_type = asked.has(&c.text);
                c.features = SentenceFeatures {
                    sim: 0.0,
                    // Both shares need every candidate's words: set below.
                    covered: 0.0,
                    rare_covered: 0.0,
                    cue_match: if asks_type && has_type { 1.0 } else { 0.0 },
                    cue_miss: if asks_type && !has_type { 1.0 } else { 0.0 },
                    rank: rank.min(PASSAGES_READ - 1) as f32 / (PASSAGES_READ - 1) as f32,
                    neighbour: if neighbour { 1.0 } else { 0.0 },
                    length: (c.text.chars().count() as f32).ln() / 6.0,
                    table_row: if c.table_header.is_some() { 1.0 } else { 0.0 },
                    first_in_passage: if first { 1.0 } else { 0.0 },
                    law_article: if law_article { 1.0 } else { 0.0 },
                    both_retrievers: if hit.keyword_rank.is_some() && hit.vector_rank.is_some() { 1.0 } else { 0.0 },
                };
                seen.extend(matched.into_iter().cloned());
                first = false;
                candidates.push(c);
            }
        }
        let uncovered = q_tokens.iter().filter(|t| !seen.contains(*t)).count() as f32 / q_tokens.len() as f32;
        let holding: Vec<&[u16]> = candidates.iter().map(|c| c.words.sentence.as_slice()).collect();
        let shares = coverage(&q_tokens, &holding);
        for (c, (covered, rare)) in candidates.iter_mut().zip(shares) {
            c.features.covered = covered;
            c.features.rare_covered = rare;
        }
        (candidates, asks_type, uncovered, q_tokens)
    }

    /// Every candidate sentence of `hits` with all its features, none pruned (for training).
    pub fn trace(&self, question: &str, hits: &[PassageHit], title_of: &dyn Fn(&str) -> Option<String>) -> Result<Trace> {
        let (candidates, asks_type, uncovered, question_words) = self.candidates(question, hits, title_of, true);
        if candidates.is_empty() {
            return Ok(Trace { asks_type, uncovered, question_words, sentences: Vec::new() });
        }
        let q_vec = self.embedder.embed_query(question, self.cache_scope)?;
        let in_document: Vec<String> = candidates.iter().map(|c| fold_sokuon(&c.text_in_document())).collect();
        let alone: Vec<String> = candidates.iter().map(|c| fold_sokuon(&c.scored_text())).collect();
        let v_doc = self.embedder.embed_sentences(&in_document, self.cache_scope)?;
        let v_alone = self.embedder.embed_sentences(&alone, self.cache_scope)?;
        let sentences = candidates
            .into_iter()
            .zip(v_doc.iter().zip(&v_alone))
            .map(|(c, (vd, va))| TracedSentence {
                passage_id: c.passage_id,
                text: c.text,
                table_header: c.table_header,
                features: SentenceFeatures { sim: stretch(cosine(&q_vec, vd)), ..c.features },
                sim_alone: stretch(cosine(&q_vec, va)),
                unit: (!c.unit.is_empty()).then(|| c.unit.iter().map(|u| u.text.as_str()).collect::<Vec<_>>().join("\n")),
                words: c.words,
            })
            .collect();
        Ok(Trace { asks_type, uncovered, question_words, sentences })
    }

    /// Answers `question` from `hits` (ranked passages the caller may see), or abstains.
    pub fn answer(&self, question: &str, hits: &[PassageHit]) -> Result<Answer> {
        self.answer_titled(question, &hits[..hits.len().min(PASSAGES_READ)], &|_: &str| None)
    }

    /// Like [`Answerer::answer`], with `title_of(document id)` naming each passage's document so
    /// that a line repeating the title is not offered as an answer sentence. Reads every passage
    /// of `hits` (at most [`MAX_PASSAGES_READ`]): the caller decides what is read.
    pub fn answer_titled(&self, question: &str, hits: &[PassageHit], title_of: &dyn Fn(&str) -> Option<String>) -> Result<Answer> {
        let (mut candidates, asks_type, uncovered, _) = self.candidates(question, hits, title_of, false);
        if candidates.is_empty() {
            return Ok(abstain(0.0));
        }
        let features: Vec<SentenceFeatures> = candidates.iter().map(|c| c.features).collect();
        let live = embedded_candidates(self.model, &features);
        let q_vec = self.embedder.embed_query(question, self.cache_scope)?;
        // Embedded in today's spelling too: the model knows 「知った」 better than 「知つた」.
        let texts: Vec<String> = live.iter().map(|&i| fold_sokuon(&candidates[i].text_in_document())).collect();
        let s_vecs = self.embedder.embed_sentences(&texts, self.cache_scope)?;
        for (&i, v) in live.iter().zip(&s_vecs) {
            candidates[i].features.sim = stretch(cosine(&q_vec, v));
        }
        let features: Vec<SentenceFeatures> = candidates.iter().map(|c| c.features).collect();
        let scored = ranked(self.model, &features, &live);
        let (best_logit, best) = scored[0];
        // Without a title the sentence alone is what was embedded.
        let sim_alone = if candidates[best].title.is_none() {
            features[best].sim
        } else {
            let alone = self.embedder.embed_sentences(&[fold_sokuon(&candidates[best].scored_text())], self.cache_scope)?;
            alone.first().map_or(features[best].sim, |v| stretch(cosine(&q_vec, v)))
        };
        let decision = decision_features(&features, &scored, sim_alone, asks_type, uncovered);
        let probability = self.model.answer_probability(&decision);
        if probability < self.threshold {
            return Ok(abstain(probability));
        }
        let mut chosen: Vec<(f32, usize)> = Vec::new();
        for &(logit, i) in &scored {
            if chosen.len() >= MAX_SENTENCES || logit < best_logit - self.model.support {
                break;
            }
            let text = &candidates[i].text;
            if chosen.iter().any(|(_, j)| near_duplicate(&candidates[*j].text, text)) {
                continue;
            }
            chosen.push((logit, i));
        }
        // Each chosen sentence with the rest of its law unit (a 柱書 with its 号, a main sentence
        // with its ただし書), all verbatim from the same passage.
        struct Quoted<'c> {
            candidate: &'c Candidate,
            start: usize,
            end: usize,
            text: &'c str,
            item: Option<String>,
            logit: f32,
        }
        let mut quoted: Vec<Quoted<'_>> = Vec::new();
        for &(logit, i) in &chosen {
            let c = &candidates[i];
            let own = std::iter::once(Quoted { candidate: c, start: c.start, end: c.end, text: &c.text, item: c.item.clone(), logit });
            let members = c.unit.iter().map(|u| Quoted { candidate: c, start: u.start, end: u.end, text: &u.text, item: u.item.clone(), logit });
            for q in own.chain(members) {
                if !quoted.iter().any(|o| o.candidate.passage_id == q.candidate.passage_id && o.start == q.start) {
                    quoted.push(q);
                }
            }
        }
        // Ranking order, then position inside the passage: reads as the sources do.
        quoted.sort_by_key(|q| (q.candidate.rank, q.start));
        let mut cited: Vec<String> = Vec::new();
        let sentences = quoted
            .into_iter()
            .map(|q| {
                let c = q.candidate;
                let n = match cited.iter().position(|p| p == &c.passage_id) {
                    Some(k) => k + 1,
                    None => {
                        cited.push(c.passage_id.clone());
                        cited.len()
                    }
                };
                let own = q.start == c.start;
                AnswerSentence {
                    text: q.text.to_string(),
                    citations: vec![n],
                    passage_id: c.passage_id.clone(),
                    start: q.start,
                    end: q.end,
                    score: sigmoid(q.logit),
                    generated: false,
                    table_header: if own { c.table_header.clone() } else { None },
                    item: q.item,
                }
            })
            .collect();
        Ok(Answer { answerable: true, sentences, cited_passages: cited, best_score: probability })
    }
}

fn abstain(best: f32) -> Answer {
    Answer { answerable: false, sentences: Vec::new(), cited_passages: Vec::new(), best_score: best }
}

/// The 号 of the sentence starting at character `start` of a law passage, as a citation part:
/// 「第二号」 for a 号, the label itself for a 号の細分 (「イ」, 「(1)」).
pub fn item_citation(passage: &str, start: usize) -> Option<String> {
    let line_start = passage.chars().take(start).collect::<Vec<_>>().iter().rposition(|&c| c == '\n').map_or(0, |p| p + 1);
    let line: String = passage.chars().skip(line_start).take_while(|&c| c != '\n').collect();
    let label = crate::answer::units::item_of(&line)?;
    Some(if label.chars().all(|c| "一二三四五六七八九十百の".contains(c)) { format!("第{label}号") } else { label })
}

/// Text as the answerer compares words: [`prepare`]d, and the 促音 of older laws folded
/// (「知つた」 reads as 「知った」), so that a question in today's spelling finds its words in
/// 地方自治法 or 行政事件訴訟法 as written before 1988. Only compared, never quoted.
fn words_of(text: &str) -> String {
    fold_sokuon(&prepare(text))
}

/// Each candidate's `covered` and `rare_covered` (see [`SentenceFeatures`]) from the question's
/// words and, per candidate, the indices of those it holds. Only key words count: those with a
/// kanji, katakana, digit or Latin letter (「審理員」「3」「か月」), each once however often the
/// question repeats it; 「する」「こと」「なっ」 say nothing about which sentence answers.
pub fn coverage(question_words: &[String], held: &[&[u16]]) -> Vec<(f32, f32)> {
    let mut groups: Vec<(&str, Vec<u16>)> = Vec::new();
    for (i, w) in question_words.iter().enumerate().filter(|(_, w)| is_key_word(w)) {
        match groups.iter_mut().find(|(g, _)| *g == w.as_str()) {
            Some((_, ids)) => ids.push(i as u16),
            None => groups.push((w, vec![i as u16])),
        }
    }
    if groups.is_empty() {
        return vec![(0.0, 0.0); held.len()];
    }
    let holds = |h: &[u16], ids: &[u16]| ids.iter().any(|i| h.contains(i));
    let n = held.len() as f32;
    let weights: Vec<f32> = groups.iter().map(|(_, ids)| ((n + 1.0) / (held.iter().filter(|h| holds(h, ids)).count() as f32 + 0.5)).ln()).collect();
    let total: f32 = weights.iter().sum();
    held.iter()
        .map(|h| {
            let inside: Vec<bool> = groups.iter().map(|(_, ids)| holds(h, ids)).collect();
            let covered = inside.iter().filter(|&&b| b).count() as f32 / groups.len() as f32;
            let rare = weights.iter().zip(&inside).filter(|(_, &b)| b).map(|(w, _)| w).sum::<f32>() / total;
            (covered, rare)
        })
        .collect()
}

/// A word with a kanji, katakana, digit or Latin letter in it.
fn is_key_word(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_alphanumeric() || matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '々' | '\u{30a0}'..='\u{30ff}'))
}

/// Content words: anything but one-character kana.
pub fn is_content(token: &str) -> bool {
    let n = token.chars().count();
    n >= 2 || token.chars().any(|c| !matches!(c, '\u{3040}'..='\u{30FF}'))
}

/// Longest line still treated as a possible heading, in characters.
const MAX_HEADING_CHARS: usize = 60;

/// Whether a "sentence" is really a title or heading line: short, without sentence-final
/// punctuation, and either equal to the document title or the passage's heading (after
/// normalisation, ignoring Markdown `#` marks and spacing) or shaped like a numbered heading of
/// a notice (「第１　趣旨」「２．対象」「記」, the same rule the plain-text extractor cuts at).
/// Such a line states nothing, so it must not be offered as an answer.
pub fn is_heading_line(line: &str, title: Option<&str>, anchor: Option<&str>) -> bool {
    let trimmed = line.trim().trim_end_matches(|c: char| "」』）)】".contains(c));
    if trimmed.ends_with(['。', '！', '？', '.', '!', '?', '．']) || line.chars().count() > MAX_HEADING_CHARS {
        return false;
    }
    let key = |s: &str| -> String {
        prepare(s).chars().filter(|c| !c.is_whitespace() && !matches!(c, '#' | '＃' | '■' | '□' | '◆' | '◇' | '●' | '○')).collect()
    };
    let k = key(line);
    if k.is_empty() {
        return true;
    }
    let matches = |other: Option<&str>| other.is_some_and(|o| {
        let ko = key(o);
        // An anchor may join the enclosing heading and the section's own ("第２ 対象 ２．範囲").
        ko == k || o.split([' ', '　']).any(|part| key(part) == k)
    });
    matches(title) || matches(anchor) || crate::text::looks_like_heading(line) || is_article_caption(line, anchor)
}

/// Whether `line` is an article's caption (見出し) in a passage of a law: 「（審査請求期間）」 on a
/// line of its own, in a passage anchored to an article. Every 項 carries it, so it would
/// otherwise be offered as an answer to any question about the article.
pub fn is_article_caption(line: &str, anchor: Option<&str>) -> bool {
    let line = line.trim();
    let enclosed = (line.starts_with('（') && line.ends_with('）')) || (line.starts_with('(') && line.ends_with(')'));
    enclosed && !line.contains('。') && anchor.is_some_and(|a| !crate::retrieve::query::article_refs(a).is_empty())
}

/// Whether one sentence contains the other (after normalisation): only one of them is quoted.
pub fn near_duplicate(a: &str, b: &str) -> bool {
    let pa = prepare(a);
    let pb = prepare(b);
    pa.contains(&pb) || pb.contains(&pa)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_counts_key_words_once_and_weighs_the_rare_ones() {
        // 「審査会」 is in every candidate, 「会長」 in one; 「する」 is not a key word.
        let words: Vec<String> = ["審査会", "会長", "任期", "する", "会長"].iter().map(|w| w.to_string()).collect();
        let held: Vec<&[u16]> = vec![&[0, 1, 3, 4], &[0, 2, 3], &[0]];
        let shares = coverage(&words, &held);
        // Three key words: 審査会, 会長 (asked twice, counted once), 任期.
        assert!((shares[0].0 - 2.0 / 3.0).abs() < 1e-6, "{shares:?}");
        assert!((shares[1].0 - 2.0 / 3.0).abs() < 1e-6, "{shares:?}");
        // The same plain share, but the one with the rare 会長 weighs as much as the one with 任期,
        // and both more than the candidate holding only the word every candidate has.
        assert!((shares[0].1 - shares[1].1).abs() < 1e-6 && shares[0].1 > shares[2].1, "{shares:?}");
        assert!(shares[2].1 > 0.0 && shares[2].1 < shares[2].0, "{shares:?}");
        // A question of function words only gives nothing to weigh.
        let kana: Vec<String> = vec!["する".into(), "こと".into()];
        assert_eq!(coverage(&kana, &[&[0, 1]]), vec![(0.0, 0.0)]);
    }

    #[test]
    fn sentences_are_verbatim_with_offsets() {
        let text = "第一文です。 第二文は\n長い。最後";
        let chars: Vec<char> = text.chars().collect();
        let s = sentences(text);
        assert_eq!(s.len(), 4);
        for (start, end, t) in &s {
            let slice: String = chars[*start..*end].iter().collect();
            assert_eq!(&slice, t);
            assert!(text.contains(t.as_str()));
        }
        assert_eq!(s[0].2, "第一文です。");
        assert_eq!(s[3].2, "最後");
    }

    #[test]
    fn title_and_heading_lines_are_not_sentences() {
        let title = "住民票の写し等の交付手数料の改定について（通知）";
        assert!(is_heading_line("住民票の写し等の交付手数料の改定について（通知）", Some(title), None));
        assert!(is_heading_line("# 住民票の写し等の交付手数料の改定について（通知）", Some(title), None));
        assert!(is_heading_line("第２　対象職員", None, None));
        assert!(is_heading_line("別添　架空市職員テレワーク実施要領", None, Some("別添　架空市職員テレワーク実施要領")));
        // Real sentences stay, even short ones or ones that mention the title.
        assert!(!is_heading_line("交付手数料は、１通につき３００円とする。", Some(title), None));
        assert!(!is_heading_line("住民票の写し等の交付手数料の改定について（通知）を廃止する。", Some(title), None));
        assert!(!is_heading_line("申請は窓口で受け付ける", Some(title), Some("第３　申請")));
        // A law article's caption is a heading in its article's passages, and only there.
        assert!(is_heading_line("（審査請求期間）", None, Some("行政不服審査法第十八条第2項")));
        assert!(is_heading_line("(管理状況の報告等)", None, Some("第九条")));
        assert!(!is_heading_line("(限度額: 55,000円)", None, Some("給与の状況")));
        assert!(!is_heading_line("(限度額: 55,000円)", None, None));
    }

    #[test]
    fn cues_recognise_amounts_dates_counts_offices() {
        let c = Cues::new();
        assert_eq!(c.score("手数料はいくらですか", "一通につき300円とする。"), 1.0);
        assert_eq!(c.score("手数料はいくらですか", "窓口で申請する。"), 0.0);
        assert_eq!(c.score("いつから施行されますか", "令和6年4月1日から施行する。"), 1.0);
        assert_eq!(c.score("窓口はどこですか", "市民課で受け付ける。"), 1.0);
        assert_eq!(c.score("概要を教えて", "何でもよい。"), 0.5);
        assert_eq!(c.score("審査請求の期間は", "処分があったことを知った日の翌日から起算して三月以内にしなければならない。"), 1.0);
        assert_eq!(c.score("保存期間は何年間か", "保存期間は、十年間とする。"), 1.0);
        assert_eq!(c.score("保存期間は何年間か", "保存期間は、別に定める。"), 0.0);
        assert_eq!(c.score("保存期間は何年間か", "作成の日から五年を経過する日まで保存する。"), 1.0);
        assert_eq!(c.score("誰が申請するのか", "申請は、本人が行うものとする。"), 1.0);
        assert_eq!(c.score("誰が申請するのか", "申請書に記載する。"), 0.0);
        // A counter after 何 asks for a number in that unit.
        assert_eq!(c.score("確保病床は何床か", "現時点の確保病床(5,048床)の占有率"), 1.0);
        assert_eq!(c.score("確保病床は何床か", "病床の確保に努める。"), 0.0);
        assert_eq!(c.score("女性の比率は何%か", "全体の僅か18.6%となっています"), 1.0);
        assert_eq!(c.score("審査期間は何か月か", "六箇月を経過したときは"), 1.0);
        assert_eq!(c.score("委員は何人か", "第二十八条 委員会を置く。"), 0.0, "an article number is not a count");
        assert_eq!(c.score("何故そうなるのか", "第二十八条 委員会を置く。"), 0.5, "何故 asks for no unit");
        assert_eq!(c.score("信号は何色か", "赤である。"), 0.5, "何色 asks for a name");
        assert_eq!(c.score("何時代の建物か", "江戸時代の建物である。"), 0.5, "何時代 asks for an era");
        assert_eq!(c.score("何パーセントか", "全体の18.6%となっています"), 1.0);
        // どれだけ asks for a quantity of any kind; 罰則 for a penalty; どこ for an office.
        assert_eq!(c.score("署名はどれだけ必要か", "その総数の五十分の一以上の者の連署をもつて"), 1.0);
        assert_eq!(c.score("署名はどれだけ必要か", "署名簿に署名する。"), 0.0);
        assert_eq!(c.score("どんな罰則があるか", "一年以下の拘禁刑又は五十万円以下の罰金に処する。"), 1.0);
        assert_eq!(c.score("委員会はどこに置かれるか", "内閣府に、公文書管理委員会を置く。"), 1.0);
        // いつ is answered by a date or by a period.
        assert_eq!(c.score("いつ到達したとみなされるか", "掲示を始めた日から二週間を経過したときに"), 1.0);
    }

    #[test]
    fn a_table_row_comes_with_its_header_row() {
        let passage = "手数料は次のとおりとする。\n区分 | 窓口 | コンビニ交付\n住民票の写し | 1通300円 | 1通200円\n印鑑登録証明書 | 1通300円 | 1通200円\n以上。\n別表 | 備考\n注 | なし";
        assert_eq!(table_header(passage, "住民票の写し | 1通300円 | 1通200円").as_deref(), Some("区分 | 窓口 | コンビニ交付"));
        assert_eq!(table_header(passage, "印鑑登録証明書 | 1通300円 | 1通200円").as_deref(), Some("区分 | 窓口 | コンビニ交付"));
        assert_eq!(table_header(passage, "区分 | 窓口 | コンビニ交付"), None, "the header has no header");
        assert_eq!(table_header(passage, "注 | なし").as_deref(), Some("別表 | 備考"), "a second table has its own header");
        assert_eq!(table_header(passage, "手数料は次のとおりとする。"), None);
    }

    #[test]
    fn brackets_keep_their_sentence_whole() {
        let text = "令和6年4月から証明書のコンビニ交付(以下「コンビニ交付」という。)の開始に伴い、手数料を改める。次の文。";
        let s = sentences(text);
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s[0].2.starts_with("令和6年4月から") && s[0].2.ends_with("手数料を改める。"), "{s:?}");
        assert_eq!(s[1].2, "次の文。");
        let text = "「第一条　この規則は、公布の日から施行する。」と定める。";
        assert_eq!(sentences(text).len(), 1);
        // A bracket that is never closed does not swallow the passage.
        let runaway = format!("（注{}。{}。", "あ".repeat(300), "い".repeat(10));
        assert_eq!(sentences(&runaway).len(), 2);
        // Full-width brackets and line breaks.
        let s = sentences("手数料（一通につき。）は三百円。\n表の行");
        assert_eq!(s.iter().map(|x| x.2.as_str()).collect::<Vec<_>>(), ["手数料（一通につき。）は三百円。", "表の行"]);
    }
}
