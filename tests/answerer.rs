//! The extractive answerer with the real model, on passages written here: how a sentence's
//! similarity is measured and what the decision to answer compares with the threshold.

mod common;

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
fn a_sentence_is_measured_in_its_document_and_the_decision_mixes_both() {
    let engine = common::engine();
    let answerer = engine.answerer(0.0, "");
    let hits = [hit("kokubai", ARTICLE)];
    let title_of = |_: &str| Some("国家賠償法".to_string());
    let traced = answerer.trace(QUESTION, &hits, &title_of).expect("trace");
    let article = traced.iter().find(|t| t.text.contains("相互の保証")).expect("the article's sentence is a candidate");
    // 「この法律は」 names the law only through the document's title.
    assert!(article.sim > article.sim_alone + 0.03, "in its document {} vs alone {}", article.sim, article.sim_alone);
    assert!(article.decision < article.score, "the decision {} lies between the score alone and in the document {}", article.decision, article.score);

    let answer = answerer.answer_titled(QUESTION, &hits, &title_of).expect("answer");
    assert!(answer.answerable);
    assert!(answer.sentences[0].text.contains("相互の保証があるときに限り"), "{:?}", answer.sentences);
    // The threshold is compared with the decision score, not with the sentence's score in its
    // document (int8 activations make vectors depend slightly on their batch: a tolerance).
    assert!((answer.best_score - article.decision).abs() < 0.02, "best {} vs decision {}", answer.best_score, article.decision);

    // A threshold between the two scores abstains.
    let strict = engine.answerer((article.decision + article.score) / 2.0, "");
    assert!(!strict.answer_titled(QUESTION, &hits, &title_of).expect("answer").answerable);

    // Without a title the sentence is measured alone, and the decision is its score.
    let untitled = answerer.answer(QUESTION, &hits).expect("answer");
    let alone = traced_alone_score(article);
    assert!((untitled.best_score - alone).abs() < 0.02, "untitled best {} vs alone {}", untitled.best_score, alone);
}

/// The combined score of a traced sentence measured alone (decision = mean of both).
fn traced_alone_score(t: &shirabe::answer::extract::TracedSentence) -> f32 {
    2.0 * t.decision - t.score
}
