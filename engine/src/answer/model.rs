//! The learned answer model: which sentence answers, and whether to answer at all.
//!
//! Two logistic regressions, trained offline by `shirabe train-answerer` on the candidate
//! sentences that `shirabe eval-answers --trace` writes (thousands of labelled questions,
//! answerable and made unanswerable), and shipped as a versioned JSON file in the repository
//! (`engine/models/answer-model.json`), so that no Python and no training runs at service time.
//!
//! - The **sentence model** scores each candidate sentence from [`SENTENCE_FEATURES`]: the
//!   question–sentence similarity in its document, the share of the question's words it holds,
//!   the answer-type cue, its passage's rank and shape. Its first feature (similarity) is the
//!   only one that costs an embedding, so the rest (the *cheap* part of the logit) decides which
//!   few candidates are embedded at all.
//! - The **decision model** turns the best sentence into a calibrated probability that the quoted
//!   sentences contain the answer, from [`DECISION_FEATURES`] (the best logit, its similarity
//!   without the document's title, its margin over the next candidate…). The answerer abstains
//!   when that probability falls below the threshold the training chose (the lowest at which
//!   every training set abstains on enough of its unanswerable questions), or the configured one.
//!
//! Both feature lists are named in the file; a file whose names differ from the code's is
//! refused, so weights can never be applied to the wrong features.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The features of a candidate sentence, in the order of [`SentenceFeatures::to_vec`].
pub const SENTENCE_FEATURES: [&str; 12] = [
    "sim",
    "covered",
    "rare_covered",
    "cue_match",
    "cue_miss",
    "rank",
    "neighbour",
    "length",
    "table_row",
    "first_in_passage",
    "law_article",
    "both_retrievers",
];

/// The features of the decision to answer, in the order of [`DecisionFeatures::to_vec`]: seven of
/// the question and its candidates, then the best candidate's sentence features (`best_…`), so
/// that the decision can weigh, say, a law article's similarity differently from a circular's.
pub const DECISION_FEATURES: [&str; 7 + SENTENCE_FEATURES.len()] = [
    "best_logit",
    "sim_alone",
    "margin",
    "asks_type",
    "uncovered",
    "candidates",
    "rare_covered_max",
    "best_sim",
    "best_covered",
    "best_rare_covered",
    "best_cue_match",
    "best_cue_miss",
    "best_rank",
    "best_neighbour",
    "best_length",
    "best_table_row",
    "best_first_in_passage",
    "best_law_article",
    "best_both_retrievers",
];

/// A candidate sentence's features. All lie in about [0, 1].
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct SentenceFeatures {
    /// Question–sentence cosine with the document's title before the sentence, stretched from
    /// E5's usual [0.7, 0.95] to [0, 1].
    pub sim: f32,
    /// Share of the question's key words (with a kanji, katakana, digit or Latin letter; each
    /// once) in the sentence.
    pub covered: f32,
    /// The same share with each word weighted by how few of the candidate sentences hold it
    /// (ln((n + 1) / (holding + 0.5)) over the n candidates): a word every candidate repeats
    /// (the law's name, 「審査請求」 in a chapter about it) says little about which sentence
    /// answers, the one word only a few hold (「自宅療養者」, 「会長」) says much. Computed among
    /// the candidates only, so it depends on nothing the caller may not see.
    #[serde(default)]
    pub rare_covered: f32,
    /// The question asks for an answer type (an amount, a date, a count…) and the sentence has it.
    pub cue_match: f32,
    /// The question asks for an answer type and the sentence lacks it.
    pub cue_miss: f32,
    /// Rank of the sentence's passage among those read, 0 (best) to 1.
    pub rank: f32,
    /// The passage was read as a neighbour of a top passage, not ranked itself.
    pub neighbour: f32,
    /// ln(characters) / 6: about 0.3 for 6 characters, 1 for 400.
    pub length: f32,
    /// A table row (quoted with its header row).
    pub table_row: f32,
    /// The first sentence of its passage.
    pub first_in_passage: f32,
    /// The passage is a law's 条/項.
    pub law_article: f32,
    /// Both the keyword and the vector index retrieved the passage.
    pub both_retrievers: f32,
}

impl SentenceFeatures {
    pub fn to_vec(&self) -> [f32; SENTENCE_FEATURES.len()] {
        [
            self.sim,
            self.covered,
            self.rare_covered,
            self.cue_match,
            self.cue_miss,
            self.rank,
            self.neighbour,
            self.length,
            self.table_row,
            self.first_in_passage,
            self.law_article,
            self.both_retrievers,
        ]
    }
}

