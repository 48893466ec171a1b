//! The `shirabe` command: serve the API and page, evaluate retrieval, and setup helpers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use shirabe::config::Config;
use shirabe::engine::Engine;
use shirabe::index::embed::Embedder;
use shirabe::retrieve::query::QueryExpander;
use shirabe::retrieve::search::Mode;
use shirabe::text::analysis::Analyzers;

const CONFIG_HELP: &str = "\
Configuration: one TOML file (--config, $SHIRABE_CONFIG, or ./shirabe.toml) with environment
overrides: SHIRABE_DATA_DIR, SHIRABE_INDEX_DIR, SHIRABE_USERS_FILE, SHIRABE_SERVER__LISTEN,
SHIRABE_SERVER__WORKER_THREADS, SHIRABE_EMBEDDING__THREADS, SHIRABE_EMBEDDING__BATCH_SIZE,
SHIRABE_VECTOR__BACKEND (embedded|qdrant), SHIRABE_VECTOR__QDRANT_URL, SHIRABE_SEARCH__FUSION, …
(any key: SHIRABE_<SECTION>__<KEY>). See shirabe.example.toml and the README.";

/// shirabe (調べ): on-premises search and grounded answers over Japanese administrative documents.
#[derive(Parser)]
#[command(version, after_help = CONFIG_HELP)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory (overrides the configuration).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the search/answer API and the officials' page.
    Serve {
        /// Address to listen on (overrides server.listen).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Evaluate retrieval on a document set: prints one JSON line per mode.
    Eval {
        #[command(flatten)]
        set: EvalSet,
        /// keyword, vector, hybrid or all.
        #[arg(long, default_value = "all")]
        mode: String,
        /// Evaluate only the first N queries (0 = all).
        #[arg(long, default_value_t = 0)]
        max_queries: usize,
        /// Disable the synonym list (to measure what it adds).
        #[arg(long)]
        no_synonyms: bool,
        /// Rank as the service does on this date (YYYY-MM-DD or 和暦): superseded documents
        /// go below their successors.
        #[arg(long, value_parser = parse_as_of)]
        as_of: Option<chrono::NaiveDate>,
        /// Also write each query's keyword and vector rankings (with scores) to this JSONL
        /// file, to study fusion offline.
        #[arg(long)]
        dump_runs: Option<PathBuf>,
    },
    /// Measure grounded answers. With --corpus and --questions: index the folder with the
    /// production pipeline (kept between runs) and ask every question as POST /api/answer does;
    /// prints one JSON line. With --docs/--queries/--qrels (or --squad): half the documents
    /// removed, abstention and span hit at several thresholds (JSON line per threshold).
    EvalAnswers {
        /// Retrieval set: documents (docs.jsonl).
        #[arg(long, requires_all = ["queries", "qrels"])]
        docs: Option<PathBuf>,
        /// Retrieval set: queries with answer spans (queries.jsonl).
        #[arg(long, requires = "docs")]
        queries: Option<PathBuf>,
        /// Retrieval set: relevance judgements (qrels.tsv).
        #[arg(long, requires = "docs")]
        qrels: Option<PathBuf>,
        /// A retrieval set in SQuAD format (JGLUE's JSQuAD files), instead of --docs.
        #[arg(long, conflicts_with_all = ["docs", "corpus"])]
        squad: Option<PathBuf>,
        /// A folder of documents to index and ask about.
        #[arg(long, requires = "questions", conflicts_with = "docs")]
        corpus: Option<PathBuf>,
        /// Questions over --corpus (JSON lines: id, question, answerable, answers, source).
        #[arg(long, requires = "corpus")]
        questions: Option<PathBuf>,
        /// Index directory for --corpus (default: <data_dir>/eval-index/<folder name>-<hash>).
        #[arg(long)]
        index: Option<PathBuf>,
        /// Write one JSON line per question here (--corpus).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write every question's candidate sentences with their features and labels here, one
        /// question a line: the training data of `shirabe train-answerer`.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Questions to use (half answerable, half unanswerable; retrieval sets only; 0 = all).
        #[arg(long, default_value_t = 400)]
        max_queries: usize,
    },
    /// Measure precedent search: index a folder (or one .jsonl/.jsonl.gz file) of minutes with
    /// the production pipeline (kept between runs) and ask every dev question in each mode;
    /// prints one JSON line with nDCG@10/Recall@10/MRR@10 per mode and the outline's figures.
    EvalPrecedents {
        /// Minutes: a folder, or one records file (eval/precedents/kokkai-2025-spring.jsonl.gz).
        #[arg(long)]
        minutes: PathBuf,
        /// Dev questions (eval/precedents/dev.jsonl).
        #[arg(long)]
        questions: PathBuf,
        /// Index directory (default: <data_dir>/eval-index/precedents-<hash>).
        #[arg(long)]
        index: Option<PathBuf>,
    },
    /// Fit the learned answer model on traced questions (`eval-answers --trace`); prints each
    /// set's cross-validated figures and calibration, and writes the model file.
    TrainAnswerer {
        /// Training files, one per set (the file stem names the set).
        #[arg(required = true)]
        traces: Vec<PathBuf>,
        /// Where to write the model (the built-in one is engine/models/answer-model.json).
        #[arg(long)]
        out: PathBuf,
        /// Least share of unanswerable questions to abstain on, in every set.
        #[arg(long, default_value_t = 0.85)]
        min_abstention: f64,
        /// The support margins tried (logits; comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "0,0.5,1,1.5,2,3")]
        supports: Vec<f32>,
        /// The model's version, recorded in the file.
        #[arg(long)]
        version: String,
        /// A set's weight in the fit, as NAME=W (default 1 each; repeatable).
        #[arg(long = "weight", value_parser = parse_weight)]
        weights: Vec<(String, f64)>,
    },
    /// Check that setup produced a working dictionary, model and ONNX Runtime.
    Check,
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Officials' verdicts on answers.
    #[command(subcommand)]
    Feedback(FeedbackCommand),
    /// Print the sha256 of a bearer token, for the users file. The token is read from standard
    /// input (one line), not from the command line, where `ps` and the shell history keep it.
    HashToken {
        /// Deprecated: the token as an argument (visible to `ps` and kept in shell history).
        token: Option<String>,
    },
    /// Setup helpers (called by `make setup`).
    #[command(subcommand)]
    Setup(SetupCommand),
}

