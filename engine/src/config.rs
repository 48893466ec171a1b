//! Configuration: one TOML file, overridden by `SHIRABE_*` environment variables.
//!
//! Precedence, lowest first: built-in defaults, the TOML file (`shirabe.toml` in the working
//! directory, or the path in `SHIRABE_CONFIG` / `--config`), then environment variables. Nested
//! keys use a double underscore: `SHIRABE_SERVER__LISTEN=127.0.0.1:9000`,
//! `SHIRABE_VECTOR__BACKEND=qdrant`. Index, audit log and users file are derived from `data_dir`
//! unless set. The dictionary, the model and ONNX Runtime ("assets", built once by setup) are
//! found independently of it: in `assets_dir` when set, else in the first of `data_dir`, the
//! checkout's `.data` beside the running binary (`target/release/../../.data`) and the checkout
//! the binary was built from, that holds a built dictionary. So `--data-dir NEW` on an empty
//! directory serves an empty index instead of stopping for a missing dictionary.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::model::Access;

/// The whole configuration. See `shirabe.example.toml` for a commented example.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the indexer puts indexes and the service its audit log; default `$STATE_DIRECTORY`
    /// under systemd, else `.data`.
    pub data_dir: PathBuf,
    /// Where setup put the dictionary, the model and ONNX Runtime; default: found (see above).
    pub assets_dir: Option<PathBuf>,
    /// Index generations; default `<data_dir>/index`.
    pub index_dir: Option<PathBuf>,
    /// Built lindera IPADIC; default `<data_dir>/dict/ipadic`.
    pub dict_dir: Option<PathBuf>,
    /// The E5 model files for fastembed; default `<data_dir>/models/multilingual-e5-small`.
    pub model_dir: Option<PathBuf>,
    /// `libonnxruntime.so.1.24.x`; default `<data_dir>/ort/libonnxruntime.so`.
    pub ort_library: Option<PathBuf>,
    /// Users and their hashed bearer tokens; default `<data_dir>/users.toml`.
    pub users_file: Option<PathBuf>,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub embedding: EmbeddingConfig,
    pub vector: VectorConfig,
    pub search: SearchConfig,
    pub answer: AnswerConfig,
    pub indexer: IndexerConfig,
    pub audit: AuditConfig,
}

/// `data_dir` when neither the file nor the environment sets it: the state directory systemd
/// made for the unit (`StateDirectory=shirabe` → `$STATE_DIRECTORY` = `/var/lib/shirabe`), so an
/// installed service needs no working directory; else `.data` of the working directory (a
/// checkout, where setup put it).
fn default_data_dir() -> PathBuf {
    std::env::var_os("STATE_DIRECTORY")
        .and_then(|dirs| std::env::split_paths(&dirs).next())
        .filter(|dir| dir.is_absolute())
        .unwrap_or_else(|| PathBuf::from(".data"))
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            assets_dir: None,
            index_dir: None,
            dict_dir: None,
            model_dir: None,
            ort_library: None,
            users_file: None,
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            embedding: EmbeddingConfig::default(),
            vector: VectorConfig::default(),
            search: SearchConfig::default(),
            answer: AnswerConfig::default(),
            indexer: IndexerConfig::default(),
            audit: AuditConfig::default(),
        }
    }
}

/// The HTTP service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Keep it on loopback unless a reverse proxy fronts it.
    pub listen: String,
    /// Tokio worker threads (0 = one per core).
    pub worker_threads: usize,
    /// How often the service checks for a newer index generation, in seconds.
    pub reload_interval_secs: u64,
    /// Searches and answers computed at once (0 = one per core). Retrieval is CPU work (the
    /// query embedding), so more at once only makes each slower; the others wait in line.
    pub max_concurrent_queries: usize,
    /// How long a request may wait in line before it gets 503 with `Retry-After`.
    pub queue_timeout_secs: u64,
    /// Refused requests (401, 403, 404) per client and minute before the client gets 429 for
    /// the rest of the minute; 0 = no limit.
    pub max_refusals_per_minute: u32,
    /// A folder with the page's files (`index.html`, `app.js`, `style.css`) to serve instead of
    /// the copies built into the binary; for working on the page without rebuilding.
    pub web_dir: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { listen: "127.0.0.1:8080".into(), worker_threads: 0, reload_interval_secs: 5, max_concurrent_queries: 0, queue_timeout_secs: 20, max_refusals_per_minute: 60, web_dir: None }
    }
}

