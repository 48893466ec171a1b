//! The service as installed: the systemd units in `deploy/`, and `shirabe serve` started the way
//! they start it (from `/`, with only its configuration file and systemd's `STATE_DIRECTORY`).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `systemd-analyze verify` accepts every unit (binaries pointed at the built ones).
#[test]
fn the_systemd_units_verify() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("SKIPPED the_systemd_units_verify: systemd-analyze not found (scripts/setup.sh installs systemd)");
        return;
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().expect("tempdir");
    let shirabe = env!("CARGO_BIN_EXE_shirabe");
    let mut units = Vec::new();
    for entry in std::fs::read_dir(common::repo().join("deploy")).expect("deploy/") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if !(name.ends_with(".service") || name.ends_with(".timer")) {
            continue;
        }
        // Both binaries sit in /opt/shirabe/bin; verification only needs an executable there.
        let text = std::fs::read_to_string(&path).expect("read unit")
            .replace("/opt/shirabe/bin/shirabe-indexer", shirabe)
            .replace("/opt/shirabe/bin/shirabe", shirabe);
        std::fs::write(dir.path().join(&name), text).expect("write unit");
        units.push(format!("./{name}"));
    }
    assert!(units.len() >= 4, "{units:?}");
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).args(&units).current_dir(dir.path()).output().expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
}

/// Started from `/` with nothing but `SHIRABE_CONFIG` and systemd's `STATE_DIRECTORY`, the service
/// serves its page (built in), keeps its audit log in the state directory, and stops cleanly on
/// SIGTERM.
#[test]
fn the_service_runs_from_the_root_with_only_its_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("mkdir");
    let assets = common::config().assets_dir();
    let config = dir.path().join("shirabe.toml");
    let users = common::repo().join("fixtures/users.toml");
    std::fs::write(
        &config,
        format!("assets_dir = {:?}\nusers_file = {:?}\n[server]\nlisten = \"127.0.0.1:0\"\n", assets.display().to_string(), users.display().to_string()),
    )
    .expect("write the configuration");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shirabe"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SHIRABE_CONFIG", &config)
        .env("STATE_DIRECTORY", &state)
        .env("RUST_LOG", "info,ort=warn,tantivy=warn,qdrant_edge=error")
        .current_dir("/")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shirabe serve");
    let pid = child.id();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let addr_pattern = regex::Regex::new(r"127\.0\.0\.1:(\d+)").expect("regex");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut log = String::new();
    let port = loop {
        let line = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the service did not start listening:\n{log}")
        });
        log.push_str(&line);
        log.push('\n');
        if line.contains("shirabe is listening") {
            break addr_pattern.captures(&line).and_then(|c| c[1].parse::<u16>().ok()).expect("the bound port in the log");
        }
    };
    let base = format!("http://127.0.0.1:{port}");
    let page = ureq::get(&format!("{base}/")).call().expect("GET /");
    assert_eq!(page.content_type(), "text/html");
    assert!(page.into_string().expect("body").contains("app.js"), "the built-in page");
    let script = ureq::get(&format!("{base}/app.js")).call().expect("GET /app.js");
    assert_eq!(script.content_type(), "text/javascript");
    assert!(ureq::get(&format!("{base}/tests/page.test.mjs")).call().is_err(), "the page's tests are not served");
    let search = ureq::post(&format!("{base}/api/search")).set("Authorization", "Bearer dev-ippan").send_json(ureq::json!({"query": "住民票"}));
    assert!(search.is_ok(), "{search:?}");
    assert!(Path::new(&state).join("audit").is_dir(), "the audit log lives in the state directory");

    let term = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill -TERM");
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the service did not stop within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) {
        log.push_str(&line);
        log.push('\n');
    }
    assert!(status.success(), "exit status {status:?} after SIGTERM:\n{log}");
    assert!(log.contains("every request in flight was answered"), "{log}");
}
