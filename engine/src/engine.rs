//! The engine: the loaded models and the configuration, and the query paths every front end
//! shares.
//!
//! The HTTP service, `shirabe eval`, `shirabe eval-answers` and the benchmarks all hold one
//! [`Engine`] and ask it for a [`Retriever`] or an [`Asker`] scoped to a caller, or call
//! [`Engine::search`], [`Engine::answer`], [`Engine::precedents`] and [`Engine::document`] directly, so a change to
//! ranking or answering is made (and tested) in one place. The engine knows nothing of HTTP:
//! handlers turn requests into a question, a [`Filter`] carrying the caller's rights and an
//! `as_of` date, and turn the results back into JSON. Which index generation is served is the
//! caller's business too (the service swaps generations as the indexer publishes them; the
//! harnesses build their own).

use std::sync::Arc;

use chrono::NaiveDate;

use crate::answer::ask::{Asked, Asker};
use crate::answer::extract::Answerer;
use crate::answer::generate::Generator;
use crate::answer::model::AnswerModel;
use crate::config::Config;
use crate::error::Result;
use crate::index::Generation;
use crate::index::embed::Embedder;
use crate::model::{Document, Filter, Passage};
use crate::precedent::outline::{Outline, NO_PRECEDENT_BELOW};
use crate::precedent::rank::{PrecedentGroup, PrecedentQuery};
use crate::retrieve::query::QueryExpander;
use crate::retrieve::search::{DocumentHit, Mode, Retriever};
use crate::text::analysis::Analyzers;

/// What a precedent search returns: the groups of past exchanges, best first, and the outline.
pub struct Precedents {
    pub groups: Vec<PrecedentGroup>,
    pub outline: Outline,
}

/// Passages shown per document in search results.
pub const PASSAGES_PER_DOCUMENT: usize = 3;

/// The models and settings a query needs.
pub struct Engine {
    pub config: Config,
    pub analyzers: Analyzers,
    pub embedder: Arc<Embedder>,
    pub expander: QueryExpander,
    /// The optional generator (`[answer] generator_url`); `None`: extractive answers only.
    pub generator: Option<Generator>,
    /// The learned answer model (`[answer] model_file`, else the built-in one).
    pub answer_model: AnswerModel,
}

impl Engine {
    /// An engine over loaded models, with the synonym list and the generator the configuration
    /// names.
    pub fn new(config: Config, analyzers: Analyzers, embedder: Arc<Embedder>) -> Result<Engine> {
        let expander = QueryExpander::from_config(&config)?;
        let mut engine = Engine::with_expander(config, analyzers, embedder, expander);
        if let Some(path) = &engine.config.answer.model_file {
            engine.answer_model = AnswerModel::from_file(path)?;
        }
        Ok(engine)
    }

    /// [`Engine::new`] with a given synonym list (the evaluation harness compares lists) and the
    /// built-in answer model.
    pub fn with_expander(config: Config, analyzers: Analyzers, embedder: Arc<Embedder>, expander: QueryExpander) -> Engine {
        let generator = Generator::from_config(&config.answer);
        let answer_model = AnswerModel::builtin().clone();
        Engine { config, analyzers, embedder, expander, generator, answer_model }
    }

    /// Loads the dictionary and the embedding model that setup built, then [`Engine::new`].
    pub fn load(config: Config) -> Result<Engine> {
        let analyzers = Analyzers::load(&config.dict_dir())?;
        let embedder = Embedder::from_config(&config)?;
        Engine::new(config, analyzers, Arc::new(embedder))
    }

    /// Retrieval for one caller: `cache_scope` keeps the caller's cached query vectors apart
    /// from everyone else's (`""` in tools).
    pub fn retriever<'a>(&'a self, cache_scope: &'a str) -> Retriever<'a> {
        Retriever { analyzers: &self.analyzers, embedder: &self.embedder, config: &self.config.search, expander: &self.expander, cache_scope }
    }

    /// The extractive answerer with `threshold` (see [`Engine::answer_threshold`]).
    pub fn answerer<'a>(&'a self, threshold: f32, cache_scope: &'a str) -> Answerer<'a> {
        Answerer { analyzers: &self.analyzers, embedder: &self.embedder, model: &self.answer_model, threshold, cache_scope }
    }

    /// The abstention threshold in force: the configured one, else the answer model's.
    pub fn answer_threshold(&self) -> f32 {
        self.config.answer.threshold.unwrap_or(self.answer_model.threshold)
    }

    /// The whole answer path for one caller, as configured.
    pub fn asker<'a>(&'a self, cache_scope: &'a str) -> Asker<'a> {
        Asker {
            retriever: self.retriever(cache_scope),
            answerer: self.answerer(self.answer_threshold(), cache_scope),
            generator: self.generator.as_ref(),
        }
    }

    /// Documents for `query` (best first, with their best passages), all allowed by `filter`;
    /// with `as_of`, a rule in force on that date ranks before the versions it replaced.
    pub fn search(&self, gen: &Generation, query: &str, filter: &Filter, mode: Mode, as_of: Option<NaiveDate>, cache_scope: &str) -> Result<Vec<DocumentHit>> {
        let docs = self.retriever(cache_scope).documents(gen, query, filter, mode, PASSAGES_PER_DOCUMENT)?;
        Ok(match as_of {
            Some(date) => crate::retrieve::search::prefer_in_force(gen, docs, date, filter),
            None => docs,
        })
    }

    /// A document and its passages, if it exists and `filter` (the caller's rights) allows it;
    /// `None` either way otherwise, so that a caller cannot tell a hidden document from a missing
    /// one.
    pub fn document(&self, gen: &Generation, id: &str, filter: &Filter) -> Result<Option<(Document, Vec<Passage>)>> {
        let Some(doc) = gen.documents.get(id).filter(|d| filter.allows(&d.access)) else { return Ok(None) };
        let passages = gen.keyword.document_passages(id, filter)?;
        Ok(Some((doc.clone(), passages)))
    }

    /// Past exchanges for a parliamentary question, grouped where an answer was repeated, and
    /// the outline of a reply drawn from them (see [`crate::precedent`]).
    pub fn precedents(&self, gen: &Generation, query: &PrecedentQuery, cache_scope: &str) -> Result<Precedents> {
        let retriever = self.retriever(cache_scope);
        let hits = crate::precedent::rank::rank(&retriever, gen, query)?;
        let groups = crate::precedent::rank::group(hits);
        let outline = crate::precedent::outline::outline(&self.analyzers, gen, query.question, &groups, &query.filter, NO_PRECEDENT_BELOW)?;
        Ok(Precedents { groups, outline })
    }

    /// A grounded answer to `question` (see [`Asker::ask`]).
    pub fn answer(&self, gen: &Generation, question: &str, filter: &Filter, as_of: NaiveDate, all_versions: bool, cache_scope: &str) -> Result<Asked> {
        self.asker(cache_scope).ask(gen, question, filter, as_of, all_versions)
    }
}
