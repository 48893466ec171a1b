//! `shirabe train-answerer`: fits the learned answer model offline.
//!
//! Input: files of traced questions ([`TrainingQuestion`], one a line) that `shirabe eval-answers
//! --trace FILE` writes: every candidate sentence the answerer would read, with its features and
//! whether it holds an answer span. Each file is one *set* (named by its file stem); sets weigh
//! the same however many questions they have, so a hundred officials' questions count as much
//! as thousands of Wikipedia ones, and within a set each question weighs the same.
//!
//! The fit, all logistic regressions by Newton's method with a little L2:
//! 1. the sentence model, listwise: within each answerable question whose answer was read, the
//!    softmax over its candidates should pick the sentences that hold a span;
//! 2. for each question, the answerer's own choice under that model (the embedded candidates,
//!    the best, those within `support` of it) and whether the chosen sentences hold a span;
//! 3. the decision model on those choices, so that its output is the probability that an answer
//!    is right; then the threshold: the lowest at which *every* set abstains on at least
//!    `min_abstention` of its unanswerable questions (the worst case decides);
//! 4. `support` is picked from a short list by the worst set's span hit.
//!
//! Every figure it prints, and the threshold, come from five-fold cross-validation over the
//! questions (each question scored by models fitted without it), repeated with five fold
//! assignments and pooled, so they estimate what unseen questions of the same kind get without
//! hanging on which questions happened to share a fold; the model written is then fitted on
//! everything.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::answer::extract::{coverage, decision_features, embedded_candidates, near_duplicate, ranked, TracedSentence, MAX_SENTENCES};
use crate::answer::model::{sigmoid, AnswerModel, Linear, TrainedSet, DECISION_FEATURES, SENTENCE_FEATURES};
use crate::error::{Error, Result};

/// L2 penalties of the two fits. Chosen, with the corpus set's weight (`--weight
/// corpus-dev=5`), from {1e-3, 1e-2} × {1e-5, 1e-4, 1e-3} × {5, 8, 12} by the worst set's
/// cross-validated span hit at the abstention target (README, "Grounded answers", version 4).
const SENTENCE_L2: f64 = 1e-3;
const DECISION_L2: f64 = 1e-5;

/// One traced question: a line of a training file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingQuestion {
    pub id: String,
    pub answerable: bool,
    /// An answerable question made unanswerable by leaving its source out of what the answerer
    /// reads. Training keeps the abstention target for these and for the set's own
    /// unanswerable questions separately, so that the easy made ones cannot hide the near-misses.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub made_unanswerable: bool,
    pub asks_type: bool,
    /// Share of the question's content words in none of the candidates.
    #[serde(default)]
    pub uncovered: f32,
    /// The question's content words (the candidates' `words` index into them).
    #[serde(default)]
    pub question_words: Vec<String>,
    pub candidates: Vec<TrainingCandidate>,
}

/// A candidate sentence and its label.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingCandidate {
    #[serde(flatten)]
    pub sentence: TracedSentence,
    /// Whether the sentence (with its table's header row) holds an answer span.
    pub has_span: bool,
    /// Whether the rest of its law unit, quoted with it, holds one.
    #[serde(default)]
    pub unit_has_span: bool,
}

/// The label of a candidate: it holds a span of an answerable question.
fn label(q: &TrainingQuestion, c: &TrainingCandidate) -> bool {
    q.answerable && c.has_span
}

/// Training options.
pub struct TrainOptions {
    /// Least share of unanswerable questions abstained on, in every set.
    pub min_abstention: f64,
    /// The `support` values tried.
    pub supports: Vec<f32>,
    /// The command line, recorded in the model.
    pub command: String,
    pub version: String,
}

/// One set's questions.
pub struct TrainingSet {
    pub name: String,
    pub questions: Vec<TrainingQuestion>,
    /// How much the set weighs in the fit (1: as much as any other set).
    pub weight: f64,
}

