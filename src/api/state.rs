//! The service's shared state, [`AppState`]: the engine, the users file, the served index
//! generation, the query slots ([`query_permits`]), the refusal limiter and digest, the audit log
//! and the metrics, the answers recently given ([`RecentAnswers`], for feedback on them); how
//! `shirabe serve` builds it (loading the users file, opening the audit log with its key), and
//! the reloader ([`spawn_reloader`]) that swaps in the generation the indexer
//! publishes.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::sync::Semaphore;

use crate::engine::Engine;
use crate::govern::access::Users;
use crate::govern::audit::{AuditLog, Event, Record};
use crate::index::{Generation, IndexDir};

use super::error::ApiError;

/// Shared state of the service.
pub struct AppState {
    /// The models, the configuration and the query paths (see [`Engine`]).
    pub engine: Engine,
    pub users: Users,
    pub generation: RwLock<Option<Arc<Generation>>>,
    /// Where the page's files are read from; `None`: the copies built into the binary.
    pub web_dir: Option<PathBuf>,
    /// Refused requests per client (`server.max_refusals_per_minute`).
    pub refusals: crate::govern::access::FailureLimiter,
    /// Which refusals get a record of their own and which are only counted (see
    /// [`crate::govern::audit::Refusals`]).
    pub refusal_digest: crate::govern::audit::Refusals,
    /// Bounds concurrent retrievals (see [`query_permits`]); a request waits for one for at most
    /// `server.queue_timeout_secs`, then gets 503.
    pub permits: Arc<Semaphore>,
    pub audit: AuditLog,
    pub metrics: crate::metrics::Metrics,
    /// The answers given since the start, for the feedback on them.
    pub answers: RecentAnswers,
}

/// An answer as the feedback on it needs it: who asked, what, and what it cited.
#[derive(Debug, Clone)]
pub struct GivenAnswer {
    pub caller: String,
    pub question: String,
    pub passages: Vec<String>,
    pub abstained: bool,
}

/// The last [`RecentAnswers::CAPACITY`] answers by id. Feedback is accepted only on an answer
/// found here and given to the same caller, so an answer id says nothing about anyone else's
/// answers; an answer given before a restart, or pushed out by newer ones, can no longer be
/// judged.
#[derive(Default)]
pub struct RecentAnswers {
    inner: Mutex<(HashMap<String, GivenAnswer>, VecDeque<String>)>,
}

impl RecentAnswers {
    pub const CAPACITY: usize = 10_000;

    pub fn remember(&self, answer_id: String, answer: GivenAnswer) {
        let mut inner = self.inner.lock();
        let (by_id, order) = &mut *inner;
        if by_id.insert(answer_id.clone(), answer).is_none() {
            order.push_back(answer_id);
        }
        while order.len() > Self::CAPACITY {
            if let Some(old) = order.pop_front() {
                by_id.remove(&old);
            }
        }
    }

    /// The answer `answer_id` if it was given to `caller`.
    pub fn get(&self, answer_id: &str, caller: &str) -> Option<GivenAnswer> {
        self.inner.lock().0.get(answer_id).filter(|a| a.caller == caller).cloned()
    }
}

/// The users file; a missing file means no users (every request is refused), said in the log,
/// and a file with the published development tokens is said too.
fn load_users(path: &Path) -> crate::error::Result<Users> {
    if !path.exists() {
        tracing::warn!(path = %path.display(), "no users file: every /api request will be refused (401)");
        return Ok(Users::default());
    }
    let users = Users::load(path)?;
    let dev = users.development_tokens();
    if !dev.is_empty() {
        tracing::warn!(
            path = %path.display(),
            users = ?dev,
            "the users file holds the published development tokens (dev-<name>): anyone may log in as these users. For real use, give each user a secret token: `shirabe hash-token < token.txt` prints the token_sha256 to put in the users file (README, Configuration)"
        );
    }
    Ok(users)
}