fn parse_weight(s: &str) -> Result<(String, f64), String> {
    let (name, w) = s.split_once('=').ok_or_else(|| format!("not NAME=WEIGHT: {s:?}"))?;
    let w: f64 = w.parse().map_err(|_| format!("not a number: {w:?}"))?;
    if !(w > 0.0 && w.is_finite()) {
        return Err(format!("a weight must be positive: {s:?}"));
    }
    Ok((name.to_string(), w))
}

fn parse_as_of(s: &str) -> Result<chrono::NaiveDate, String> {
    shirabe::text::parse_date(s).ok_or_else(|| format!("not a date: {s:?} (use 2024-04-01 or 令和6年4月1日)"))
}

/// An evaluation set in the format of `../shared/eval/` (docs.jsonl, queries.jsonl, qrels.tsv).
#[derive(clap::Args)]
struct EvalSet {
    #[arg(long)]
    docs: PathBuf,
    #[arg(long)]
    queries: PathBuf,
    #[arg(long)]
    qrels: PathBuf,
}

#[derive(Subcommand)]
enum FeedbackCommand {
    /// Write the verdicts recorded in the audit log as questions for `eval-answers --questions`
    /// (one JSON object a line; README, "Feedback grows the test set"). The audit chain is
    /// verified first.
    Export {
        /// Audit directory (default: <data_dir>/audit).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the hash chain with the audit key (`audit.key_file`); names the first edited,
    /// removed, reordered or unsigned record.
    Verify {
        /// Audit directory (default: <data_dir>/audit).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SetupCommand {
    /// Build the lindera IPADIC dictionary from Debian's mecab-ipadic sources.
    Dictionary {
        #[arg(long, default_value = "/usr/share/mecab/dic/ipadic")]
        source: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

/// `rows` as JSON lines.
fn jsonl<T: serde::Serialize>(rows: impl IntoIterator<Item = T>) -> Result<String> {
    let mut text = String::new();
    for row in rows {
        text.push_str(&serde_json::to_string(&row)?);
        text.push('\n');
    }
    Ok(text)
}

/// Writes `rows` as JSON lines to `path`.
fn write_jsonl<T: serde::Serialize>(path: &std::path::Path, rows: impl IntoIterator<Item = T>) -> Result<()> {
    std::fs::write(path, jsonl(rows)?).with_context(|| format!("writing {}", path.display()))
}

fn load_config(cli: &Cli) -> Result<Config> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = &cli.data_dir {
        config.data_dir = dir.clone();
    }
    Ok(config)
}

fn main() {
    // Re-executed as a per-file extraction worker (eval-answers --corpus indexes with workers)?
    shirabe::ingest::worker::run_if_worker();
    shirabe_logging();
    let cli = Cli::parse();
    if let Err(err) = run(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn shirabe_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,ort=warn,tantivy=warn,qdrant_edge=error".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn run(cli: Cli) -> Result<()> {
    let config = load_config(&cli)?;
    match cli.command {
        Command::Serve { listen } => serve(config, listen),
        Command::Eval { set, mode, max_queries, no_synonyms, as_of, dump_runs } => {
            let modes = match mode.as_str() {
                "all" => vec![Mode::Keyword, Mode::Vector, Mode::Hybrid],
                "keyword" => vec![Mode::Keyword],
                "vector" => vec![Mode::Vector],
                "hybrid" => vec![Mode::Hybrid],
                other => bail!("unknown mode {other:?}: use keyword, vector, hybrid or all"),
            };
            let expander = if no_synonyms { QueryExpander::without_synonyms() } else { QueryExpander::from_config(&config)? };
            let mut engine = Engine::load(config.clone())?;
            engine.expander = expander;
            let opts = shirabe::eval::EvalOptions {
                docs: &set.docs,
                queries: &set.queries,
                qrels: &set.qrels,
                modes,
                passage_chars: config.indexer.passage_chars,
                max_queries,
                as_of,
                dump_runs: dump_runs.as_deref(),
            };
            for result in shirabe::eval::evaluate(&engine, &opts)? {
                println!("{}", serde_json::to_string(&result)?);
            }
            Ok(())
        }
        Command::EvalAnswers { corpus: Some(corpus), questions: Some(questions), index, out, trace, .. } => {
            let index_dir = match index {
                Some(dir) => dir,
                None => {
                    let abs = std::fs::canonicalize(&corpus).with_context(|| format!("corpus folder {}", corpus.display()))?;
                    let name = abs.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                    let hash = shirabe::index::document_id(&abs.to_string_lossy(), "eval-index");
                    config.data_dir.join("eval-index").join(format!("{name}-{hash}"))
                }
            };
            let worker = std::env::current_exe().context("locating the shirabe binary for extraction workers")?;
            let opts = shirabe::eval::corpus::CorpusEvalOptions {
                corpus: &corpus,
                questions: &questions,
                index_dir,
                worker: Some(&worker),
                trace: trace.is_some(),
            };
            let engine = Engine::load(config)?;
            let (report, rows) = shirabe::eval::corpus::evaluate_corpus(&engine, &opts)?;
            if let Some(out) = out {
                write_jsonl(&out, &rows)?;
            }
            if let Some(trace) = trace {
                write_jsonl(&trace, rows.iter().flat_map(|r| &r.traces))?;
            }
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::EvalAnswers { docs, queries, qrels, squad, max_queries, trace, .. } => {
            let set = match (squad, docs, queries, qrels) {
                (Some(squad), ..) => shirabe::eval::answers::AnswerSet::read_squad(&squad)?,
                (None, Some(docs), Some(queries), Some(qrels)) => shirabe::eval::answers::AnswerSet::read(&docs, &queries, &qrels)?,
                _ => bail!("eval-answers needs --corpus and --questions, --squad, or --docs, --queries and --qrels"),
            };
            let engine = Engine::load(config.clone())?;
            let mut thresholds: Vec<f32> = vec![0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
            thresholds.push(engine.answer_threshold());
            thresholds.sort_by(f32::total_cmp);
            thresholds.dedup();
            let (points, traces) = shirabe::eval::answers::evaluate_answers(&engine, &set, config.indexer.passage_chars, max_queries, &thresholds, trace.is_some())?;
            for point in points {
                println!("{}", serde_json::to_string(&point)?);
            }
            if let Some(trace) = trace {
                write_jsonl(&trace, &traces)?;
            }
            Ok(())
        }
        Command::EvalPrecedents { minutes, questions, index } => {
            let abs = std::fs::canonicalize(&minutes).with_context(|| format!("minutes {}", minutes.display()))?;
            let hash = shirabe::index::document_id(&abs.to_string_lossy(), "eval-precedents");
            let index_dir = index.unwrap_or_else(|| config.data_dir.join("eval-index").join(format!("precedents-{hash}")));
            let folder = minutes_folder(&abs, &config.data_dir.join("eval-index").join(format!("precedents-{hash}-minutes")))?;
            let worker = std::env::current_exe().context("locating the shirabe binary for extraction workers")?;
            let opts = shirabe::eval::precedents::PrecedentEvalOptions { minutes: &folder, questions: &questions, index_dir, worker: Some(&worker) };
            let engine = Engine::load(config)?;
            let report = shirabe::eval::precedents::evaluate_precedents(&engine, &opts)?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::TrainAnswerer { traces, out, min_abstention, supports, version, weights } => {
            let mut sets = traces.iter().map(|p| shirabe::eval::train::read_set(p)).collect::<Result<Vec<_>, _>>()?;
            for (name, w) in &weights {
                let Some(set) = sets.iter_mut().find(|s| &s.name == name) else { bail!("--weight {name}={w}: no training file is named {name}") };
                set.weight = *w;
            }
            let command = format!(
                "shirabe train-answerer {} --out {} --min-abstention {min_abstention} --supports {} --version {version}{}",
                traces.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "),
                out.display(),
                supports.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","),
                weights.iter().map(|(n, w)| format!(" --weight {n}={w}")).collect::<String>()
            );
            let opts = shirabe::eval::train::TrainOptions { min_abstention, supports, command, version };
            let trained = shirabe::eval::train::train(&sets, &opts)?;
            for (support, worst, threshold) in &trained.tried {
                eprintln!("support {support}: worst set's span hit {worst} at threshold {threshold}");
            }
            let model = shirabe::eval::train::rounded(trained.model);
            std::fs::write(&out, serde_json::to_string_pretty(&model)? + "\n").with_context(|| format!("writing {}", out.display()))?;
            println!("{}", shirabe::eval::train::table(&trained.reports));
            println!("model written to {}: support {}, threshold {}", out.display(), model.support, model.threshold);
            Ok(())
        }
        Command::Check => {
            let analyzers = Analyzers::load(&config.dict_dir())?;
            let tokens = analyzers.ja_tokens(&shirabe::text::analysis::prepare("住民票の写しの交付手数料"));
            println!("dictionary ok: {}", tokens.join(" / "));
            let embedder = Embedder::from_config(&config)?;
            let v = embedder.embed_query("住民票の写しの交付手数料はいくらですか", "")?;
            println!("embedder ok: {} dimensions", v.len());
            Ok(())
        }
        Command::Audit(AuditCommand::Verify { dir }) => {
            let dir = dir.unwrap_or_else(|| config.audit_dir());
            // The key the service signs with (never created here): without it a keyed log
            // cannot be checked, and a rewritten one would pass.
            let key = shirabe::govern::audit::configured_key(config.audit.key_file.as_deref(), &config.data_dir, false)?;
            match shirabe::govern::audit::verify_keyed(&dir, key.as_ref()) {
                Ok(v) if v.anchored => {
                    let id = key.as_ref().map(|k| k.id().to_string()).unwrap_or_default();
                    println!("audit log intact: {} records, anchored with audit key {id}", v.records);
                    Ok(())
                }
                Ok(v) => {
                    println!("audit log intact: {} records, not anchored (no audit key: whoever can write the data directory could have rewritten it)", v.records);
                    Ok(())
                }
                Err(e) => bail!("audit log damaged: {e}"),
            }
        }
        Command::Feedback(FeedbackCommand::Export { dir, out }) => export_feedback(&config, dir, out),
        Command::HashToken { token } => {
            let token = match token {
                Some(t) => {
                    eprintln!("warning: a token on the command line is visible to `ps` and kept in shell history; pipe it in instead: `shirabe hash-token < token.txt`");
                    t
                }
                None => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).context("reading the token from standard input")?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            if token.is_empty() {
                bail!("no token given: pipe one line with the token into `shirabe hash-token`");
            }
            println!("{}", shirabe::govern::access::token_hash(&token));
            Ok(())
        }
        Command::Setup(SetupCommand::Dictionary { source, out }) => {
            shirabe::text::analysis::build_dictionary(&source, &out)?;
            println!("built the IPADIC dictionary in {}", out.display());
            Ok(())
        }
    }
}

fn serve(mut config: Config, listen: Option<String>) -> Result<()> {
    if let Some(addr) = listen {
        config.server.listen = addr;
    }
    let addr: std::net::SocketAddr =
        config.server.listen.parse().with_context(|| format!("server.listen {:?} is not an address:port", config.server.listen))?;
    if let Some(url) = &config.answer.generator_url {
        tracing::info!(%url, "answers may be rephrased by the configured generator; every sentence is checked against its citations");
    }
    if let Some(header) = &config.auth.sso_header {
        tracing::info!(%header, proxies = ?config.auth.trusted_proxies, "SSO header accepted from trusted proxies");
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.server.worker_threads > 0 {
        runtime.worker_threads(config.server.worker_threads);
    }
    let runtime = runtime.enable_all().build()?;
    let state = Arc::new(shirabe::api::AppState::new(Engine::load(config)?)?);
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        shirabe::api::serve(state, listener).await.with_context(|| format!("serving on {addr}"))
    })
}

/// The folder of minutes to index: `path` itself, or for one file a folder holding it (a `.gz`
/// file decompressed there, once).
fn minutes_folder(path: &Path, scratch: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let target = scratch.join(name.trim_end_matches(".gz"));
    if !target.exists() {
        std::fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
        let source = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let tmp = target.with_extension("part");
        let mut out = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        if name.ends_with(".gz") {
            std::io::copy(&mut flate2::read::GzDecoder::new(source), &mut out).with_context(|| format!("decompressing {}", path.display()))?;
        } else {
            std::io::copy(&mut std::io::BufReader::new(source), &mut out).with_context(|| format!("copying {}", path.display()))?;
        }
        std::fs::rename(&tmp, &target).with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(scratch.to_path_buf())
}

/// `shirabe feedback export`: the audit log's verdicts as eval-answers questions.
fn export_feedback(config: &Config, dir: Option<PathBuf>, out: Option<PathBuf>) -> Result<()> {
    let dir = dir.unwrap_or_else(|| config.audit_dir());
    let key = shirabe::govern::audit::configured_key(config.audit.key_file.as_deref(), &config.data_dir, false)?;
    let analyzers = Analyzers::load(&config.dict_dir())?;
    let rows = shirabe::eval::feedback::export_log(config, &analyzers, &dir, key.as_ref())?;
    match &out {
        Some(path) => write_jsonl(path, &rows)?,
        None => print!("{}", jsonl(&rows)?),
    }
    let count = |v: shirabe::eval::feedback::Verdict| rows.iter().filter(|r| r.feedback.verdict == v).count();
    use shirabe::eval::feedback::Verdict::{Helpful, Insufficient, Wrong};
    eprintln!(
        "{} judged answers exported ({} helpful, {} wrong, {} insufficient){}",
        rows.len(),
        count(Helpful),
        count(Wrong),
        count(Insufficient),
        out.map(|p| format!(" to {}", p.display())).unwrap_or_default()
    );
    Ok(())
}