/// Reads a training file; the set is named by the file stem. The features made from the
/// question's words (`covered`, `rare_covered`) are computed again from the words the trace
/// records, by the answerer's own [`coverage`], so a trace stays usable when their definition
/// changes; only a change to what is embedded or retrieved needs a new trace.
pub fn read_set(path: &Path) -> Result<TrainingSet> {
    let mut questions: Vec<TrainingQuestion> = super::read_jsonl(path)?;
    for q in questions.iter_mut().filter(|q| !q.question_words.is_empty()) {
        let held: Vec<&[u16]> = q.candidates.iter().map(|c| c.sentence.words.sentence.as_slice()).collect();
        let shares = coverage(&q.question_words, &held);
        for (c, (covered, rare)) in q.candidates.iter_mut().zip(shares) {
            c.sentence.features.covered = covered;
            c.sentence.features.rare_covered = rare;
        }
    }
    if questions.is_empty() {
        return Err(Error::Index(format!("{}: no traced questions; write them with `shirabe eval-answers … --trace {}`", path.display(), path.display())));
    }
    let name = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    Ok(TrainingSet { name, questions, weight: 1.0 })
}

/// Weighted examples for a logistic regression.
struct Examples {
    x: Vec<Vec<f64>>,
    y: Vec<f64>,
    w: Vec<f64>,
}

/// Newton's method for a convex loss in `d` parameters with an L2 penalty `l2` on the parameters
/// `penalised` says. `data` adds the loss's gradient and the upper triangle of its Hessian at
/// the given parameters; the penalty, a tiny ridge that keeps the system solvable, and the
/// convergence test (no step above 1e-7, at most 50 steps) are the same for every model.
fn newton(d: usize, l2: f64, penalised: impl Fn(usize) -> bool, data: impl Fn(&[f64], &mut [f64], &mut [Vec<f64>])) -> Vec<f64> {
    let mut beta = vec![0.0f64; d];
    for _ in 0..50 {
        let mut grad = vec![0.0f64; d];
        let mut hess = vec![vec![0.0f64; d]; d];
        data(&beta, &mut grad, &mut hess);
        for i in 0..d {
            for j in 0..i {
                hess[i][j] = hess[j][i];
            }
            if penalised(i) {
                grad[i] += l2 * beta[i];
                hess[i][i] += l2;
            }
            hess[i][i] += 1e-9;
        }
        let Some(step) = solve(hess, grad) else { break };
        let mut moved = 0.0f64;
        for i in 0..d {
            beta[i] -= step[i];
            moved = moved.max(step[i].abs());
        }
        if moved < 1e-7 {
            break;
        }
    }
    beta
}

/// Fits a logistic regression by Newton's method with L2 penalty `l2` (not on the bias).
fn fit(ex: &Examples, dims: usize, l2: f64) -> Linear {
    let d = dims + 1;
    let total: f64 = ex.w.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let beta = newton(d, l2, |i| i > 0, |beta, grad, hess| {
        for ((x, &y), &w) in ex.x.iter().zip(&ex.y).zip(&ex.w) {
            let w = w / total;
            let z = beta[0] + x.iter().zip(&beta[1..]).map(|(a, b)| a * b).sum::<f64>();
            let p = 1.0 / (1.0 + (-z).exp());
            let xi = |i: usize| if i == 0 { 1.0 } else { x[i - 1] };
            let r = w * (p - y);
            let s = w * p * (1.0 - p);
            for i in 0..d {
                grad[i] += r * xi(i);
                for j in i..d {
                    hess[i][j] += s * xi(i) * xi(j);
                }
            }
        }
    });
    Linear { bias: beta[0], weights: beta[1..].to_vec() }
}

/// Solves `a · x = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-15 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            for k in col..n {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// One question's candidates for the listwise fit: their features and which are right.
struct Group {
    x: Vec<Vec<f64>>,
    right: Vec<bool>,
    weight: f64,
}

/// Fits the sentence model as a conditional logit: within each question, the softmax of the
/// logits should put its mass on the right sentences. Only the ranking within a question is
/// learned (a bias would cancel, so it is 0); whether to answer at all is the decision model's
/// job. Newton's method with L2 penalty `l2`.
fn fit_listwise(groups: &[Group], dims: usize, l2: f64) -> Linear {
    let total: f64 = groups.iter().map(|g| g.weight).sum::<f64>().max(f64::MIN_POSITIVE);
    let beta = newton(dims, l2, |_| true, |beta, grad, hess| {
        for g in groups {
            let w = g.weight / total;
            let z: Vec<f64> = g.x.iter().map(|x| x.iter().zip(beta).map(|(a, b)| a * b).sum::<f64>()).collect();
            let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let sum: f64 = e.iter().sum();
            let p: Vec<f64> = e.iter().map(|v| v / sum).collect();
            let k = g.right.iter().filter(|&&r| r).count() as f64;
            let mut mean = vec![0.0f64; dims];
            for (x, &pi) in g.x.iter().zip(&p) {
                for d in 0..dims {
                    mean[d] += pi * x[d];
                }
            }
            for ((x, &pi), &r) in g.x.iter().zip(&p).zip(&g.right) {
                let y = if r { 1.0 / k } else { 0.0 };
                for i in 0..dims {
                    grad[i] += w * (pi - y) * x[i];
                    for j in i..dims {
                        hess[i][j] += w * pi * x[i] * x[j];
                    }
                }
            }
            for i in 0..dims {
                for j in i..dims {
                    hess[i][j] -= w * mean[i] * mean[j];
                }
            }
        }
    });
    Linear { bias: 0.0, weights: beta }
}

