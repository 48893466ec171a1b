//! Answers: from retrieved passages to cited sentences, or an abstention.
//!
//! [`extract`] is the extractive answerer: it scores the sentences of the passages it reads and
//! quotes the best ones verbatim, or abstains below the threshold; [`model`] is the learned
//! model that scores the sentences and decides whether to answer; [`units`] finds what of a law
//! article is quoted whole (a 柱書 with its 号, a ただし書 with its main sentence), and [`referral`]
//! what lives in another article (the article a 準用 points to, the 罰則 naming a quoted article). [`generate`] is the optional
//! local generator, whose every sentence is checked against the passages it cites. [`ask`] is the
//! one path from a question to an answer (retrieval, the rule in force, neighbouring 項, the
//! answerer, the generator, the citations) that the API and the evaluation harness share.

pub mod ask;
pub mod extract;
pub mod generate;
pub mod model;
pub mod referral;
pub mod units;
