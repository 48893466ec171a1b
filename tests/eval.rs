//! The evaluation harness on the project's own set (fixtures/eval): it runs end to end with the
//! production pipeline, and hybrid retrieval is at least as good as either side alone.

mod common;

use shirabe::eval::{evaluate, EvalOptions};
use shirabe::query::QueryExpander;
use shirabe::search::Mode;

#[test]
fn fixture_eval_set_hybrid_is_not_worse_than_either_side() {
    let repo = common::repo();
    let config = common::config();
    let opts = EvalOptions {
        docs: &repo.join("fixtures/eval/docs.jsonl"),
        queries: &repo.join("fixtures/eval/queries.jsonl"),
        qrels: &repo.join("fixtures/eval/qrels.tsv"),
        modes: vec![Mode::Keyword, Mode::Vector, Mode::Hybrid],
        search: config.search.clone(),
        expander: QueryExpander::builtin(),
        passage_chars: config.indexer.passage_chars,
        max_queries: 0,
    };
    let results = evaluate(&common::analyzers(), &common::embedder(), &opts).expect("evaluation");
    for r in &results {
        eprintln!("{}", serde_json::to_string(r).expect("json"));
        assert_eq!(r.queries, 44);
        assert_eq!(r.docs, 43);
        assert!(r.recall > 0.9, "{} recall@10 {}", r.mode, r.recall);
    }
    let ndcg = |m: &str| results.iter().find(|r| r.mode == m).map(|r| r.ndcg).expect("mode");
    assert!(ndcg("hybrid") >= ndcg("keyword"), "hybrid {} < keyword {}", ndcg("hybrid"), ndcg("keyword"));
    assert!(ndcg("hybrid") + 0.01 >= ndcg("vector"), "hybrid {} < vector {}", ndcg("hybrid"), ndcg("vector"));
}