/// A question as the answerer would see it under `model`: its decision features, and whether
/// the sentences it would quote hold a span.
fn choose(model: &AnswerModel, q: &TrainingQuestion) -> Option<([f32; DECISION_FEATURES.len()], bool)> {
    if q.candidates.is_empty() {
        return None;
    }
    let features: Vec<_> = q.candidates.iter().map(|c| c.sentence.features).collect();
    let live = embedded_candidates(model, &features);
    let scored = ranked(model, &features, &live);
    let (best_logit, best) = scored[0];
    let decision = decision_features(&features, &scored, q.candidates[best].sentence.sim_alone, q.asks_type, q.uncovered);
    let mut chosen: Vec<usize> = Vec::new();
    for &(logit, i) in &scored {
        if chosen.len() >= MAX_SENTENCES || logit < best_logit - model.support {
            break;
        }
        if chosen.iter().any(|&j| near_duplicate(&q.candidates[j].sentence.text, &q.candidates[i].sentence.text)) {
            continue;
        }
        chosen.push(i);
    }
    let right = q.answerable && chosen.iter().any(|&i| q.candidates[i].has_span || q.candidates[i].unit_has_span);
    Some((decision.to_vec(), right))
}

/// How many times cross-validation is repeated, each time with other folds. Which questions
/// share a fold moves one set's span hit by up to four points on the officials' 178 questions
/// (0.731–0.769 over five assignments, 2026-12-07), enough to decide a choice between settings
/// by chance; the pooled figure of five assignments does not hang on any one of them.
const REPEATS: usize = 5;

/// Which of five folds a question is in, in repeat `repeat` (stable across runs; repeat 0 is
/// the assignment of the single cross-validation that earlier versions ran).
fn fold(set: &str, id: &str, repeat: usize) -> usize {
    let key = if repeat == 0 { format!("{set}\u{0}{id}") } else { format!("{set}\u{0}{id}\u{0}{repeat}") };
    let h = Sha256::digest(key.as_bytes());
    usize::from(h[0]) % 5
}

/// Fits both models on the questions `keep` selects, with `support`; threshold left at 0.5.
fn fit_models(sets: &[TrainingSet], keep: &dyn Fn(&str, &str) -> bool, support: f32) -> AnswerModel {
    // The sentence model learns from the answerable questions whose right sentence was read.
    let mut groups = Vec::new();
    for set in sets {
        let n = set.questions.iter().filter(|q| keep(&set.name, &q.id)).count().max(1) as f64;
        for q in set.questions.iter().filter(|q| keep(&set.name, &q.id)) {
            let right: Vec<bool> = q.candidates.iter().map(|c| label(q, c)).collect();
            if right.iter().any(|&r| r) && right.iter().any(|&r| !r) {
                let x = q.candidates.iter().map(|c| c.sentence.features.to_vec().iter().map(|&v| f64::from(v)).collect()).collect();
                groups.push(Group { x, right, weight: set.weight / n });
            }
        }
    }
    let mut model = AnswerModel {
        version: String::new(),
        sentence_features: SENTENCE_FEATURES.iter().map(|s| s.to_string()).collect(),
        sentence: fit_listwise(&groups, SENTENCE_FEATURES.len(), SENTENCE_L2),
        decision_features: DECISION_FEATURES.iter().map(|s| s.to_string()).collect(),
        decision: Linear { bias: 0.0, weights: vec![0.0; DECISION_FEATURES.len()] },
        threshold: 0.5,
        support,
        command: String::new(),
        trained_on: Vec::new(),
    };
    let mut decision = Examples { x: Vec::new(), y: Vec::new(), w: Vec::new() };
    for set in sets {
        let n = set.questions.iter().filter(|q| keep(&set.name, &q.id)).count().max(1) as f64;
        for q in set.questions.iter().filter(|q| keep(&set.name, &q.id)) {
            if let Some((x, right)) = choose(&model, q) {
                decision.x.push(x.iter().map(|&v| f64::from(v)).collect());
                decision.y.push(if right { 1.0 } else { 0.0 });
                decision.w.push(set.weight / n);
            }
        }
    }
    model.decision = fit(&decision, DECISION_FEATURES.len(), DECISION_L2);
    model
}

