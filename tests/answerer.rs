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
