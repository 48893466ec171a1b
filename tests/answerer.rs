//! The extractive answerer with the real model, on passages written here: how a sentence's
//! similarity is measured and what the decision to answer compares with the threshold.

mod common;

use shirabe::answer::extract::{decision_features, embedded_candidates, ranked};
use shirabe::model::Passage;
use shirabe::retrieve::search::PassageHit;

const QUESTION: &str = "外国人が被害者のとき、国家賠償法はどういう条件で適用されるか";
const ARTICLE: &str = "（外国人が被害者である場合）\n第六条　この法律は、外国人が被害者である場合には、相互の保証があるときに限り、これを適用する。";

fn hit(doc_id: &str, text: &str) -> PassageHit {
    let passage = Passage {
        id: format!("{doc_id}#0"),
        doc_id: doc_id.into(),
        ordinal: 0,
        text: text.into(),
        page: None,
        anchor: Some("第六条".into()),
        start: 0,
        end: text.chars().count(),
    };
    PassageHit { passage, score: 1.0, keyword_rank: Some(1), vector_rank: Some(1), snippet: String::new() }
}

#[test]
fn a_sentence_is_measured_in_its_document_and_the_decision_is_the_models_probability() {
    let engine = common::engine();
    let answerer = engine.answerer(0.0, "");
    let model = &engine.answer_model;
    let hits = [hit("kokubai", ARTICLE)];
    let title_of = |_: &str| Some("国家賠償法".to_string());
    let traced = answerer.trace(QUESTION, &hits, &title_of).expect("trace");
    let article = traced.sentences.iter().find(|t| t.text.contains("相互の保証")).expect("the article's sentence is a candidate");
    // 「この法律は」 names the law only through the document's title.
    assert!(article.features.sim > article.sim_alone + 0.03, "in its document {} vs alone {}", article.features.sim, article.sim_alone);
    assert!(traced.sentences.iter().all(|t| !t.text.starts_with('（')), "the caption is no candidate: {:?}", traced.sentences);

    // The probability the answer reports is the decision model's on these features (int8
    // activations make vectors depend slightly on their batch: a tolerance).
    let features: Vec<_> = traced.sentences.iter().map(|t| t.features).collect();
    let live = embedded_candidates(model, &features);
    let scored = ranked(model, &features, &live);
    let best = &traced.sentences[scored[0].1];
    let expected = model.answer_probability(&decision_features(&features, &scored, best.sim_alone, traced.asks_type, traced.uncovered));
    let answer = answerer.answer_titled(QUESTION, &hits, &title_of).expect("answer");
    assert!(answer.answerable);
    assert!(answer.sentences[0].text.contains("相互の保証があるときに限り"), "{:?}", answer.sentences);
    assert!((answer.best_score - expected).abs() < 0.02, "answer's probability {} vs the model's {}", answer.best_score, expected);
    assert!(answer.best_score > 0.0 && answer.best_score < 1.0);

    // A threshold above that probability abstains, and says with what probability.
    let strict = engine.answerer((answer.best_score + 0.05).min(1.0), "");
    let abstained = strict.answer_titled(QUESTION, &hits, &title_of).expect("answer");
    assert!(!abstained.answerable && abstained.sentences.is_empty());
    assert!((abstained.best_score - answer.best_score).abs() < 0.02);

    // Without a title the sentence is measured alone, in both places.
    let untitled = answerer.answer(QUESTION, &hits).expect("answer");
    let plain = answerer.trace(QUESTION, &hits, &|_: &str| None).expect("trace");
    let features: Vec<_> = plain.sentences.iter().map(|t| t.features).collect();
    let scored = ranked(model, &features, &embedded_candidates(model, &features));
    let best = &plain.sentences[scored[0].1];
    assert!((best.features.sim - best.sim_alone).abs() < 0.02);
    let expected = model.answer_probability(&decision_features(&features, &scored, best.features.sim, plain.asks_type, plain.uncovered));
    assert!((untitled.best_score - expected).abs() < 0.02, "untitled {} vs {}", untitled.best_score, expected);
}