/// One question's out-of-fold outcome: its probability, and whether it is answerable and its
/// chosen sentences hold a span.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    probability: f32,
    answerable: bool,
    made_unanswerable: bool,
    right: bool,
}

/// Out-of-fold outcomes of every question, per set: [`REPEATS`] times five-fold, so each
/// question has one outcome per repeat and every figure is the mean over the repeats.
fn cross_validate(sets: &[TrainingSet], support: f32) -> Vec<Vec<Outcome>> {
    let mut out: Vec<Vec<Outcome>> = sets.iter().map(|_| Vec::new()).collect();
    for (r, k) in (0..REPEATS).flat_map(|r| (0..5).map(move |k| (r, k))) {
        let model = fit_models(sets, &|s, id| fold(s, id, r) != k, support);
        for (set, outcomes) in sets.iter().zip(out.iter_mut()) {
            for q in set.questions.iter().filter(|q| fold(&set.name, &q.id, r) == k) {
                let (probability, right) = match choose(&model, q) {
                    Some((x, right)) => (sigmoid(model.decision.logit(&x)), right),
                    None => (0.0, false),
                };
                outcomes.push(Outcome { probability, answerable: q.answerable, made_unanswerable: q.made_unanswerable, right });
            }
        }
    }
    out
}

/// A set's figures at threshold `t`: (span hit over answerable, abstention over unanswerable).
fn figures(outcomes: &[Outcome], t: f32) -> (f64, f64) {
    let answerable: Vec<&Outcome> = outcomes.iter().filter(|o| o.answerable).collect();
    let unanswerable: Vec<&Outcome> = outcomes.iter().filter(|o| !o.answerable).collect();
    let hit = answerable.iter().filter(|o| o.probability >= t && o.right).count() as f64 / answerable.len().max(1) as f64;
    let abstained = unanswerable.iter().filter(|o| o.probability < t).count() as f64 / unanswerable.len().max(1) as f64;
    (hit, abstained)
}

/// The share of `outcomes` abstained on at threshold `t` (1 when there are none).
fn abstention(outcomes: &[&Outcome], t: f32) -> f64 {
    if outcomes.is_empty() {
        return 1.0;
    }
    outcomes.iter().filter(|o| o.probability < t).count() as f64 / outcomes.len() as f64
}

/// The lowest threshold (in steps of 0.01) at which every set abstains on at least
/// `min_abstention` of its own unanswerable questions and of those made unanswerable, each.
fn choose_threshold(per_set: &[Vec<Outcome>], min_abstention: f64) -> f32 {
    let groups: Vec<Vec<&Outcome>> = per_set
        .iter()
        .flat_map(|o| [o.iter().filter(|x| !x.answerable && !x.made_unanswerable).collect(), o.iter().filter(|x| x.made_unanswerable).collect()])
        .collect();
    (1..100).map(|i| i as f32 / 100.0).find(|&t| groups.iter().all(|g| abstention(g, t) >= min_abstention)).unwrap_or(0.99)
}

/// The worst span hit over the sets that have answerable questions.
fn worst_span_hit(per_set: &[Vec<Outcome>], t: f32) -> f64 {
    per_set.iter().filter(|o| o.iter().any(|x| x.answerable)).map(|o| figures(o, t).0).fold(f64::INFINITY, f64::min)
}

/// Calibration of one set: per probability decile, questions (their outcomes over the repeats
/// of cross-validation, divided by the repeats), mean predicted probability and the observed
/// share answered rightly.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationBin {
    pub from: f32,
    pub to: f32,
    pub questions: f64,
    pub predicted: f64,
    pub observed: f64,
}

/// What training reports per set (out-of-fold figures).
#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    pub name: String,
    pub answerable: usize,
    pub unanswerable: usize,
    pub span_hit: f64,
    /// Abstention on the set's own unanswerable questions and on those made unanswerable.
    pub abstained_unanswerable: f64,
    pub made_unanswerable: usize,
    pub abstained_made: f64,
    /// Mean squared error of the probability against "answered rightly".
    pub brier: f64,
    /// Expected calibration error over the deciles.
    pub ece: f64,
    pub calibration: Vec<CalibrationBin>,
}

