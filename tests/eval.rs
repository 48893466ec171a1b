//! The evaluation harness on the project's own sets (fixtures/eval, fixtures/eval-faq): it runs
//! end to end with the production pipeline, and hybrid retrieval is at least as good as either
//! side alone.

mod common;

use shirabe::eval::{evaluate, EvalOptions};
use shirabe::retrieve::search::Mode;

#[test]
fn fixture_eval_set_hybrid_is_not_worse_than_either_side() {
    let repo = common::repo();
    let config = common::config();
    let opts = EvalOptions {
        docs: &repo.join("fixtures/eval/docs.jsonl"),
        queries: &repo.join("fixtures/eval/queries.jsonl"),
        qrels: &repo.join("fixtures/eval/qrels.tsv"),
        modes: vec![Mode::Keyword, Mode::Vector, Mode::Hybrid],
        passage_chars: config.indexer.passage_chars,
        max_queries: 0,
        as_of: None,
        dump_runs: None,
    };
    let results = evaluate(&common::engine(), &opts).expect("evaluation");
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

/// The invented municipal FAQ (fixtures/eval-faq), asked in residents' words: the plain-word
/// entries of the synonym list lift the keyword side, and hybrid is not worse than either side.
#[test]
fn faq_set_plain_words_help_and_hybrid_is_not_worse_than_either_side() {
    let repo = common::repo();
    let config = common::config();
    let (docs, queries, qrels) = (repo.join("fixtures/eval-faq/docs.jsonl"), repo.join("fixtures/eval-faq/queries.jsonl"), repo.join("fixtures/eval-faq/qrels.tsv"));
    let opts = |modes: Vec<Mode>| EvalOptions {
        docs: &docs,
        queries: &queries,
        qrels: &qrels,
        modes,
        passage_chars: config.indexer.passage_chars,
        max_queries: 0,
        as_of: None,
        dump_runs: None,
    };
    let results = evaluate(&common::engine(), &opts(vec![Mode::Keyword, Mode::Vector, Mode::Hybrid])).expect("evaluation");
    for r in &results {
        eprintln!("{}", serde_json::to_string(r).expect("json"));
        assert_eq!((r.queries, r.docs), (80, 60));
    }
    let ndcg = |m: &str| results.iter().find(|r| r.mode == m).map(|r| r.ndcg).expect("mode");
    let bare = shirabe::engine::Engine::with_expander(
        config.clone(),
        common::analyzers(),
        std::sync::Arc::new(common::embedder()),
        shirabe::retrieve::query::QueryExpander::without_synonyms(),
    );
    let keyword_bare = evaluate(&bare, &opts(vec![Mode::Keyword])).expect("evaluation")[0].ndcg;
    eprintln!("keyword nDCG@10 without the synonym list: {keyword_bare}");
    assert!(ndcg("keyword") > keyword_bare + 0.02, "plain words: {} vs {keyword_bare} without", ndcg("keyword"));
    assert!(ndcg("hybrid") >= ndcg("keyword"), "hybrid {} < keyword {}", ndcg("hybrid"), ndcg("keyword"));
    assert!(ndcg("hybrid") + 0.01 >= ndcg("vector"), "hybrid {} < vector {}", ndcg("hybrid"), ndcg("vector"));
}

/// On circular pairs where one abolishes the other, ranking as of a date puts the rule in force
/// first; without `as_of` the two versions compete on relevance alone.
#[test]
fn as_of_ranks_the_rule_in_force_first_on_the_as_of_set() {
    let repo = common::repo();
    let config = common::config();
    let engine = common::engine();
    let run = |as_of| {
        let opts = EvalOptions {
            docs: &repo.join("fixtures/eval-asof/docs.jsonl"),
            queries: &repo.join("fixtures/eval-asof/queries.jsonl"),
            qrels: &repo.join("fixtures/eval-asof/qrels.tsv"),
            modes: vec![Mode::Hybrid],
            passage_chars: config.indexer.passage_chars,
            max_queries: 0,
            as_of,
            dump_runs: None,
        };
        evaluate(&engine, &opts).expect("evaluation")[0].ndcg
    };
    let plain = run(None);
    let dated = run(chrono::NaiveDate::from_ymd_opt(2026, 11, 26));
    eprintln!("eval-asof hybrid nDCG@10: {plain} without as_of, {dated} with");
    assert!(dated > plain, "{dated} <= {plain}");
    assert!(dated > 0.99, "every pair in order: {dated}");
}

/// `eval-answers --corpus`: the fixture documents indexed by the indexer's own run and asked
/// through the answer path of the API. The figures are those of a small set, so the test checks
/// that the harness measures (hits are found, unanswerable questions abstain, nothing is
/// paraphrased) rather than a quality target.
#[test]
fn corpus_answer_harness_runs_the_production_path() {
    use shirabe::eval::corpus::{evaluate_corpus, CorpusEvalOptions};
    let repo = common::repo();
    let index = tempfile::tempdir().expect("tempdir");
    let opts = CorpusEvalOptions {
        corpus: &repo.join("fixtures/docs"),
        questions: &repo.join("fixtures/eval-answers/questions.jsonl"),
        index_dir: index.path().join("index"),
        worker: None,
        trace: false,
    };
    let engine = common::engine();
    let (report, rows) = evaluate_corpus(&engine, &opts).expect("harness");
    eprintln!("{}", serde_json::to_string(&report).expect("json"));
    assert_eq!((report.questions, report.answerable, report.unanswerable), (6, 4, 2));
    assert_eq!(report.verbatim_violations, 0);
    assert!(report.span_hit >= 0.5, "{report:?}");
    assert_eq!(report.abstained_unanswerable, 1.0, "{report:?}");
    assert!(rows.iter().all(|r| r.traces.is_empty()), "no traces unless asked");
    // A second run reuses the index: nothing is re-embedded, the figures are the same.
    let (again, _) = evaluate_corpus(&engine, &opts).expect("harness");
    assert_eq!(again.span_hit, report.span_hit);
    // Answering everything (threshold 0), the fee question is answered by its table row with the
    // header row joined; traced, each answerable question also comes made unanswerable.
    let mut eager = common::engine();
    eager.config.answer.threshold = Some(0.0);
    let (_, rows) = evaluate_corpus(&eager, &CorpusEvalOptions { trace: true, ..opts }).expect("harness");
    let fee = rows.iter().find(|r| r.id == "fx-1").expect("fx-1");
    assert!(fee.span_hit && fee.doc_hit, "the fee row with its header is the answer: {fee:?}");
    let traces: Vec<_> = rows.iter().flat_map(|r| &r.traces).collect();
    assert_eq!(traces.len(), 6 + 4, "one per question and one per answerable question made unanswerable");
    assert_eq!(traces.iter().filter(|t| t.made_unanswerable).count(), 4);
    assert!(traces.iter().filter(|t| t.made_unanswerable).all(|t| !t.answerable && !t.candidates.iter().any(|c| c.has_span)), "a made-unanswerable question reads no span");
    let fee = traces.iter().find(|t| t.id == "fx-1").expect("fx-1 traced");
    assert!(fee.candidates.iter().any(|c| c.has_span && c.sentence.table_header.is_some()), "the row is labelled with its header");
}

/// The project's question set over ../shared/corpus: every answer span is verbatim in its source
/// (checked with pdftotext and the law XML by eval/corpus-qa/check.py).
#[test]
fn corpus_question_spans_are_in_their_sources() {
    let Some(shared) = common::shared_dir("corpus_question_spans_are_in_their_sources") else { return };
    let out = std::process::Command::new("python3")
        .arg(common::repo().join("eval/corpus-qa/check.py"))
        .arg("--corpus")
        .arg(shared.join("corpus"))
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("failures: 0"), "{text}");
}