/// The features of the decision to answer, from the best candidate (and the next one).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct DecisionFeatures {
    /// The sentence model's logit of the best candidate, divided by 4.
    pub best_logit: f32,
    /// The best candidate's similarity measured without its document's title (stretched).
    pub sim_alone: f32,
    /// Best logit minus the next candidate's, divided by 4, at most 1 (1 when there is none).
    pub margin: f32,
    /// The question asks for an answer type.
    pub asks_type: f32,
    /// Share of the question's content words that no candidate sentence holds: a question about
    /// something the passages never mention is a near-miss.
    pub uncovered: f32,
    /// ln(1 + number of candidate sentences) / 5.
    pub candidates: f32,
    /// The largest `rare_covered` of any candidate, embedded or not.
    pub rare_covered_max: f32,
    /// The best candidate's own features.
    pub best: SentenceFeatures,
}

impl DecisionFeatures {
    /// The decision features of a question whose best candidate has `best` (sentence features),
    /// `best_logit` and `sim_alone`, whose next candidate has `second_logit`, among `candidates`
    /// that leave `uncovered` of the question's words unmatched and of which the best
    /// `rare_covered` is `rare_covered_max`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(best: &SentenceFeatures, best_logit: f32, sim_alone: f32, second_logit: Option<f32>, asks_type: bool, uncovered: f32, candidates: usize, rare_covered_max: f32) -> DecisionFeatures {
        let margin = second_logit.map_or(1.0, |s| ((best_logit - s) / 4.0).min(1.0));
        DecisionFeatures {
            best_logit: best_logit / 4.0,
            sim_alone,
            margin,
            asks_type: if asks_type { 1.0 } else { 0.0 },
            uncovered,
            candidates: (1.0 + candidates as f32).ln() / 5.0,
            rare_covered_max,
            best: *best,
        }
    }

    pub fn to_vec(&self) -> [f32; DECISION_FEATURES.len()] {
        let mut out = [0.0; DECISION_FEATURES.len()];
        out[..7].copy_from_slice(&[self.best_logit, self.sim_alone, self.margin, self.asks_type, self.uncovered, self.candidates, self.rare_covered_max]);
        out[7..].copy_from_slice(&self.best.to_vec());
        out
    }
}

/// A logistic regression: `bias + Σ weights[i] · x[i]` is the logit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Linear {
    pub bias: f64,
    pub weights: Vec<f64>,
}

impl Linear {
    pub fn logit(&self, x: &[f32]) -> f32 {
        (self.bias + self.weights.iter().zip(x).map(|(w, v)| w * f64::from(*v)).sum::<f64>()) as f32
    }

    /// The logit without the first feature's term (for the sentence model: without similarity,
    /// the only feature that costs an embedding).
    pub fn logit_without_first(&self, x: &[f32]) -> f32 {
        (self.bias + self.weights.iter().zip(x).skip(1).map(|(w, v)| w * f64::from(*v)).sum::<f64>()) as f32
    }
}

/// The logistic function.
pub fn sigmoid(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit).exp())
}

/// How a set of training questions came out under the model (`shirabe train-answerer` writes
/// these into the file, so the figures travel with the weights).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainedSet {
    pub name: String,
    pub answerable: usize,
    pub unanswerable: usize,
    /// Measured by five-fold cross-validation over the questions, at the model's threshold.
    pub span_hit: f64,
    pub abstained_unanswerable: f64,
}

/// The learned answer model, as stored in its file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AnswerModel {
    /// Bumped whenever the features or the training data change.
    pub version: String,
    pub sentence_features: Vec<String>,
    pub sentence: Linear,
    pub decision_features: Vec<String>,
    pub decision: Linear,
    /// Least probability that the quoted sentences hold the answer for the answerer to answer.
    pub threshold: f32,
    /// Sentences whose logit lies within this of the best one's join the answer (up to three).
    pub support: f32,
    /// How the model was trained: the command and the sets.
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub trained_on: Vec<TrainedSet>,
}

/// The model shipped with the code.
const BUILTIN: &str = include_str!("../../models/answer-model.json");