fn report(name: &str, outcomes: &[Outcome], t: f32) -> SetReport {
    let (span_hit, _) = figures(outcomes, t);
    let own: Vec<&Outcome> = outcomes.iter().filter(|o| !o.answerable && !o.made_unanswerable).collect();
    let made: Vec<&Outcome> = outcomes.iter().filter(|o| o.made_unanswerable).collect();
    let truth = |o: &Outcome| if o.answerable && o.right { 1.0 } else { 0.0 };
    let n = outcomes.len().max(1) as f64;
    let brier = outcomes.iter().map(|o| (f64::from(o.probability) - truth(o)).powi(2)).sum::<f64>() / n;
    let mut calibration = Vec::new();
    let mut ece = 0.0;
    for b in 0..10 {
        let (from, to) = (b as f32 / 10.0, (b + 1) as f32 / 10.0);
        let inside: Vec<&Outcome> = outcomes.iter().filter(|o| o.probability >= from && (o.probability < to || b == 9)).collect();
        if inside.is_empty() {
            continue;
        }
        let m = inside.len() as f64;
        let predicted = inside.iter().map(|o| f64::from(o.probability)).sum::<f64>() / m;
        let observed = inside.iter().map(|o| truth(o)).sum::<f64>() / m;
        ece += m / n * (predicted - observed).abs();
        calibration.push(CalibrationBin { from, to, questions: (inside.len() as f64 / REPEATS as f64 * 10.0).round() / 10.0, predicted: super::round4(predicted), observed: super::round4(observed) });
    }
    SetReport {
        name: name.to_string(),
        answerable: outcomes.iter().filter(|o| o.answerable).count() / REPEATS,
        unanswerable: own.len() / REPEATS,
        span_hit: super::round4(span_hit),
        abstained_unanswerable: super::round4(abstention(&own, t)),
        made_unanswerable: made.len() / REPEATS,
        abstained_made: super::round4(abstention(&made, t)),
        brier: super::round4(brier),
        ece: super::round4(ece),
        calibration,
    }
}

/// The result of training: the model to write and the out-of-fold reports per set.
pub struct Trained {
    pub model: AnswerModel,
    pub reports: Vec<SetReport>,
    /// (support, worst set's span hit, threshold) for every support tried.
    pub tried: Vec<(f32, f64, f32)>,
}

/// Fits the answer model on `sets` (see the module documentation).
pub fn train(sets: &[TrainingSet], opts: &TrainOptions) -> Result<Trained> {
    if sets.is_empty() || opts.supports.is_empty() {
        return Err(Error::Index("train-answerer needs at least one training file and one support value".into()));
    }
    let mut best: Option<(f64, f32, f32, Vec<Vec<Outcome>>)> = None;
    let mut tried = Vec::new();
    for &support in &opts.supports {
        let per_set = cross_validate(sets, support);
        let t = choose_threshold(&per_set, opts.min_abstention);
        let worst = worst_span_hit(&per_set, t);
        tried.push((support, super::round4(worst), t));
        if best.as_ref().is_none_or(|b| worst > b.0) {
            best = Some((worst, support, t, per_set));
        }
    }
    let Some((_, support, threshold, per_set)) = best else { unreachable!("supports is not empty") };
    let reports: Vec<SetReport> = sets.iter().zip(&per_set).map(|(s, o)| report(&s.name, o, threshold)).collect();
    let mut model = fit_models(sets, &|_, _| true, support);
    model.threshold = threshold;
    model.version = opts.version.clone();
    model.command = opts.command.clone();
    model.trained_on = reports
        .iter()
        .map(|r| TrainedSet { name: r.name.clone(), answerable: r.answerable, unanswerable: r.unanswerable, span_hit: r.span_hit, abstained_unanswerable: r.abstained_unanswerable })
        .collect();
    Ok(Trained { model, reports, tried })
}

/// Rounds the weights for the file (six decimals: the file stays readable and diffs small).
pub fn rounded(mut model: AnswerModel) -> AnswerModel {
    let r = |v: f64| (v * 1e6).round() / 1e6;
    for l in [&mut model.sentence, &mut model.decision] {
        l.bias = r(l.bias);
        l.weights.iter_mut().for_each(|w| *w = r(*w));
    }
    model
}

