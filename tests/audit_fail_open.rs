//! The audit log and the authentication edges under abuse (issue 28, items 6, 7 and 9): a disk
//! that fills up answers 503 and leaves the log verifiable, a flood of huge anonymous requests
//! stays small in the log, a chain rewritten without the audit key fails `shirabe audit verify`,
//! a repeated SSO header is refused, and anonymous callers behind a trusted proxy are limited
//! one by one.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use shirabe::govern::audit::{AuditKey, AuditLog, Event, Verified};

/// A service of this test's own over an empty index, in this process, with `tweak` applied;
/// the audit key is kept in `dir/key` (outside the data directory `dir/data`).
fn in_process(dir: &Path, tweak: impl FnOnce(&mut shirabe::config::Config)) -> (String, PathBuf) {
    let mut config = common::config();
    let data = dir.join("data");
    config.index_dir = Some(data.join("index"));
    config.audit.key_file = Some(dir.join("key/audit.key"));
    tweak(&mut config);
    (common::start_service(config, &data), data)
}

fn records(data: &Path) -> Vec<Value> {
    let log = std::fs::read_to_string(data.join("audit/audit.jsonl")).expect("audit log");
    log.lines().map(|l| serde_json::from_str(l).expect("a whole record")).collect()
}

/// Sends a GET from the local address `from` with raw headers (repeated ones too); returns the
/// status.
fn raw_get(from: &str, base: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().expect("service address");
    let mut stream = connect_from(from, addr);
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let head = String::from_utf8_lossy(&response).lines().next().unwrap_or_default().to_string();
    head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line: {head:?}"))
}

/// A TCP connection to `addr` from the local address `from` (so the service sees that peer).
fn connect_from(from: &str, addr: std::net::SocketAddr) -> std::net::TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(format!("{from}:0").parse().expect("source address")).expect("bind the source address");
        socket.connect(addr).await.expect("connect")
    });
    let stream = stream.into_std().expect("std stream");
    stream.set_nonblocking(false).expect("blocking");
    stream
}

/// A request carrying the SSO header twice is refused (and audited), not decided by the first.
#[test]
fn a_repeated_sso_header_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (base, data) = in_process(tmp.path(), |c| {
        c.auth.sso_header = Some("X-Remote-User".into());
        c.auth.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
        c.auth.sso_hosts = vec!["127.0.0.1".into()];
    });
    assert_eq!(raw_get("127.0.0.1", &base, "/api/me", &[("X-Remote-User", "kanri")]), 200, "one header: the proxy's user");
    assert_eq!(raw_get("127.0.0.1", &base, "/api/me", &[("X-Remote-User", "kanri"), ("X-Remote-User", "ippan")]), 401);
    assert_eq!(raw_get("127.0.0.1", &base, "/api/me", &[("Authorization", "Bearer dev-kanri"), ("Authorization", "Bearer dev-ippan")]), 401);
    let refused = records(&data).into_iter().filter(|r| r["status"] == 401 && r["action"] == "denied").count();
    assert_eq!(refused, 2, "both refusals are audited");
}

/// Anonymous callers behind a trusted proxy are told apart by the address the proxy appends to
/// X-Forwarded-For; from any other peer the header is ignored.
#[test]
fn anonymous_callers_behind_a_proxy_are_limited_one_by_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Trusted by default: loopback (127.0.0.1, ::1).
    let (base, data) = in_process(tmp.path(), |c| c.server.max_refusals_per_minute = 3);
    let via_proxy = |client: &str| raw_get("127.0.0.1", &base, "/api/me", &[("X-Forwarded-For", &format!("198.51.100.7, {client}"))]);
    for i in 0..3 {
        assert_eq!(via_proxy("10.0.0.1"), 401, "refusal {i}");
    }
    assert_eq!(via_proxy("10.0.0.1"), 429, "the fourth refusal of 10.0.0.1 in a minute");
    assert_eq!(via_proxy("10.0.0.2"), 401, "another client behind the same proxy has its own bucket");
    // 127.0.0.2 is no trusted proxy: what it forwards is not believed, so it cannot dodge the limit.
    for i in 0..3 {
        assert_eq!(raw_get("127.0.0.2", &base, "/api/me", &[("X-Forwarded-For", &format!("10.9.9.{i}"))]), 401);
    }
    assert_eq!(raw_get("127.0.0.2", &base, "/api/me", &[("X-Forwarded-For", "10.9.9.9")]), 429);
    let callers: Vec<String> = records(&data).iter().filter_map(|r| r["caller"].as_str().map(String::from)).collect();
    assert!(callers.iter().any(|c| c == "anonymous@10.0.0.1 via 127.0.0.1"), "{callers:?}");
    assert!(callers.iter().any(|c| c == "anonymous@127.0.0.2"), "{callers:?}");
}