/// The permits for `server.max_concurrent_queries` (0 = one per core).
pub fn query_permits(config: &crate::config::ServerConfig) -> Arc<Semaphore> {
    let n = match config.max_concurrent_queries {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    Arc::new(Semaphore::new(n))
}

impl AppState {
    /// The state `shirabe serve` runs with, built around the engine from its configuration: the
    /// users file, the audit log, the query slots and the current index generation (none yet:
    /// an empty index until the indexer publishes one). The service and the tests build it
    /// here, so they run the same state.
    pub fn new(engine: Engine) -> crate::error::Result<AppState> {
        let config = &engine.config;
        let users = load_users(&config.users_file())?;
        let generation = Generation::open_current(config, &engine.analyzers)?.map(Arc::new);
        if generation.is_none() {
            tracing::warn!(index = %config.index_dir().display(), "no index yet: serving an empty index until shirabe-indexer publishes one");
        }
        Ok(AppState {
            web_dir: config.server.web_dir.clone(),
            refusals: crate::govern::access::FailureLimiter::new(config.server.max_refusals_per_minute, Duration::from_secs(60)),
            permits: query_permits(&config.server),
            refusal_digest: crate::govern::audit::Refusals::new(crate::govern::audit::REFUSALS_RECORDED_PER_WINDOW, Duration::from_secs(60)),
            audit: open_audit_log(config)?,
            metrics: Default::default(),
            answers: RecentAnswers::default(),
            users,
            generation: RwLock::new(generation),
            engine,
        })
    }

    /// Waits for a retrieval slot: requests queue in arrival order (tokio's semaphore is fair)
    /// instead of failing as soon as the slots are taken, up to `server.queue_timeout_secs`.
    /// The permit moves into the blocking task, so a request abandoned by its client (or by the
    /// time limit) still holds its slot until its CPU work is done.
    pub(super) async fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        let wait = Duration::from_secs(self.engine.config.server.queue_timeout_secs);
        match tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::Busy),
        }
    }

    pub(super) fn current(&self) -> Option<Arc<Generation>> {
        self.generation.read().clone()
    }

    /// Records an event; a request whose audit record cannot be written (a full disk) is
    /// answered 503 instead of being served unaudited. The log is left as it was.
    pub(super) fn record(&self, event: Event) -> Result<Record, ApiError> {
        self.audit.append(event).map_err(|e| {
            tracing::error!(error = %e, "cannot write the audit log: refusing the request (503)");
            ApiError::AuditUnavailable
        })
    }

    /// Writes the digests of refusals that were only counted; a digest that cannot be written
    /// is kept for the next try.
    pub(super) fn record_digests(&self, digests: Vec<Event>, now: std::time::Instant) -> Result<(), ApiError> {
        let mut failed = None;
        for digest in digests {
            if failed.is_some() {
                self.refusal_digest.restore(&digest, now);
                continue;
            }
            if let Err(e) = self.record(digest.clone()) {
                self.refusal_digest.restore(&digest, now);
                failed = Some(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

/// The audit log, keyed with the configured audit key (see [`crate::govern::audit::configured_key`]).
fn open_audit_log(config: &crate::config::Config) -> crate::error::Result<AuditLog> {
    let key = crate::govern::audit::configured_key(config.audit.key_file.as_deref(), &config.data_dir, true)?;
    match &key {
        Some(k) => tracing::info!(key = %k.path().display(), id = k.id(), "the audit log is anchored with its key"),
        None => tracing::warn!("the audit log is not anchored: anyone who can write the data directory can rewrite it (set audit.key_file)"),
    }
    let log = AuditLog::open_with(&config.audit_dir(), key)?;
    // Also in the journal, outside the data directory: a later `audit verify` can be compared.
    tracing::info!(record = log.last_seq(), "audit log opened");
    Ok(log)
}

/// Swaps in a newer generation when the indexer publishes one.
pub fn spawn_reloader(state: Arc<AppState>) {
    let interval = Duration::from_secs(state.engine.config.server.reload_interval_secs.max(1));
    tokio::spawn(async move {
        let index_dir = IndexDir::new(state.engine.config.index_dir());
        loop {
            tokio::time::sleep(interval).await;
            let served = state.current().map(|g| g.id);
            let Some(latest) = index_dir.current() else { continue };
            if Some(latest) == served {
                continue;
            }
            let st = state.clone();
            let dir = index_dir.clone();
            let opened = tokio::task::spawn_blocking(move || Generation::open(&dir, latest, &st.engine.analyzers, &st.engine.config)).await;
            match opened {
                Ok(Ok(gen)) => {
                    tracing::info!(generation = latest, passages = gen.num_passages(), "serving a new index generation");
                    *state.generation.write() = Some(Arc::new(gen));
                }
                Ok(Err(e)) => tracing::warn!(generation = latest, error = %e, "cannot open the new generation; still serving the previous one"),
                Err(e) => tracing::warn!(error = %e, "reload task failed"),
            }
        }
    });
}