/// The sets' figures as a table (Markdown), for the README.
pub fn table(reports: &[SetReport]) -> String {
    let mut out = String::from("| set | answerable | unanswerable | made unanswerable | span hit | abstained (unanswerable) | abstained (made) | Brier | ECE |\n|---|---|---|---|---|---|---|---|---|\n");
    for r in reports {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
            r.name, r.answerable, r.unanswerable, r.made_unanswerable, r.span_hit, r.abstained_unanswerable, r.abstained_made, r.brier, r.ece
        ));
    }
    out.push_str("\n| set | probability | questions | mean predicted | observed right |\n|---|---|---|---|---|\n");
    for r in reports {
        for b in &r.calibration {
            out.push_str(&format!("| {} | {:.1}–{:.1} | {} | {:.3} | {:.3} |\n", r.name, b.from, b.to, b.questions, b.predicted, b.observed));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::model::SentenceFeatures;

    #[test]
    fn newton_recovers_a_logistic_model() {
        // y ~ Bernoulli(sigmoid(-1 + 3x)) on a grid, as expected frequencies.
        let mut ex = Examples { x: Vec::new(), y: Vec::new(), w: Vec::new() };
        for i in 0..=100 {
            let x = i as f64 / 100.0;
            let p = 1.0 / (1.0 + (1.0 - 3.0 * x).exp());
            ex.x.push(vec![x]);
            ex.y.push(1.0);
            ex.w.push(p);
            ex.x.push(vec![x]);
            ex.y.push(0.0);
            ex.w.push(1.0 - p);
        }
        let l = fit(&ex, 1, 0.0);
        assert!((l.bias + 1.0).abs() < 1e-3 && (l.weights[0] - 3.0).abs() < 1e-3, "{l:?}");
    }

    #[test]
    fn the_listwise_fit_ranks_the_right_sentence_first() {
        // Right sentences have the larger first feature; the second is noise.
        let groups: Vec<Group> = (0..50)
            .map(|i| {
                let noise = (i % 5) as f64 / 5.0;
                Group { x: vec![vec![0.8, noise], vec![0.3, 1.0 - noise], vec![0.5, noise]], right: vec![true, false, false], weight: 1.0 }
            })
            .collect();
        let l = fit_listwise(&groups, 2, 1e-3);
        assert!(l.weights[0] > 1.0, "{l:?}");
        assert_eq!(l.bias, 0.0);
    }

    fn question(id: usize, answerable: bool, right_sim: f32) -> TrainingQuestion {
        let cand = |text: &str, sim: f32, has_span: bool| TrainingCandidate {
            sentence: TracedSentence {
                passage_id: format!("p{id}"),
                text: text.to_string(),
                table_header: None,
                features: SentenceFeatures { sim, covered: 0.5, ..Default::default() },
                sim_alone: sim,
                unit: None,
                words: Default::default(),
            },
            has_span,
            unit_has_span: false,
        };
        TrainingQuestion {
            id: format!("q{id}"),
            answerable,
            made_unanswerable: false,
            asks_type: false,
            uncovered: 0.0,
            question_words: Vec::new(),
            candidates: vec![cand(&format!("答えの文{id}。"), right_sim, answerable), cand(&format!("別の文{id}。"), 0.3, false)],
        }
    }

    #[test]
    fn training_separates_and_the_threshold_meets_the_abstention_in_every_set() {
        // Answerable questions have a similar sentence; unanswerable ones do not.
        let set = |name: &str, offset: usize| TrainingSet {
            name: name.into(),
            weight: 1.0,
            questions: (0..200).map(|i| question(offset + i, i % 2 == 0, if i % 2 == 0 { 0.7 + (i % 7) as f32 * 0.04 } else { 0.2 + (i % 9) as f32 * 0.05 })).collect(),
        };
        let sets = [set("a", 0), set("b", 1000)];
        let opts = TrainOptions { min_abstention: 0.85, supports: vec![0.0, 1.0], command: "test".into(), version: "t".into() };
        let trained = train(&sets, &opts).expect("train");
        assert!(trained.model.sentence.weights[0] > 0.0, "{:?}", trained.model.sentence);
        assert_eq!(trained.model.sentence.bias, 0.0, "a listwise model has no bias");
        for r in &trained.reports {
            assert!(r.abstained_unanswerable >= 0.85, "{r:?}");
            assert!(r.span_hit >= 0.9, "{r:?}");
        }
        // What is written loads back as a model of this build.
        let text = serde_json::to_string(&rounded(trained.model)).expect("json");
        AnswerModel::parse(&text, "trained").expect("a valid model");
        assert!(table(&trained.reports).contains("| a | 100 | 100 | 0 |"));
    }
}