/// A flood of anonymous 404s with 20 KB paths adds a few small records, not 20 KB each.
#[test]
fn a_flood_of_huge_paths_stays_small_in_the_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (base, data) = in_process(tmp.path(), |c| c.server.max_refusals_per_minute = 0);
    let log = data.join("audit/audit.jsonl");
    let before = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let path = format!("/api/{}", "a".repeat(20_000));
    for _ in 0..30 {
        assert_eq!(raw_get("127.0.0.1", &base, &path, &[]), 404);
    }
    let grown = std::fs::metadata(&log).expect("log").len() - before;
    assert!(grown < 30 * 1024, "30 refusals added {grown} bytes");
    let all = records(&data);
    let probes: Vec<&Value> = all.iter().filter(|r| r["status"] == 404).collect();
    assert_eq!(probes.len(), shirabe::govern::audit::REFUSALS_RECORDED_PER_WINDOW as usize, "the rest are counted, not recorded");
    assert!(probes.iter().all(|r| r["cut"]["query"] == path.len() + 4), "the original length is kept: {:?}", probes[0]["cut"]);
}

/// `shirabe serve` started as a separate process under `limits`, with its stderr lines.
struct Served {
    child: Child,
    base: String,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `shirabe serve` on `config`; with `max_file_bytes`, under RLIMIT_FSIZE with SIGXFSZ
/// ignored, so that a write past the limit fails with EFBIG the way a full disk fails it.
fn serve(config: &Path, max_file_bytes: Option<u64>) -> Served {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_shirabe"));
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SHIRABE_CONFIG", config)
        .env("RUST_LOG", "info,ort=warn,tantivy=warn,qdrant_edge=error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(limit) = max_file_bytes {
        // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
    }
    let mut child = command.spawn().expect("start shirabe serve");
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let port = regex::Regex::new(r"127\.0\.0\.1:(\d+)").expect("regex");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut log = String::new();
    let base = loop {
        let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            let _ = child.kill();
            panic!("the service did not start listening:\n{log}")
        };
        log.push_str(&line);
        log.push('\n');
        if line.contains("shirabe is listening") {
            let port: u16 = port.captures(&line).and_then(|c| c[1].parse().ok()).expect("the bound port");
            break format!("http://127.0.0.1:{port}");
        }
    };
    Served { child, base, lines }
}

impl Served {
    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) {
        // SAFETY: a signal to the child this test started.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "the service did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
        while let Ok(line) = self.lines.try_recv() {
            eprintln!("{line}");
        }
    }
}

fn status_of(r: Result<ureq::Response, ureq::Error>) -> (u16, String, String) {
    match r {
        Ok(resp) => (resp.status(), resp.content_type().to_string(), resp.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(status, resp)) => (status, resp.content_type().to_string(), resp.into_string().unwrap_or_default()),
        Err(e) => panic!("{e}"),
    }
}