/// A law written here: an obligation (第二条), an article that applies it to another case by 準用
/// (第三条), and the 罰則 for breaking it (第五条), far from both.
const LAW: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Law Era="Reiwa" Lang="ja" LawType="Misc" Num="3" Year="06">
  <LawNum>令和六年架空市条例第三号</LawNum>
  <LawBody>
    <LawTitle>架空市空き家管理条例</LawTitle>
    <MainProvision>
      <Chapter Num="1"><ChapterTitle>第一章　総則</ChapterTitle>
        <Article Num="1"><ArticleCaption>（目的）</ArticleCaption><ArticleTitle>第一条</ArticleTitle>
          <Paragraph Num="1"><ParagraphNum/><ParagraphSentence><Sentence>この条例は、空き家の適切な管理について定める。</Sentence></ParagraphSentence></Paragraph></Article>
        <Article Num="2"><ArticleCaption>（管理者の届出）</ArticleCaption><ArticleTitle>第二条</ArticleTitle>
          <Paragraph Num="1"><ParagraphNum/><ParagraphSentence><Sentence>空き家の所有者は、管理者を定め、その氏名を三十日以内に市長に届け出なければならない。</Sentence></ParagraphSentence></Paragraph></Article>
        <Article Num="3"><ArticleCaption>（変更の届出）</ArticleCaption><ArticleTitle>第三条</ArticleTitle>
          <Paragraph Num="1"><ParagraphNum/><ParagraphSentence><Sentence>第二条の規定は、空き家の管理者を変更した場合について準用する。</Sentence></ParagraphSentence></Paragraph></Article>
        <Article Num="4"><ArticleCaption>（助言）</ArticleCaption><ArticleTitle>第四条</ArticleTitle>
          <Paragraph Num="1"><ParagraphNum/><ParagraphSentence><Sentence>市長は、所有者に対し、空き家の管理について助言することができる。</Sentence></ParagraphSentence></Paragraph></Article>
      </Chapter>
      <Chapter Num="2"><ChapterTitle>第二章　罰則</ChapterTitle>
        <Article Num="5"><ArticleCaption>（過料）</ArticleCaption><ArticleTitle>第五条</ArticleTitle>
          <Paragraph Num="1"><ParagraphNum/><ParagraphSentence><Sentence>第二条の規定に違反して届出をしなかった者は、五万円以下の過料に処する。</Sentence></ParagraphSentence></Paragraph></Article>
      </Chapter>
    </MainProvision>
  </LawBody>
</Law>
"#;

#[test]
fn an_answer_from_a_law_brings_the_article_its_準用_points_to_and_the_penalty() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    std::fs::write(docs.join("akiya-jorei.xml"), LAW).expect("write");
    let mut config = common::config();
    config.index_dir = Some(tmp.path().join("index"));
    config.answer.threshold = Some(0.0);
    common::index_all(&config, &[docs]);
    let engine = shirabe::engine::Engine::with_expander(config.clone(), common::analyzers(), std::sync::Arc::new(common::embedder()), shirabe::retrieve::query::QueryExpander::builtin());
    let gen = shirabe::index::Generation::open_current(&config, &engine.analyzers).expect("open").expect("a generation");
    let filter = shirabe::model::Filter::unrestricted();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let texts = |asked: &shirabe::answer::ask::Asked| asked.answer.sentences.iter().map(|s| s.text.clone()).collect::<Vec<_>>();

    // The quoted 準用 brings the first sentence of 第二条.
    let asked = engine.answer(&gen, "空き家の管理者を変更した場合はどうするのか", &filter, today, false, "").expect("answer");
    let said = texts(&asked);
    assert!(said.iter().any(|s| s.contains("準用する")), "{said:?}");
    assert!(said.iter().any(|s| s.contains("空き家の所有者は、管理者を定め")), "the applied article is quoted: {said:?}");
    // The obligation of 第二条 brings the 過料 of 第五条, in another chapter.
    let asked = engine.answer(&gen, "空き家の所有者は何を届け出なければならないか", &filter, today, false, "").expect("answer");
    let said = texts(&asked);
    assert!(said.iter().any(|s| s.contains("届け出なければならない")), "{said:?}");
    assert!(said.iter().any(|s| s.contains("五万円以下の過料")), "the penalty is quoted: {said:?}");
    // Every sentence is verbatim from a cited passage, which carries its document.
    for s in &asked.answer.sentences {
        let n = s.citations[0];
        let (passage, doc, _) = &asked.cited[n - 1];
        assert_eq!(passage.id, s.passage_id);
        assert!(passage.text.contains(&s.text), "{s:?} not in {passage:?}");
        assert!(doc.as_ref().is_some_and(|d| d.title == "架空市空き家管理条例"));
    }
    // An article no 準用 and no penalty names brings nothing more: the 過料 comes only with a
    // quoted sentence of 第二条 (the answerer may quote one as a supporting sentence), and no
    // referral is added when none of the quoted sentences refers on.
    let asked = engine.answer(&gen, "市長は空き家の所有者に助言できるか", &filter, today, false, "").expect("answer");
    let said = texts(&asked);
    assert!(said.iter().any(|s| s.contains("助言することができる")), "{said:?}");
    let quotes_article_2 = said.iter().any(|s| s.contains("届け出なければ"));
    assert!(quotes_article_2 || !said.iter().any(|s| s.contains("過料")), "{said:?}");
    let referred = asked.answer.sentences.iter().filter(|s| s.score == 0.0).count();
    assert!(quotes_article_2 || referred == 0, "{said:?}");
}
