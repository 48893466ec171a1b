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
        as_of: None,
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

/// On circular pairs where one abolishes the other, ranking as of a date puts the rule in force
/// first; without `as_of` the two versions compete on relevance alone.
#[test]
fn as_of_ranks_the_rule_in_force_first_on_the_as_of_set() {
    let repo = common::repo();
    let config = common::config();
    let (analyzers, embedder) = (common::analyzers(), common::embedder());
    let run = |as_of| {
        let opts = EvalOptions {
            docs: &repo.join("fixtures/eval-asof/docs.jsonl"),
            queries: &repo.join("fixtures/eval-asof/queries.jsonl"),
            qrels: &repo.join("fixtures/eval-asof/qrels.tsv"),
            modes: vec![Mode::Hybrid],
            search: config.search.clone(),
            expander: QueryExpander::builtin(),
            passage_chars: config.indexer.passage_chars,
            max_queries: 0,
            as_of,
        };
        evaluate(&analyzers, &embedder, &opts).expect("evaluation")[0].ndcg
    };
    let plain = run(None);
    let dated = run(chrono::NaiveDate::from_ymd_opt(2026, 11, 26));
    eprintln!("eval-asof hybrid nDCG@10: {plain} without as_of, {dated} with");
    assert!(dated > plain, "{dated} <= {plain}");
    assert!(dated > 0.99, "every pair in order: {dated}");
}
