//! `shirabe-bench http`: latency and throughput of `POST /api/search` over loopback HTTP with
//! N concurrent clients (closed loop: each client sends its next request when the previous one
//! has answered), and the service's peak memory (`VmHWM` of its process).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::util::{self, Percentiles};

#[derive(Debug, Clone, clap::Args)]
pub struct HttpArgs {
    /// Corpus directory: start `shirabe serve --data-dir DIR` on it for the run.
    #[arg(long, conflicts_with = "url")]
    pub index: Option<PathBuf>,
    /// Or measure a service that is already running (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    pub url: Option<String>,
    /// Its process id, to read its peak memory (with --url).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Bearer token (the corpus's users.toml has the default one).
    #[arg(long, default_value = crate::corpus::BENCH_TOKEN)]
    pub token: String,
    /// The `shirabe` binary to start (default: next to this one).
    #[arg(long)]
    pub shirabe_bin: Option<PathBuf>,
    /// Comma-separated numbers of concurrent clients.
    #[arg(long, default_value = "1,8,32")]
    pub clients: String,
    /// Seconds per client count.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Queries (JSONL with `text`), cycled.
    #[arg(long, default_value = "../shared/eval/jsquad/queries.jsonl")]
    pub queries: PathBuf,
    /// Documents per result page (`size`).
    #[arg(long, default_value_t = 10)]
    pub size: usize,
    /// Unmeasured requests before the first round.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// A client that gets 503 (the service's admission limit) waits this long before its next
    /// request, as a polite client would; without it, rejected clients spin and steal the CPU.
    #[arg(long, default_value_t = 100)]
    pub busy_backoff_ms: u64,
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn run(args: &HttpArgs) -> Result<()> {
    let queries = Arc::new(util::load_queries(&args.queries, 5000)?);
    let (base, server, passages) = match (&args.index, &args.url) {
        (Some(dir), _) => {
            let (url, server) = start_server(dir, args.shirabe_bin.as_deref())?;
            let passages = std::fs::read_to_string(dir.join("bench-corpus.json"))
                .ok()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                .and_then(|m| m.get("passages").cloned());
            (url, Some(server), passages)
        }
        (None, Some(url)) => (url.trim_end_matches('/').to_string(), None, None),
        (None, None) => bail!("give --index DIR (a corpus to serve) or --url URL"),
    };
    let pid = server.as_ref().map(|s| s.child.id()).or(args.pid);
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
    for i in 0..args.warmup {
        let _ = search(&agent, &base, &args.token, &queries[i % queries.len()], args.size);
    }
    let (_, rss_before) = pid.map_or((None, None), util::rss_of);
    for clients in args.clients.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let clients: usize = clients.parse().with_context(|| format!("--clients: {clients:?} is not a number"))?;
        let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
        let started = Instant::now();
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let (queries, base, token, size) = (queries.clone(), base.clone(), args.token.clone(), args.size);
                let backoff = Duration::from_millis(args.busy_backoff_ms);
                std::thread::spawn(move || {
                    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
                    let mut out: Vec<(f64, String)> = Vec::new();
                    let mut k = c * 997;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let status = search(&agent, &base, &token, &queries[k % queries.len()], size);
                        let busy = status == "503";
                        out.push((t.elapsed().as_secs_f64() * 1000.0, status));
                        k += 1;
                        if busy {
                            std::thread::sleep(backoff);
                        }
                    }
                    out
                })
            })
            .collect();
        let mut ok = Vec::new();
        let mut all = Vec::new();
        let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
        for h in handles {
            for (ms, status) in h.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))? {
                if status == "200" {
                    ok.push(ms);
                }
                all.push(ms);
                *statuses.entry(status).or_default() += 1;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let (hwm, rss) = pid.map_or((None, None), util::rss_of);
        util::emit(&json!({
            "bench": "http", "endpoint": "POST /api/search", "url": base, "passages": passages, "clients": clients,
            "seconds": util::round2(elapsed), "requests": all.len(), "statuses": statuses,
            "throughput_rps": util::round2(ok.len() as f64 / elapsed),
            "latency_ok": Percentiles::of(ok), "latency_all": Percentiles::of(all),
            "busy_backoff_ms": args.busy_backoff_ms, "service_peak_rss_mib": hwm, "service_rss_mib": rss, "service_rss_before_mib": rss_before,
            "loadavg": util::loadavg(),
        }));
    }
    drop(server);
    Ok(())
}

/// One search; returns the status ("200", "503", … or "transport").
fn search(agent: &ureq::Agent, base: &str, token: &str, query: &str, size: usize) -> String {
    let resp = agent
        .post(&format!("{base}/api/search"))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(json!({ "query": query, "size": size }));
    match resp {
        Ok(r) => {
            let code = r.status();
            // Read the body, as a real client would.
            let _ = r.into_string();
            code.to_string()
        }
        Err(ureq::Error::Status(code, r)) => {
            let _ = r.into_string();
            code.to_string()
        }
        Err(_) => "transport".to_string(),
    }
}

/// Starts `shirabe serve --data-dir DIR` on a free loopback port and waits until it answers.
fn start_server(dir: &Path, bin: Option<&Path>) -> Result<(String, Server)> {
    let bin = match bin {
        Some(b) => b.to_path_buf(),
        None => std::env::current_exe()?.with_file_name("shirabe"),
    };
    let dir = std::fs::canonicalize(dir).with_context(|| format!("corpus {}", dir.display()))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(dir.join("serve.log"))?;
    let mut cmd = Command::new(&bin);
    cmd.args(["serve", "--listen", &addr, "--data-dir"]).arg(&dir).current_dir(&dir);
    for var in ["SHIRABE_CONFIG", "SHIRABE_DATA_DIR", "SHIRABE_INDEX_DIR", "SHIRABE_DICT_DIR", "SHIRABE_MODEL_DIR", "SHIRABE_ORT_LIBRARY", "SHIRABE_USERS_FILE"] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn").stdout(Stdio::null()).stderr(log);
    let t = Instant::now();
    let mut server = Server { child: cmd.spawn().with_context(|| format!("starting {}", bin.display()))? };
    let url = format!("http://{addr}");
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
    loop {
        if let Some(status) = server.child.try_wait()? {
            bail!("shirabe serve exited ({status}); see {}", dir.join("serve.log").display());
        }
        if agent.get(&format!("{url}/healthz")).call().is_ok() {
            break;
        }
        if t.elapsed() > Duration::from_secs(300) {
            bail!("shirabe serve did not answer within 300 s; see {}", dir.join("serve.log").display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("http: shirabe serve (pid {}) answers on {url} after {:.1} s", server.child.id(), t.elapsed().as_secs_f64());
    Ok((url, server))
}