/// How callers are recognised besides their bearer token.
///
/// An on-prem SSO reverse proxy (Apache `mod_auth_*`, nginx + oauth2-proxy, …) can name the
/// logged-in user in a request header. The service believes that header only when `sso_header`
/// is set *and* the TCP peer is one of `trusted_proxies`; from any other peer the header is
/// ignored, so a client that reaches the service directly cannot claim to be someone else. The
/// name is looked up in the users file (`[[user]] name`), which gives the clearance, groups and
/// roles; an unknown name is refused (401). A bearer token, when sent, always takes precedence.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Header carrying the user name set by the SSO proxy, e.g. `X-Remote-User`; unset = off.
    pub sso_header: Option<String>,
    /// Peer addresses whose SSO header is believed (the proxy's address as the service sees it).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Host names the proxy serves the page under (`Host` without its port). A request that the
    /// SSO header identifies must name one of them, so that a page on another site whose DNS
    /// name was rebound to the service cannot act with the header the proxy adds. Required with
    /// `sso_header`: without it every SSO request is refused.
    pub sso_hosts: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            sso_header: None,
            trusted_proxies: vec![std::net::Ipv4Addr::LOCALHOST.into(), std::net::Ipv6Addr::LOCALHOST.into()],
            sso_hosts: Vec::new(),
        }
    }
}

/// The audit log's anchor (see [`crate::govern::audit`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// The key that signs every audit record and `audit.head`, so that whoever can write the
    /// data directory cannot rewrite the log unnoticed. Must lie outside `data_dir`; created
    /// (mode 0600, random) on first start when missing; refused when group or others may read
    /// it. Unset: `$CREDENTIALS_DIRECTORY/audit.key` under systemd, else
    /// `~/.config/shirabe/audit.key` (the log stays unanchored, with a warning, when neither
    /// place exists or can be written).
    pub key_file: Option<PathBuf>,
}

/// The embedding model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// ONNX Runtime intra-op threads (0 = all cores).
    pub threads: usize,
    /// Passages per inference batch.
    pub batch_size: usize,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        EmbeddingConfig { threads: 0, batch_size: 32 }
    }
}

/// Which vector store backs the dense side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VectorBackend {
    /// Qdrant's engine in-process (qdrant-edge), stored in the index generation. Nothing to run.
    #[default]
    Embedded,
    /// A Qdrant server over gRPC (`vector.qdrant_url`).
    Qdrant,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VectorConfig {
    pub backend: VectorBackend,
    /// gRPC URL of the Qdrant server, e.g. `http://127.0.0.1:6334`; for a cluster, several
    /// nodes' URLs separated by commas: requests go to the first that answers and move on to
    /// the next when it stops answering.
    pub qdrant_url: Option<String>,
    pub qdrant_collection: String,
    pub qdrant_api_key: Option<String>,
    /// Shards of the collection when shirabe creates it on a Qdrant cluster (ignored for an
    /// existing collection and by the embedded store).
    pub qdrant_shards: u32,
    /// Copies of each shard when shirabe creates the collection: 2 keeps every passage
    /// searchable while one node of the cluster is down.
    pub qdrant_replication: u32,
}

impl Default for VectorConfig {
    fn default() -> Self {
        VectorConfig {
            backend: VectorBackend::Embedded,
            qdrant_url: None,
            qdrant_collection: "shirabe_passages".into(),
            qdrant_api_key: None,
            qdrant_shards: 1,
            qdrant_replication: 1,
        }
    }
}

/// How the keyword and vector rankings are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fusion {
    /// Each side's scores as z-scores over its candidates, summed with the side weights.
    Zscore,
    /// Weighted reciprocal rank fusion with constant `rrf_k` (ranks only).
    Rrf,
}

/// Retrieval and fusion.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Fusion function. The default, z-score fusion with equal weights, was chosen together with
    /// the keyword side's title boosts by the worst case over the sets (JSQuAD, lawqa,
    /// fixtures/eval and the municipal FAQ set fixtures/eval-faq) of hybrid's nDCG@10 gain over
    /// the better single method; z-score fusion beats the best RRF setting there on every set
    /// (README, "Results").
    pub fusion: Fusion,
    /// Reciprocal rank fusion constant (only for `fusion = "rrf"`; 10 with weights 1.0 / 0.5
    /// was the best RRF setting).
    pub rrf_k: f32,
    pub keyword_weight: f32,
    pub vector_weight: f32,
    /// Candidates taken from each side before fusion.
    pub candidates: usize,
    /// Editable synonym/abbreviation list (TOML); default `<data_dir>/synonyms.toml`
    /// if present, else the built-in list.
    pub synonyms: Option<PathBuf>,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig { fusion: Fusion::Zscore, rrf_k: 10.0, keyword_weight: 1.0, vector_weight: 1.0, candidates: 100, synonyms: None }
    }
}