/// A disk that fills up: the request that cannot be audited gets 503 (problem+json), the log is
/// cut back to its last whole record, no sequence number is lost or reused, and the chain still
/// verifies with its key; after a restart counted refusals are written as a digest on shutdown.
#[test]
fn a_full_disk_answers_503_and_leaves_the_log_verifiable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let key_file = tmp.path().join("key/audit.key");
    let config = tmp.path().join("shirabe.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nassets_dir = {:?}\nusers_file = {:?}\n[server]\nlisten = \"127.0.0.1:0\"\nmax_refusals_per_minute = 0\n[audit]\nkey_file = {:?}\n",
            data.display().to_string(),
            common::config().assets_dir().display().to_string(),
            common::repo().join("fixtures/users.toml").display().to_string(),
            key_file.display().to_string()
        ),
    )
    .expect("config");
    let key = AuditKey::load_or_create(&key_file).expect("key");
    let audit = data.join("audit");
    {
        let log = AuditLog::open_with(&audit, Some(key.clone())).expect("log");
        for i in 0..3 {
            log.append(Event { action: "search".into(), caller: "ippan".into(), query: Some(format!("質問{i}")), status: 200, ..Event::default() }).expect("append");
        }
    }
    let log_file = audit.join("audit.jsonl");
    let good = std::fs::metadata(&log_file).expect("log").len();
    let head = std::fs::read_to_string(audit.join("audit.head")).expect("head");

    // Room for a small record, not for one with a 1500-byte path.
    let served = serve(&config, Some(good + 700));
    let probe = format!("{}/api/{}", served.base, "p".repeat(1500));
    let (status, content_type, body) = status_of(ureq::get(&probe).call());
    assert_eq!(status, 503, "an unaudited refusal is not answered: {body}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(std::fs::metadata(&log_file).expect("log").len(), good, "the partial record is cut away");
    assert_eq!(std::fs::read_to_string(audit.join("audit.head")).expect("head"), head);
    // A small record still fits and takes the next number.
    let (status, _, body) = status_of(ureq::get(&format!("{}/api/me", served.base)).set("Authorization", "Bearer dev-ippan").call());
    assert_eq!(status, 200, "{body}");
    // A served request whose record does not fit is not served.
    let question = "住民票の写しの交付手数料".repeat(60);
    let search = ureq::post(&format!("{}/api/search", served.base)).set("Authorization", "Bearer dev-ippan").send_json(serde_json::json!({ "query": question }));
    let (status, content_type, body) = status_of(search);
    assert_eq!((status, content_type.as_str()), (503, "application/problem+json"), "{body}");
    served.stop();
    assert_eq!(shirabe::govern::audit::verify_keyed(&audit, Some(&key)), Ok(Verified { records: 4, anchored: true }));

    // Restarted with room: eight refusals from one client, five recorded, three in the digest.
    let served = serve(&config, None);
    for _ in 0..8 {
        assert_eq!(status_of(ureq::get(&format!("{}/api/nothing-here", served.base)).call()).0, 404);
    }
    served.stop();
    assert_eq!(shirabe::govern::audit::verify_keyed(&audit, Some(&key)), Ok(Verified { records: 10, anchored: true }));
    let all = records(&data);
    let digest = all.last().expect("a record");
    assert_eq!((digest["action"].as_str(), digest["count"].as_u64(), digest["status"].as_u64()), (Some("refusals"), Some(3), Some(404)), "{digest}");
}

/// The attack of item 7: cut records from the end and rewrite `audit.head` to match, as someone
/// who can write the data directory but cannot read the key would. `shirabe audit verify`, with
/// the service's key, reports it.
#[test]
fn audit_verify_reports_a_chain_rewritten_without_the_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let audit = data.join("audit");
    let key_file = tmp.path().join("key/audit.key");
    let key = AuditKey::load_or_create(&key_file).expect("key");
    {
        let log = AuditLog::open_with(&audit, Some(key)).expect("log");
        for i in 0..5 {
            log.append(Event { action: "answer".into(), caller: "jinji".into(), query: Some(format!("質問{i}")), status: 200, ..Event::default() }).expect("append");
        }
    }
    let verify = || {
        let out = Command::new(env!("CARGO_BIN_EXE_shirabe"))
            .args(["audit", "verify"])
            .current_dir(tmp.path())
            .env("SHIRABE_DATA_DIR", &data)
            .env("SHIRABE_AUDIT__KEY_FILE", &key_file)
            .output()
            .expect("run shirabe audit verify");
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (ok, said) = verify();
    assert!(ok && said.contains("5 records, anchored"), "{said}");

    let log_file = audit.join("audit.jsonl");
    let text = std::fs::read_to_string(&log_file).expect("log");
    let kept: Vec<&str> = text.lines().take(3).collect();
    std::fs::write(&log_file, kept.join("\n") + "\n").expect("cut");
    let last: Value = serde_json::from_str(kept[2]).expect("record");
    std::fs::write(audit.join("audit.head"), format!("{} {}\n", last["seq"], last["hash"].as_str().unwrap_or_default())).expect("head");
    let (ok, said) = verify();
    assert!(!ok && said.contains("audit.head"), "records cut and the head rewritten must not verify: {said}");
}