/// The answer harness on JSQuAD (half the paragraphs indexed): at threshold 0 every question is
/// answered, and the returned sentences hold the span of most answerable ones; above every
/// possible probability every question abstains. Its traces are what training reads: one per
/// question, labelled.
#[test]
fn jsquad_answer_harness_answers_at_zero_and_abstains_above_one() {
    let Some(shared) = common::shared_dir("jsquad_answer_harness_answers_at_zero_and_abstains_above_one") else { return };
    let dir = shared.join("eval/jsquad");
    let config = common::config();
    let set = shirabe::eval::answers::AnswerSet::read(&dir.join("docs.jsonl"), &dir.join("queries.jsonl"), &dir.join("qrels.tsv")).expect("the set");
    let (points, traces) = shirabe::eval::answers::evaluate_answers(&common::engine(), &set, config.indexer.passage_chars, 40, &[0.0, 1.01], true).expect("answer evaluation");
    eprintln!("{}", serde_json::to_string(&points.iter().map(|p| (p.threshold, p.answerable_span_found, p.unanswerable_abstained)).collect::<Vec<_>>()).expect("json"));
    assert_eq!((points[0].answerable, points[0].unanswerable), (20, 20));
    assert_eq!((points[0].answerable_answered, points[0].unanswerable_abstained), (1.0, 0.0));
    assert!(points[0].answerable_span_found >= 0.7, "{:?}", points[0]);
    assert_eq!((points[1].answerable_answered, points[1].answerable_span_found, points[1].unanswerable_abstained), (0.0, 0.0, 1.0));
    assert_eq!(traces.len(), 40);
    assert_eq!(traces.iter().filter(|t| t.answerable).count(), 20);
    let labelled = traces.iter().filter(|t| t.answerable && t.candidates.iter().any(|c| c.has_span)).count();
    assert!(labelled >= 16, "a span sentence among the candidates of {labelled} of 20 answerable questions");
    assert!(traces.iter().all(|t| t.candidates.iter().all(|c| (0.0..=1.0).contains(&c.sentence.features.sim))));
}