/// Answers: the abstention threshold and the optional generator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnswerConfig {
    /// The extractive answerer abstains when the probability that its sentences hold the answer
    /// falls below this (0–1). Higher: fewer wrong answers and more abstentions. Unset (the
    /// default): the threshold the answer model was trained with.
    pub threshold: Option<f32>,
    /// An answer model file written by `shirabe train-answerer`. Unset (the default): the model
    /// built into the program (`engine/models/answer-model.json`).
    pub model_file: Option<PathBuf>,
    /// A local OpenAI-compatible endpoint (`http://host:port`, `…/v1` or the full
    /// `…/v1/chat/completions`). Unset (the default): answers are extractive only.
    pub generator_url: Option<String>,
    /// The `model` field sent to the endpoint.
    pub generator_model: String,
    /// Seconds to wait for the endpoint before showing the extractive answer.
    pub generator_timeout_secs: u64,
    /// `max_tokens` sent to the endpoint.
    pub generator_max_tokens: u32,
    /// Least share of a generated sentence that must be covered by verbatim runs of the passages
    /// it cites (see `src/generate.rs`).
    pub generator_min_support: f32,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        AnswerConfig {
            threshold: None,
            model_file: None,
            generator_url: None,
            generator_model: "local".into(),
            generator_timeout_secs: 30,
            generator_max_tokens: 512,
            generator_min_support: 0.7,
        }
    }
}

/// The nightly indexer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexerConfig {
    /// Access label for documents without a sidecar or folder rule.
    pub default_access: Access,
    /// Files larger than this are reported and skipped.
    pub max_file_bytes: u64,
    /// Seconds allowed for extracting one file.
    pub file_timeout_secs: u64,
    /// Resident memory (MiB) that extracting one file may take: the extraction worker and the
    /// tools it starts (pdftotext, OCR) together, watched on `/proc`; beyond it the file fails
    /// with "memory limit" and its previous version stays indexed. 0 = no limit.
    pub max_file_memory_mib: u64,
    /// Characters of text kept per document; the rest is dropped and the file is listed under
    /// `truncated` in the run report. Bounds the memory and time one document can cost. 0 = no cap.
    pub max_document_chars: usize,
    /// OCR scanned PDF pages with tesseract.
    pub ocr: bool,
    /// Passage size target, in characters.
    pub passage_chars: usize,
    /// Generations kept besides the current one.
    pub keep_generations: usize,
}

impl Default for IndexerConfig {
    fn default() -> Self {
        IndexerConfig {
            default_access: Access::default(),
            max_file_bytes: 200 * 1024 * 1024,
            file_timeout_secs: 300,
            max_file_memory_mib: 1024,
            max_document_chars: 2_000_000,
            ocr: true,
            passage_chars: 400,
            keep_generations: 1,
        }
    }
}

/// A configuration file or variable that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}\n  (check the TOML file and the SHIRABE_* environment variables; see `shirabe --help`)")]
pub struct ConfigError(String);