impl AnswerModel {
    /// The model shipped with the code (checked once; a broken file is a build defect that the
    /// unit tests catch).
    pub fn builtin() -> &'static AnswerModel {
        static MODEL: OnceLock<AnswerModel> = OnceLock::new();
        MODEL.get_or_init(|| AnswerModel::parse(BUILTIN, "the built-in answer model").expect("engine/models/answer-model.json is valid"))
    }

    /// Reads a model file (one that `shirabe train-answerer` wrote).
    pub fn from_file(path: &std::path::Path) -> Result<AnswerModel> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("answer model {}", path.display()), e))?;
        AnswerModel::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<AnswerModel> {
        let model: AnswerModel = serde_json::from_str(text).map_err(|e| Error::AnswerModel(format!("{origin}: not an answer model: {e}")))?;
        model.check().map_err(|e| Error::AnswerModel(format!("{origin}: {e}; train it again with `shirabe train-answerer`")))?;
        Ok(model)
    }

    fn check(&self) -> std::result::Result<(), String> {
        let same = |have: &[String], want: &[&str]| have.len() == want.len() && have.iter().zip(want).all(|(a, b)| a == b);
        if !same(&self.sentence_features, &SENTENCE_FEATURES) || self.sentence.weights.len() != SENTENCE_FEATURES.len() {
            return Err(format!("its sentence features {:?} are not this build's {:?}", self.sentence_features, SENTENCE_FEATURES));
        }
        if !same(&self.decision_features, &DECISION_FEATURES) || self.decision.weights.len() != DECISION_FEATURES.len() {
            return Err(format!("its decision features {:?} are not this build's {:?}", self.decision_features, DECISION_FEATURES));
        }
        let finite = |l: &Linear| l.bias.is_finite() && l.weights.iter().all(|w| w.is_finite());
        if !finite(&self.sentence) || !finite(&self.decision) {
            return Err("a weight is not a finite number".into());
        }
        if !(0.0..=1.0).contains(&self.threshold) || !(self.support >= 0.0) {
            return Err(format!("threshold {} must lie in [0, 1] and support {} be at least 0", self.threshold, self.support));
        }
        Ok(())
    }

    /// The sentence model's logit of a candidate.
    pub fn sentence_logit(&self, f: &SentenceFeatures) -> f32 {
        self.sentence.logit(&f.to_vec())
    }

    /// The logit without similarity: what decides which candidates are embedded.
    pub fn sentence_cheap_logit(&self, f: &SentenceFeatures) -> f32 {
        self.sentence.logit_without_first(&f.to_vec())
    }

    /// The probability that the quoted sentences hold the answer.
    pub fn answer_probability(&self, d: &DecisionFeatures) -> f32 {
        sigmoid(self.decision.logit(&d.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_model_loads_and_names_this_builds_features() {
        let m = AnswerModel::builtin();
        assert_eq!(m.sentence.weights.len(), SENTENCE_FEATURES.len());
        assert!(m.threshold > 0.0 && m.threshold < 1.0, "{}", m.threshold);
        // Similarity must count for the answer: a model that ignores it was trained wrong.
        assert!(m.sentence.weights[0] > 0.0, "{:?}", m.sentence.weights);
    }

    #[test]
    fn a_model_for_other_features_is_refused_with_advice() {
        let mut m = AnswerModel::builtin().clone();
        m.sentence_features[1] = "coverage".into();
        let text = serde_json::to_string(&m).expect("json");
        let err = AnswerModel::parse(&text, "x.json").expect_err("other features").to_string();
        assert!(err.contains("x.json") && err.contains("train-answerer"), "{err}");
        let mut m = AnswerModel::builtin().clone();
        m.decision.weights.pop();
        assert!(AnswerModel::parse(&serde_json::to_string(&m).expect("json"), "y").is_err());
        assert!(AnswerModel::parse("{}", "z").is_err());
    }

    #[test]
    fn the_probability_grows_with_the_logit_and_the_margin_is_capped() {
        let f = SentenceFeatures { sim: 0.8, covered: 0.5, ..Default::default() };
        let d = DecisionFeatures::new(&f, 2.0, 0.7, Some(-10.0), true, 0.0, 20, 0.5);
        assert_eq!(d.margin, 1.0);
        assert_eq!(DecisionFeatures::new(&f, 2.0, 0.7, None, true, 0.0, 20, 0.5).margin, 1.0);
        assert!((DecisionFeatures::new(&f, 2.0, 0.7, Some(1.0), true, 0.0, 20, 0.5).margin - 0.25).abs() < 1e-6);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-6 && sigmoid(5.0) > 0.99 && sigmoid(-5.0) < 0.01);
        let line = Linear { bias: -1.0, weights: vec![2.0, 3.0] };
        assert!((line.logit(&[1.0, 1.0]) - 4.0).abs() < 1e-6);
        assert!((line.logit_without_first(&[1.0, 1.0]) - 2.0).abs() < 1e-6);
    }
}