impl Config {
    /// Loads defaults, then `file` (if it exists, or if it was given explicitly), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        let from_env = std::env::var_os("SHIRABE_CONFIG").map(PathBuf::from);
        match file.map(Path::to_path_buf).or(from_env) {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError(format!("config file {} does not exist", path.display())));
                }
                fig = fig.merge(Toml::file(path));
            }
            None => fig = fig.merge(Toml::file("shirabe.toml")),
        }
        fig = fig.merge(Env::prefixed("SHIRABE_").ignore(&["CONFIG", "SHARED_DIR", "FAILPOINT", "CRASH_SEED", "CRASH_RUNS"]).split("__"));
        let config: Config = fig.extract().map_err(|e| ConfigError(e.to_string()))?;
        if config.auth.sso_header.is_some() && config.auth.sso_hosts.is_empty() {
            return Err(ConfigError("auth.sso_header is set but auth.sso_hosts is empty: name the host the SSO proxy serves the page under (e.g. sso_hosts = [\"shirabe.example.lg.jp\"])".into()));
        }
        if let Some(t) = config.answer.threshold.filter(|t| !(0.0..=1.0).contains(t)) {
            return Err(ConfigError(format!("answer.threshold must be between 0 and 1, not {t}")));
        }
        Ok(config)
    }

    pub fn index_dir(&self) -> PathBuf {
        self.index_dir.clone().unwrap_or_else(|| self.data_dir.join("index"))
    }
    /// The directory holding setup's assets (`dict/`, `models/`, `ort/`): `assets_dir` when
    /// set, else the first candidate with a built dictionary, else `data_dir` (whose missing
    /// dictionary is then reported with the setup command to run).
    pub fn assets_dir(&self) -> PathBuf {
        if let Some(dir) = &self.assets_dir {
            return dir.clone();
        }
        let mut candidates = vec![self.data_dir.clone()];
        if let Some(bin_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
            // target/release/<binary> (and target/release/deps/<test binary>) of a checkout.
            candidates.extend(bin_dir.ancestors().skip(1).take(3).map(|d| d.join(".data")));
        }
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.data"));
        candidates
            .into_iter()
            .find(|d| d.join("dict").join("ipadic").join("metadata.json").is_file())
            .unwrap_or_else(|| self.data_dir.clone())
    }
    pub fn dict_dir(&self) -> PathBuf {
        self.dict_dir.clone().unwrap_or_else(|| self.assets_dir().join("dict").join("ipadic"))
    }
    pub fn model_dir(&self) -> PathBuf {
        self.model_dir.clone().unwrap_or_else(|| self.assets_dir().join("models").join("multilingual-e5-small"))
    }
    pub fn ort_library(&self) -> PathBuf {
        self.ort_library.clone().unwrap_or_else(|| self.assets_dir().join("ort").join("libonnxruntime.so"))
    }
    pub fn users_file(&self) -> PathBuf {
        self.users_file.clone().unwrap_or_else(|| self.data_dir.join("users.toml"))
    }
    pub fn audit_dir(&self) -> PathBuf {
        self.data_dir.join("audit")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("shirabe.toml", "data_dir = \"/srv/shirabe\"\n[server]\nlisten = \"127.0.0.1:1\"\n")?;
            jail.set_env("SHIRABE_SERVER__LISTEN", "127.0.0.1:9999");
            jail.set_env("SHIRABE_VECTOR__BACKEND", "qdrant");
            let cfg = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(cfg.data_dir, PathBuf::from("/srv/shirabe"));
            assert_eq!(cfg.server.listen, "127.0.0.1:9999");
            assert_eq!(cfg.vector.backend, VectorBackend::Qdrant);
            assert_eq!(cfg.index_dir(), PathBuf::from("/srv/shirabe/index"));
            jail.set_env("SHIRABE_ASSETS_DIR", "/opt/shirabe-assets");
            let cfg = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(cfg.dict_dir(), PathBuf::from("/opt/shirabe-assets/dict/ipadic"));
            assert_eq!(cfg.ort_library(), PathBuf::from("/opt/shirabe-assets/ort/libonnxruntime.so"));
            assert_eq!(cfg.search.rrf_k, 10.0);
            Ok(())
        });
    }

    #[test]
    fn sso_is_off_by_default_and_set_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let cfg = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(cfg.auth.sso_header, None);
            assert_eq!(cfg.auth.trusted_proxies.len(), 2);
            assert!(cfg.auth.trusted_proxies.iter().all(|ip| ip.is_loopback()));
            jail.set_env("SHIRABE_AUTH__SSO_HEADER", "X-Remote-User");
            jail.set_env("SHIRABE_AUTH__TRUSTED_PROXIES", "[\"10.0.0.5\"]");
            jail.set_env("SHIRABE_AUTH__SSO_HOSTS", "[\"shirabe.example.lg.jp\"]");
            let cfg = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(cfg.auth.sso_header.as_deref(), Some("X-Remote-User"));
            assert_eq!(cfg.auth.trusted_proxies, vec!["10.0.0.5".parse::<std::net::IpAddr>().map_err(|e| e.to_string())?]);
            Ok(())
        });
    }

    #[test]
    fn the_answer_threshold_is_a_key_and_checked() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            assert_eq!(Config::load(None).map_err(|e| e.to_string())?.answer.threshold, None);
            jail.create_file("shirabe.toml", "[answer]\nthreshold = 0.8\n")?;
            assert_eq!(Config::load(None).map_err(|e| e.to_string())?.answer.threshold, Some(0.8));
            jail.set_env("SHIRABE_ANSWER__THRESHOLD", "1.5");
            let err = Config::load(None).expect_err("out of range");
            assert!(err.to_string().contains("answer.threshold"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_sso_header_needs_the_host_names_it_is_served_under() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("shirabe.toml", "[auth]\nsso_header = \"X-Remote-User\"\n")?;
            let err = Config::load(None).expect_err("sso_hosts missing");
            assert!(err.to_string().contains("auth.sso_hosts"), "{err}");
            jail.create_file("shirabe.toml", "[auth]\nsso_header = \"X-Remote-User\"\nsso_hosts = [\"shirabe.example.lg.jp\"]\n")?;
            assert_eq!(Config::load(None).map_err(|e| e.to_string())?.auth.sso_hosts, ["shirabe.example.lg.jp"]);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected_with_a_hint() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("shirabe.toml", "data_dri = \"x\"\n")?;
            let err = Config::load(None).expect_err("typo must be reported");
            assert!(err.to_string().contains("data_dri"), "{err}");
            Ok(())
        });
    }
}
