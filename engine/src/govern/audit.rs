//! The audit trail: every search, answer and document fetch appends one JSON line to an
//! append-only log, and each record carries the hash of the previous one. This module owns the
//! log's format, its writer ([`AuditLog`]), its verifier ([`verify`], [`verify_keyed`]), the key
//! that anchors it ([`AuditKey`]) and the digest of repeated refusals ([`Refusals`]).
//!
//! The chain makes tampering evident: editing a record changes its hash, removing or reordering
//! records breaks the `prev` links or the sequence numbers, and the separate `audit.head` file
//! (the last record's sequence number and hash, rewritten after every append) reveals records cut
//! from the end. `shirabe audit verify` names the first bad record. One process writes a log (an
//! exclusive lock on `audit.lock`), and a log that does not end where `audit.head` says is not
//! continued: the service refuses to start rather than overwrite the evidence. The log holds
//! questions that may be sensitive, so it is created with mode 0600 and served only to the
//! auditor role.
//!
//! **Anchor.** A plain hash chain can be recomputed by anyone who can write the data directory.
//! With an audit key (a file outside the data directory, `audit.key_file`) each record's hash is
//! an HMAC-SHA256 under the key over the record, its `prev` link included, and `audit.head`
//! carries an HMAC too, so records cannot be cut, edited or forged, nor the head moved, without
//! the key. Records written before a key was configured keep their plain hashes; the first keyed
//! record links to them, which anchors them as well. The key does not help against whoever can
//! read it (root on the host, the service's own user), nor against deleting the log and the key
//! together, nor against putting back a complete older copy of the log and its head.
//!
//! **Bounded and failure-safe.** Every free-text field is cut to a fixed size ([`Event::bounded`]),
//! so one record stays a few KB whatever the request. A write that fails (a full disk) is undone
//! (the file is cut back to its last good length and the sequence number is not used), so the
//! caller can refuse the request instead of serving it unaudited. A line left incomplete by a
//! crash is cut away on the next start and the repair is itself recorded.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const LOG: &str = "audit.jsonl";
const HEAD: &str = "audit.head";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Longest free-text field of a record (query, question, path, note), in bytes.
pub const MAX_TEXT_BYTES: usize = 2048;
/// Longest caller name or answer id, in bytes.
const MAX_NAME_BYTES: usize = 256;
/// Longest `filters` value, in bytes of JSON.
const MAX_FILTERS_BYTES: usize = 2048;
/// Most document or passage ids kept in one record (a page holds at most 50 documents, each
/// with a few passages).
const MAX_IDS: usize = 500;
/// What replaces the end of a cut field; the original length goes to `cut`.
const CUT_MARKER: &str = "…[cut]";
/// Bytes of a generated audit key.
const KEY_BYTES: usize = 32;

/// What a caller did, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `search`, `answer`, `feedback` (an official's verdict on an answer), `document`, `file`,
    /// `audit`, `login`, `denied`, `failed`, `refusals` (a digest of refusals not recorded one by
    /// one), `repair` or `anchor`.
    pub action: String,
    pub caller: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<serde_json::Value>,
    #[serde(default)]
    pub documents: Vec<String>,
    #[serde(default)]
    pub passages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abstained: Option<bool>,
    /// An `answer`: the version of the answer model that scored its sentences and decided to
    /// answer or abstain, so an answer can be traced to the weights behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_model: Option<String>,
    /// HTTP status of the response (for a `refusals` digest: of the refusals it counts).
    pub status: u16,
    /// A `refusals` digest: how many refusals it stands for; a `repair`: how many bytes were cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// A `refusals` digest: when the first refusal it counts happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// A `feedback`: the verdict (`helpful`, `wrong`, `insufficient`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// What the service itself did (`repair`, `anchor`), in words; a `feedback`: the official's
    /// note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Fields cut to the record's size limit, with their original length in bytes (or entries).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cut: BTreeMap<String, usize>,
}

/// Cuts `text` to at most `max` bytes (at a character boundary, marker included); returns the
/// original length when it was cut.
fn cut_text(text: &mut String, max: usize) -> Option<usize> {
    if text.len() <= max {
        return None;
    }
    let original = text.len();
    let mut end = max.saturating_sub(CUT_MARKER.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(CUT_MARKER);
    Some(original)
}

impl Event {
    /// The event with every field cut to its limit, so that one record holds a few KB whatever
    /// a request carried; each cut field is named in `cut` with its original length.
    pub fn bounded(mut self) -> Event {
        let mut cut = std::mem::take(&mut self.cut);
        let mut text = |name: &str, value: &mut String, max: usize| {
            if let Some(n) = cut_text(value, max) {
                cut.insert(name.to_string(), n);
            }
        };
        text("action", &mut self.action, MAX_NAME_BYTES);
        text("caller", &mut self.caller, MAX_NAME_BYTES);
        if let Some(q) = self.query.as_mut() {
            text("query", q, MAX_TEXT_BYTES);
        }
        if let Some(a) = self.answer_id.as_mut() {
            text("answer_id", a, MAX_NAME_BYTES);
        }
        if let Some(v) = self.verdict.as_mut() {
            text("verdict", v, MAX_NAME_BYTES);
        }
        if let Some(n) = self.note.as_mut() {
            text("note", n, MAX_TEXT_BYTES);
        }
        if let Some(s) = self.since.as_mut() {
            text("since", s, MAX_NAME_BYTES);
        }
        if let Some(filters) = &self.filters {
            let mut json = filters.to_string();
            if let Some(n) = cut_text(&mut json, MAX_FILTERS_BYTES) {
                // Kept as text: a cut JSON document is no longer JSON.
                self.filters = Some(serde_json::Value::String(json));
                cut.insert("filters".into(), n);
            }
        }
        for (name, ids) in [("documents", &mut self.documents), ("passages", &mut self.passages)] {
            if ids.len() > MAX_IDS {
                cut.insert(name.into(), ids.len());
                ids.truncate(MAX_IDS);
            }
            for id in ids.iter_mut() {
                cut_text(id, MAX_NAME_BYTES);
            }
        }
        self.cut = cut;
        self
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub time: String,
    #[serde(flatten)]
    pub event: Event,
    /// The id of the audit key whose HMAC `hash` is; absent: a plain SHA-256 (no key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub prev: String,
    pub hash: String,
}

impl Record {
    /// The record's hash: HMAC-SHA256 under `key` for a keyed record, else SHA-256, over the
    /// record's JSON with an empty `hash` (so over `prev` and the key id too). `None` for a keyed
    /// record without its key.
    fn compute_hash(&self, key: Option<&AuditKey>) -> Option<String> {
        let mut unhashed = self.clone();
        unhashed.hash = String::new();
        let body = serde_json::to_string(&unhashed).unwrap_or_default();
        match (&self.key, key) {
            (None, _) => Some(hex::encode(Sha256::digest(body.as_bytes()))),
            (Some(_), Some(key)) => Some(hex::encode(key.mac(body.as_bytes()))),
            (Some(_), None) => None,
        }
    }
}

/// HMAC-SHA256 (RFC 2104) of `data` under `key`.
fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    // HMAC takes a key of any length, so `new_from_slice` cannot fail for it.
    let mut mac = match hmac::Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The secret that anchors the chain: without it nobody can recompute a record's hash or the
/// head. Kept in a file outside the data directory, readable by its owner only.
#[derive(Clone)]
pub struct AuditKey {
    secret: Vec<u8>,
    id: String,
    path: PathBuf,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey").field("id", &self.id).field("path", &self.path).finish_non_exhaustive()
    }
}

impl AuditKey {
    /// A key from its secret bytes (tests, and [`AuditKey::load`]).
    pub fn from_secret(secret: Vec<u8>, path: PathBuf) -> AuditKey {
        // The id names the key in each record without revealing it.
        let id = hex::encode(&Sha256::digest([b"shirabe audit key id ".as_slice(), secret.as_slice()].concat())[..8]);
        AuditKey { secret, id, path }
    }

    /// Which key signed a record (a digest of the key, not the key).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn mac(&self, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.secret, data)
    }

    fn head_mac(&self, seq: u64, hash: &str) -> String {
        hex::encode(self.mac(format!("audit.head {seq} {hash}").as_bytes()))
    }

    /// Reads the key file (hex text). Refuses a file that group or others may read or write:
    /// whoever can read the key can rewrite the log undetected.
    pub fn load(path: &Path) -> Result<AuditKey> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| Error::io(format!("reading the audit key {}", path.display()), e))?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(Error::Audit(format!(
                "the audit key {} may be read or written by group or others (mode {:o}); allow its owner only: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading the audit key {}", path.display()), e))?;
        let secret = hex::decode(text.trim()).map_err(|e| Error::Audit(format!("the audit key {} is not hex text: {e}", path.display())))?;
        if secret.len() < KEY_BYTES {
            return Err(Error::Audit(format!("the audit key {} holds {} bytes; it needs at least {KEY_BYTES}", path.display(), secret.len())));
        }
        Ok(AuditKey::from_secret(secret, path.to_path_buf()))
    }

    /// Reads the key file, or creates it (mode 0600, random bytes, its folder 0700) when it does
    /// not exist. Creation is atomic: a second process starting at the same time reads the key
    /// the first one wrote instead of replacing it.
    pub fn load_or_create(path: &Path) -> Result<AuditKey> {
        if !path.exists() {
            Self::create(path)?;
        }
        Self::load(path)
    }

    fn create(path: &Path) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        use rand::RngCore;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let mut secret = [0u8; KEY_BYTES];
        rand::thread_rng().fill_bytes(&mut secret);
        let tmp = dir.join(format!(".audit-key.{}.tmp", std::process::id()));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(format!("{}\n", hex::encode(secret)).as_bytes()).and_then(|()| f.sync_all()));
        let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                tracing::info!(key = %path.display(), "created the audit key that anchors the audit log; back it up apart from the data directory");
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::io(format!("creating the audit key {}", path.display()), e)),
        }
    }
}

/// Where the audit key is looked for when `audit.key_file` is not set: systemd's credentials
/// folder (`LoadCredential=audit.key:…`), else the user's configuration folder. `None` when
/// neither exists in the environment.
pub fn default_key_file() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from).filter(|d| d.is_absolute()) {
        return Some(dir.join("audit.key"));
    }
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from).filter(|d| d.is_absolute()).map(|h| h.join(".config")))?;
    Some(config_home.join("shirabe").join("audit.key"))
}

/// Whether `path` lies inside `dir` (both made absolute; symbolic links of existing folders
/// resolved).
fn is_inside(path: &Path, dir: &Path) -> bool {
    let resolve = |p: &Path| {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        // The file may not exist yet: resolve its folder.
        match (abs.parent(), abs.file_name()) {
            (Some(parent), Some(name)) => parent.canonicalize().map(|p| p.join(name)).unwrap_or(abs),
            _ => abs,
        }
    };
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let dir = dir.canonicalize().unwrap_or(dir);
    resolve(path).starts_with(dir)
}

/// The audit key of a configuration. `configured` (`audit.key_file`) must lie outside
/// `data_dir` and be usable, or this fails: the service must not start unanchored when told to
/// anchor. Without it the default place ([`default_key_file`]) is used, the key created there
/// when `create`; a default place that is inside `data_dir`, missing from the environment or not
/// writable leaves the log unanchored (`None`), with a warning.
pub fn configured_key(configured: Option<&Path>, data_dir: &Path, create: bool) -> Result<Option<AuditKey>> {
    let open = |path: &Path| if create { AuditKey::load_or_create(path) } else { AuditKey::load(path) };
    if let Some(path) = configured {
        if is_inside(path, data_dir) {
            return Err(Error::Audit(format!(
                "audit.key_file {} is inside the data directory {}: whoever can rewrite the log could read the key. Keep it elsewhere",
                path.display(),
                data_dir.display()
            )));
        }
        return open(path).map(Some);
    }
    let Some(path) = default_key_file() else {
        tracing::warn!("no place for the audit key (no HOME, XDG_CONFIG_HOME or CREDENTIALS_DIRECTORY): the audit log is not anchored; set audit.key_file");
        return Ok(None);
    };
    if is_inside(&path, data_dir) {
        tracing::warn!(key = %path.display(), "the default audit key place is inside the data directory: the audit log is not anchored; set audit.key_file");
        return Ok(None);
    }
    if !create && !path.exists() {
        return Ok(None);
    }
    match open(&path) {
        Ok(key) => Ok(Some(key)),
        // An existing key that is unsafe or unreadable is an error; only a missing place is not.
        Err(e) if path.exists() => Err(e),
        Err(e) => {
            tracing::warn!(key = %path.display(), error = %e, "cannot create the audit key: the audit log is not anchored; set audit.key_file");
            Ok(None)
        }
    }
}

struct Tail {
    file: File,
    seq: u64,
    hash: String,
    /// Bytes of the log that hold whole records: a failed write is cut back to here.
    len: u64,
    /// A failed write could not be undone: nothing more is appended until a restart repairs it.
    broken: bool,
}

/// The open audit log.
pub struct AuditLog {
    dir: PathBuf,
    key: Option<AuditKey>,
    tail: Mutex<Tail>,
    /// Holds an exclusive `flock` on `audit.lock` while the log is open: one writer per log, so
    /// that two services on one data directory cannot each continue the chain from their own head.
    _lock: File,
}

/// What `audit.head` says: the last record's sequence number and hash, and with a key the
/// head's own HMAC.
struct Head {
    seq: u64,
    hash: String,
    mac: Option<String>,
}

fn read_head(dir: &Path) -> Option<Head> {
    let text = std::fs::read_to_string(dir.join(HEAD)).ok()?;
    let mut parts = text.split_whitespace();
    let seq = parts.next()?.parse().ok()?;
    let hash = parts.next().unwrap_or_default().to_string();
    Some(Head { seq, hash, mac: parts.next().map(String::from) })
}

/// Whether the log's end (`last` record, whose `prev` link is `last_prev`, hash `last_hash`)
/// agrees with the head: the same record, or — after a crash between writing a record and the
/// head — the record right after the head's.
fn agrees_with_head(head: &Head, last: u64, last_hash: &str, last_prev: &str) -> bool {
    (head.seq == last && (last == 0 || head.hash == last_hash)) || (head.seq + 1 == last && head.hash == last_prev)
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// The whole records of a log file as read at start.
struct Scan {
    seq: u64,
    hash: String,
    prev: String,
    /// The key id of the last keyed record.
    key: Option<String>,
    last_keyed: bool,
    before_last_keyed: bool,
    /// Bytes up to the end of the last complete line.
    complete: u64,
    /// Bytes after it: a line whose write was interrupted.
    partial: u64,
}

fn scan(path: &Path) -> Result<Scan> {
    use std::io::BufRead;
    let mut s = Scan { seq: 0, hash: GENESIS.into(), prev: GENESIS.into(), key: None, last_keyed: false, before_last_keyed: false, complete: 0, partial: 0 };
    if !path.exists() {
        return Ok(s);
    }
    let f = File::open(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut reader = std::io::BufReader::new(f);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| Error::io("reading the audit log", e))?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            s.partial = n as u64;
            break;
        }
        s.complete += n as u64;
        if let Ok(r) = serde_json::from_slice::<Record>(&line) {
            s.seq = r.seq;
            s.hash = r.hash;
            s.prev = r.prev;
            s.before_last_keyed = std::mem::replace(&mut s.last_keyed, r.key.is_some());
            if r.key.is_some() {
                s.key = r.key;
            }
        }
    }
    Ok(s)
}

impl AuditLog {
    /// Opens (or creates) the log in `dir` without a key; see [`AuditLog::open_with`].
    pub fn open(dir: &Path) -> Result<AuditLog> {
        Self::open_with(dir, None)
    }

    /// Opens (or creates) the log in `dir`, continuing the chain from its last record, keyed
    /// with `key` when given. Refuses when another process (or another `AuditLog` in this one)
    /// has the log open; when the log does not end where `audit.head` says it does (records cut
    /// from the end, or the head removed): starting would rewrite the head and erase the
    /// evidence; and when the log was keyed with another key or `key` is missing, which would
    /// make it unverifiable from here on.
    ///
    /// A last line left incomplete (a crash or a full disk in the middle of a write) is cut
    /// away, and a `repair` record that says how many bytes, after which record, is appended.
    /// A keyed log whose last record predates the key gets an `anchor` record, so that a log
    /// rewritten without the key cannot pass for one written before it.
    pub fn open_with(dir: &Path, key: Option<AuditKey>) -> Result<AuditLog> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let lock_path = dir.join("audit.lock");
        let lock = open_append(&lock_path).map_err(|e| Error::io(format!("opening {}", lock_path.display()), e))?;
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: flock on a file descriptor this function owns; no memory is shared.
            if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                return Err(Error::Audit(format!(
                    "the audit log in {} is in use by another shirabe process; each service needs its own data directory (`--data-dir` or `SHIRABE_DATA_DIR`), or stop the other one first",
                    dir.display()
                )));
            }
        }
        let path = dir.join(LOG);
        let found = scan(&path)?;
        let head = read_head(dir);
        let consistent = match &head {
            Some(h) => agrees_with_head(h, found.seq, &found.hash, &found.prev),
            None => found.seq == 0,
        };
        if !consistent {
            let head_says = head.map_or_else(|| "audit.head is missing".to_string(), |h| format!("audit.head names record {}", h.seq));
            return Err(Error::Audit(format!(
                "the audit log in {} ends at record {} but {head_says}: records may have been cut from the end. Keep both files as evidence (`shirabe audit verify` names the first bad record), move them aside, and start again to begin a new log",
                dir.display(),
                found.seq
            )));
        }
        match (&found.key, &key) {
            (Some(used), None) => {
                return Err(Error::Audit(format!(
                    "the audit log in {} is keyed with audit key {used}, but no audit key is configured (audit.key_file); without it the log cannot be continued or verified",
                    dir.display()
                )))
            }
            (Some(used), Some(key)) if used != key.id() => {
                return Err(Error::Audit(format!(
                    "the audit log in {} is keyed with audit key {used}, but {} holds key {}: configure the key the log was written with",
                    dir.display(),
                    key.path().display(),
                    key.id()
                )))
            }
            _ => {}
        }
        if let (Some(key), Some(head)) = (&key, &head) {
            // A head moved back without the key (records cut, the head rewritten to match) must
            // not be continued: the next append would sign the cut.
            let names_keyed = if head.seq == found.seq { found.last_keyed } else { found.before_last_keyed };
            if names_keyed && head.mac.as_deref() != Some(key.head_mac(head.seq, &head.hash).as_str()) {
                return Err(Error::Audit(format!(
                    "audit.head in {} is not signed with the audit key: it was rewritten, and records may have been cut from the end. Keep the files as evidence (`shirabe audit verify`), move them aside, and start again to begin a new log",
                    dir.display()
                )));
            }
        }
        if found.partial > 0 {
            let f = OpenOptions::new().write(true).open(&path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            f.set_len(found.complete).and_then(|()| f.sync_all()).map_err(|e| Error::io("cutting an incomplete line from the audit log", e))?;
            tracing::warn!(bytes = found.partial, after = found.seq, "cut an incomplete last line from the audit log (an interrupted write); recorded as a repair");
        }
        let file = open_append(&path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let anchor = key.is_some() && found.seq > 0 && !found.last_keyed;
        let log = AuditLog {
            dir: dir.to_path_buf(),
            key,
            tail: Mutex::new(Tail { file, seq: found.seq, hash: found.hash, len: found.complete, broken: false }),
            _lock: lock,
        };
        if found.partial > 0 {
            log.append(Event {
                action: "repair".into(),
                caller: "shirabe".into(),
                note: Some(format!("cut an incomplete last line of {} bytes after record {} (a write interrupted by a crash or a full disk)", found.partial, found.seq)),
                count: Some(found.partial),
                ..Event::default()
            })?;
        }
        if anchor {
            let id = log.key.as_ref().map(|k| k.id().to_string()).unwrap_or_default();
            log.append(Event { action: "anchor".into(), caller: "shirabe".into(), note: Some(format!("records from here on are keyed with audit key {id}")), ..Event::default() })?;
        }
        Ok(log)
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(LOG)
    }

    /// Whether records are keyed (the chain is anchored outside the data directory).
    pub fn is_anchored(&self) -> bool {
        self.key.is_some()
    }

    /// The last record's sequence number.
    pub fn last_seq(&self) -> u64 {
        self.tail.lock().seq
    }

    /// Appends a record; the write is flushed to disk before the call returns. When it fails
    /// the log is cut back to where it was and the sequence number stays unused, so an error
    /// here means "not recorded" and nothing else.
    pub fn append(&self, event: Event) -> Result<Record> {
        let mut tail = self.tail.lock();
        if tail.broken {
            return Err(Error::Audit("an earlier failed write could not be undone; restart the service to repair the log".into()));
        }
        let mut record = Record {
            seq: tail.seq + 1,
            time: chrono::Utc::now().to_rfc3339(),
            event: event.bounded(),
            key: self.key.as_ref().map(|k| k.id().to_string()),
            prev: tail.hash.clone(),
            hash: String::new(),
        };
        record.hash = record.compute_hash(self.key.as_ref()).unwrap_or_default();
        let line = serde_json::to_string(&record).map_err(|e| Error::Audit(e.to_string()))? + "\n";
        if let Err(e) = self.write(&mut tail.file, &line, &record) {
            // Undo a partial line (or a whole one whose head could not follow), so that the next
            // record continues a valid chain with the same sequence number.
            let undone = tail.file.set_len(tail.len).and_then(|()| tail.file.sync_data());
            if let Err(undo) = undone {
                tracing::error!(error = %undo, "cannot cut the audit log back after a failed write; refusing further records");
                tail.broken = true;
            }
            return Err(e);
        }
        tail.seq = record.seq;
        tail.hash = record.hash.clone();
        tail.len += line.len() as u64;
        Ok(record)
    }

    fn write(&self, file: &mut File, line: &str, record: &Record) -> Result<()> {
        file.write_all(line.as_bytes()).map_err(|e| Error::io("writing the audit log", e))?;
        file.sync_data().map_err(|e| Error::io("syncing the audit log", e))?;
        let mac = self.key.as_ref().map(|k| format!(" {}", k.head_mac(record.seq, &record.hash))).unwrap_or_default();
        let head_tmp = self.dir.join("audit.head.tmp");
        std::fs::write(&head_tmp, format!("{} {}{mac}\n", record.seq, record.hash)).map_err(|e| Error::io("writing audit.head", e))?;
        std::fs::rename(&head_tmp, self.dir.join(HEAD)).map_err(|e| Error::io("writing audit.head", e))
    }

    /// The last `n` records (for the auditor endpoint).
    pub fn tail(&self, n: usize) -> Result<Vec<Record>> {
        let _guard = self.tail.lock();
        let text = std::fs::read_to_string(self.path()).map_err(|e| Error::io("reading the audit log", e))?;
        let mut records: Vec<Record> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let skip = records.len().saturating_sub(n);
        Ok(records.split_off(skip))
    }
}

/// Every record of the log in `dir`, read without taking the writer's lock (a running service
/// keeps writing); a line that is not a record (the partial last line of a crash) is skipped.
/// Callers that act on the records check the chain first ([`verify_keyed`]).
pub fn read_records(dir: &Path) -> Result<Vec<Record>> {
    let path = dir.join(LOG);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(format!("reading the audit log {}", path.display()), e))?;
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

/// Refusals recorded one by one per client, kind and window; the rest are counted.
pub const REFUSALS_RECORDED_PER_WINDOW: u32 = 5;
/// Clients whose refusals are tracked at once; past it the oldest window is closed early.
const REFUSAL_CLIENTS: usize = 10_000;

struct Pending {
    start: Instant,
    started_at: String,
    recorded: u32,
    counted: u64,
    counted_since: Option<String>,
}

/// Digests repeated refusals, so that a client that keeps being refused cannot grow the log
/// (nor hold its lock) without bound: per client and kind (status), the first
/// [`REFUSALS_RECORDED_PER_WINDOW`] refusals of a window are recorded one by one and the rest
/// only counted; the count becomes one `refusals` record when the window ends
/// ([`Refusals::due`]) or the client's next refusal opens a new one. Nothing goes uncounted: a
/// window closed early to keep the table bounded yields its record too.
pub struct Refusals {
    individual: u32,
    window: Duration,
    capacity: usize,
    clients: Mutex<HashMap<(String, u16), Pending>>,
}

/// Whether a refusal gets its own record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Record,
    Count,
}

fn digest(client: &str, status: u16, pending: &Pending) -> Event {
    Event {
        action: "refusals".into(),
        caller: client.to_string(),
        status,
        count: Some(pending.counted),
        since: pending.counted_since.clone().or_else(|| Some(pending.started_at.clone())),
        note: Some(format!("{} further refusals ({status}) in the window from {}, not recorded one by one", pending.counted, pending.started_at)),
        ..Event::default()
    }
}

impl Refusals {
    pub fn new(individual: u32, window: Duration) -> Refusals {
        Refusals::with_capacity(individual, window, REFUSAL_CLIENTS)
    }

    pub fn with_capacity(individual: u32, window: Duration, capacity: usize) -> Refusals {
        Refusals { individual, window, capacity: capacity.max(1), clients: Mutex::new(HashMap::new()) }
    }

    /// Notes one refusal of `client` with `status` at `now`: whether to record it on its own,
    /// and the digests to write first (the client's previous window, or a window closed early
    /// to keep the table bounded).
    pub fn note(&self, client: &str, status: u16, now: Instant) -> (Refusal, Vec<Event>) {
        let mut digests = Vec::new();
        let mut clients = self.clients.lock();
        let key = (client.to_string(), status);
        if let Some(p) = clients.get(&key) {
            if now >= p.start + self.window {
                if p.counted > 0 {
                    digests.push(digest(client, status, p));
                }
                clients.remove(&key);
            }
        }
        if !clients.contains_key(&key) && clients.len() >= self.capacity {
            let oldest = clients.iter().min_by_key(|(_, p)| p.start).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest.and_then(|k| clients.remove_entry(&k)) {
                if oldest.1.counted > 0 {
                    digests.push(digest(&oldest.0 .0, oldest.0 .1, &oldest.1));
                }
            }
        }
        let p = clients.entry(key).or_insert_with(|| Pending { start: now, started_at: chrono::Utc::now().to_rfc3339(), recorded: 0, counted: 0, counted_since: None });
        let decision = if p.recorded < self.individual {
            p.recorded += 1;
            Refusal::Record
        } else {
            if p.counted == 0 {
                p.counted_since = Some(chrono::Utc::now().to_rfc3339());
            }
            p.counted += 1;
            Refusal::Count
        };
        (decision, digests)
    }

    /// Puts back the count of a digest that could not be written, so it is written later.
    pub fn restore(&self, digest: &Event, now: Instant) {
        let Some(count) = digest.count else { return };
        let mut clients = self.clients.lock();
        let p = clients.entry((digest.caller.clone(), digest.status)).or_insert_with(|| Pending {
            start: now,
            started_at: digest.since.clone().unwrap_or_default(),
            recorded: self.individual,
            counted: 0,
            counted_since: digest.since.clone(),
        });
        p.counted += count;
    }

    /// The digests of windows that have ended by `now` (all of them when `now` is `None`, at
    /// shutdown); their clients are forgotten.
    pub fn due(&self, now: Option<Instant>) -> Vec<Event> {
        let mut clients = self.clients.lock();
        let window = self.window;
        let ended: Vec<(String, u16)> = clients.iter().filter(|(_, p)| now.is_none_or(|now| now >= p.start + window)).map(|(k, _)| k.clone()).collect();
        ended
            .into_iter()
            .filter_map(|k| clients.remove(&k).filter(|p| p.counted > 0).map(|p| digest(&k.0, k.1, &p)))
            .collect()
    }

    /// Clients and kinds tracked now.
    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why verification failed, naming the first bad record.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VerifyError {
    #[error("line {line}: not a valid audit record ({reason})")]
    Malformed { line: usize, reason: String },
    #[error("record {seq} (line {line}) was edited: its hash does not match its content")]
    Edited { line: usize, seq: u64 },
    #[error("record at line {line} has sequence number {found}, expected {expected}: records were removed or reordered")]
    Sequence { line: usize, expected: u64, found: u64 },
    #[error("record {seq} (line {line}) does not link to the record before it: records were removed, inserted or reordered")]
    Broken { line: usize, seq: u64 },
    #[error("the log ends at record {last} but audit.head names record {head}: records were cut from the end")]
    Truncated { last: u64, head: u64 },
    #[error("the log has {last} records but audit.head is missing: records cut from the end could not be detected")]
    HeadMissing { last: u64 },
    #[error("record {seq} (line {line}) is keyed with audit key {found}, not with the configured key {expected}")]
    WrongKey { line: usize, seq: u64, found: String, expected: String },
    #[error("record {seq} (line {line}) is keyed but no audit key is configured: set audit.key_file to the key the service used")]
    KeyNeeded { line: usize, seq: u64 },
    #[error("record {seq} (line {line}) is not keyed although records before it are: the log was rewritten by someone without the key")]
    Unkeyed { line: usize, seq: u64 },
    #[error("audit.head (record {head}) is not signed with the audit key: the head was rewritten, so records may have been cut from the end")]
    HeadForged { head: u64 },
    #[error("the log's last record ({last}) is not keyed although an audit key is configured: the log was rewritten without the key, or the service has not run with this key yet")]
    Unanchored { last: u64 },
    #[error("cannot read the audit log: {0}")]
    Io(String),
}

/// What a verification found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub records: u64,
    /// Whether the chain was checked against the audit key up to its last record (and head).
    pub anchored: bool,
}

/// Checks links, sequence numbers, the head and the hashes of unkeyed records, without the key:
/// a keyed record's HMAC is not checked. Returns the number of records. For the anchor, use
/// [`verify_keyed`].
pub fn verify(dir: &Path) -> std::result::Result<u64, VerifyError> {
    check(dir, None, false).map(|v| v.records)
}

/// Verifies the whole chain in `dir` with the audit key (`None`: no key configured, which only
/// a log without keyed records passes): every keyed record's HMAC, no unkeyed record after a
/// keyed one, the head's HMAC, and — with a key — that the log ends with a keyed record.
pub fn verify_keyed(dir: &Path, key: Option<&AuditKey>) -> std::result::Result<Verified, VerifyError> {
    check(dir, key, true)
}

fn check(dir: &Path, key: Option<&AuditKey>, keyed: bool) -> std::result::Result<Verified, VerifyError> {
    let path = dir.join(LOG);
    let text = std::fs::read_to_string(&path).map_err(|e| VerifyError::Io(format!("{}: {e}", path.display())))?;
    let mut prev = GENESIS.to_string();
    let mut last_prev = GENESIS.to_string();
    let (mut seen_keyed, mut last_keyed, mut before_last_keyed) = (false, false, false);
    let mut expected = 1;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let r: Record = serde_json::from_str(line).map_err(|e| VerifyError::Malformed { line: line_no, reason: e.to_string() })?;
        match (&r.key, keyed, key) {
            (None, _, _) if seen_keyed && keyed => return Err(VerifyError::Unkeyed { line: line_no, seq: r.seq }),
            (None, _, _) => {
                if r.compute_hash(None).as_deref() != Some(r.hash.as_str()) {
                    return Err(VerifyError::Edited { line: line_no, seq: r.seq });
                }
            }
            // Without the key only the links can be checked.
            (Some(_), false, _) => {}
            (Some(_), true, None) => return Err(VerifyError::KeyNeeded { line: line_no, seq: r.seq }),
            (Some(id), true, Some(k)) => {
                if id != k.id() {
                    return Err(VerifyError::WrongKey { line: line_no, seq: r.seq, found: id.clone(), expected: k.id().to_string() });
                }
                if r.compute_hash(Some(k)).as_deref() != Some(r.hash.as_str()) {
                    return Err(VerifyError::Edited { line: line_no, seq: r.seq });
                }
            }
        }
        if r.seq != expected {
            return Err(VerifyError::Sequence { line: line_no, expected, found: r.seq });
        }
        if r.prev != prev {
            return Err(VerifyError::Broken { line: line_no, seq: r.seq });
        }
        seen_keyed |= r.key.is_some();
        before_last_keyed = std::mem::replace(&mut last_keyed, r.key.is_some());
        last_prev = std::mem::replace(&mut prev, r.hash);
        expected += 1;
    }
    let last = expected - 1;
    let head = read_head(dir);
    match &head {
        Some(head) if !agrees_with_head(head, last, &prev, &last_prev) => return Err(VerifyError::Truncated { last, head: head.seq }),
        None if last > 0 => return Err(VerifyError::HeadMissing { last }),
        _ => {}
    }
    let Some(k) = key.filter(|_| keyed) else {
        return Ok(Verified { records: last, anchored: false });
    };
    if last > 0 && !last_keyed {
        return Err(VerifyError::Unanchored { last });
    }
    if let Some(head) = head {
        // The head names the last record or, after a crash, the one before it; a keyed record's
        // head must carry the HMAC only the key gives.
        let names_keyed = if head.seq == last { last_keyed } else { before_last_keyed };
        let signed = head.mac.as_deref() == Some(k.head_mac(head.seq, &head.hash).as_str());
        if names_keyed && !signed {
            return Err(VerifyError::HeadForged { head: head.seq });
        }
    }
    Ok(Verified { records: last, anchored: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(n: usize) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(dir.path()).expect("open");
        fill(&log, n);
        (dir, log)
    }

    fn fill(log: &AuditLog, n: usize) {
        for i in 0..n {
            log.append(Event { action: "search".into(), caller: "a".into(), query: Some(format!("質問{i}")), status: 200, ..Event::default() })
                .expect("append");
        }
    }

    fn append_one(log: &AuditLog) {
        log.append(Event { action: "search".into(), caller: "a".into(), status: 200, ..Event::default() }).expect("append");
    }

    fn rewrite(dir: &Path, f: impl FnOnce(&mut Vec<String>)) {
        let path = dir.join(LOG);
        let mut lines: Vec<String> = std::fs::read_to_string(&path).expect("read").lines().map(String::from).collect();
        f(&mut lines);
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    }

    fn key(byte: u8) -> AuditKey {
        AuditKey::from_secret(vec![byte; KEY_BYTES], PathBuf::from("/test/audit.key"))
    }

    fn records(dir: &Path) -> Vec<Record> {
        std::fs::read_to_string(dir.join(LOG)).expect("read").lines().map(|l| serde_json::from_str(l).expect("record")).collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_survives_reopening() {
        let (dir, log) = log_with(3);
        drop(log);
        let log = AuditLog::open(dir.path()).expect("reopen");
        log.append(Event { action: "answer".into(), caller: "b".into(), status: 200, ..Event::default() }).expect("append");
        assert_eq!(verify(dir.path()), Ok(4));
    }

    #[test]
    fn edits_removals_reorders_and_truncation_are_detected() {
        let (dir, _log) = log_with(5);
        rewrite(dir.path(), |l| l[2] = l[2].replace("質問2", "質問X"));
        assert_eq!(verify(dir.path()), Err(VerifyError::Edited { line: 3, seq: 3 }));

        let (dir, _log) = log_with(5);
        rewrite(dir.path(), |l| {
            l.remove(1);
        });
        assert!(matches!(verify(dir.path()), Err(VerifyError::Sequence { line: 2, expected: 2, found: 3 })));

        let (dir, _log) = log_with(5);
        rewrite(dir.path(), |l| l.swap(1, 2));
        assert!(matches!(verify(dir.path()), Err(VerifyError::Sequence { line: 2, .. })));

        let (dir, _log) = log_with(5);
        rewrite(dir.path(), |l| {
            l.pop();
        });
        assert_eq!(verify(dir.path()), Err(VerifyError::Truncated { last: 4, head: 5 }));
    }

    #[test]
    fn a_second_writer_is_refused_and_the_first_keeps_the_chain() {
        let (dir, log) = log_with(2);
        let second = AuditLog::open(dir.path());
        assert!(second.as_ref().err().is_some_and(|e| e.to_string().contains("in use by another")), "{:?}", second.err());
        append_one(&log);
        drop(log);
        let reopened = AuditLog::open(dir.path()).expect("the lock goes with the first writer");
        reopened.append(Event { action: "search".into(), caller: "b".into(), status: 200, ..Event::default() }).expect("append");
        assert_eq!(verify(dir.path()), Ok(4));
    }

    #[test]
    fn a_cut_tail_or_a_missing_head_stops_the_service_and_fails_verification() {
        let (dir, log) = log_with(5);
        drop(log);
        rewrite(dir.path(), |l| {
            l.truncate(3);
        });
        let err = AuditLog::open(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("ends at record 3") && err.contains("names record 5"), "{err}");
        assert_eq!(verify(dir.path()), Err(VerifyError::Truncated { last: 3, head: 5 }), "the evidence is kept");

        let (dir, log) = log_with(3);
        drop(log);
        std::fs::remove_file(dir.path().join(HEAD)).expect("rm head");
        assert!(AuditLog::open(dir.path()).is_err());
        assert_eq!(verify(dir.path()), Err(VerifyError::HeadMissing { last: 3 }));

        // A crash between writing a record and the head leaves the head one behind: not a cut.
        let (dir, log) = log_with(3);
        let head = std::fs::read_to_string(dir.path().join(HEAD)).expect("head");
        append_one(&log);
        drop(log);
        std::fs::write(dir.path().join(HEAD), head).expect("old head");
        assert_eq!(verify(dir.path()), Ok(4));
        let log = AuditLog::open(dir.path()).expect("reopen after the crash");
        append_one(&log);
        assert_eq!(verify(dir.path()), Ok(5));
    }

    #[test]
    fn a_forged_record_with_a_recomputed_hash_breaks_the_link() {
        let (dir, _log) = log_with(3);
        rewrite(dir.path(), |l| {
            let mut r: Record = serde_json::from_str(&l[1]).expect("record");
            r.event.query = Some("改ざん".into());
            r.prev = GENESIS.into();
            r.hash = r.compute_hash(None).expect("unkeyed");
            l[1] = serde_json::to_string(&r).expect("json");
        });
        assert_eq!(verify(dir.path()), Err(VerifyError::Broken { line: 2, seq: 2 }));
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test cases 2 (short key) and 6 (a key longer than the block).
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let mac = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    /// One record stays a few KB whatever a request carried; what was cut is said.
    #[test]
    fn a_huge_path_or_question_is_cut_and_the_cut_is_recorded() {
        let (dir, log) = log_with(0);
        let path = format!("GET /api/{}", "あ".repeat(20_000));
        let record = log
            .append(Event {
                action: "failed".into(),
                caller: "x".repeat(5000),
                query: Some(path.clone()),
                documents: vec!["d".into(); 5000],
                filters: Some(serde_json::json!({ "issuers": vec!["省"; 10_000] })),
                status: 404,
                ..Event::default()
            })
            .expect("append");
        let line = std::fs::read_to_string(dir.path().join(LOG)).expect("log");
        assert!(line.len() < 8 * 1024, "one record is {} bytes", line.len());
        let query = record.event.query.as_deref().unwrap_or_default();
        assert!(query.ends_with(CUT_MARKER) && query.len() <= MAX_TEXT_BYTES && path.starts_with(query.trim_end_matches(CUT_MARKER)));
        assert_eq!(record.event.cut.get("query"), Some(&path.len()));
        assert_eq!(record.event.cut.get("caller"), Some(&5000));
        assert_eq!(record.event.cut.get("documents"), Some(&5000));
        assert!(record.event.cut.contains_key("filters"));
        assert_eq!(verify(dir.path()), Ok(1));
    }

    /// A write that fails is undone: no partial record, no reused sequence number.
    #[test]
    fn a_failed_write_leaves_the_log_as_it_was() {
        let (dir, log) = log_with(3);
        let before = std::fs::read(dir.path().join(LOG)).expect("log");
        let head_before = std::fs::read_to_string(dir.path().join(HEAD)).expect("head");
        // The head cannot be replaced while a folder sits where its temporary file goes.
        std::fs::create_dir(dir.path().join("audit.head.tmp")).expect("mkdir");
        assert!(log.append(Event { action: "search".into(), caller: "a".into(), status: 200, ..Event::default() }).is_err());
        assert_eq!(std::fs::read(dir.path().join(LOG)).expect("log"), before, "the record whose head failed is cut away");
        assert_eq!(std::fs::read_to_string(dir.path().join(HEAD)).expect("head"), head_before);
        assert_eq!(log.last_seq(), 3);
        std::fs::remove_dir(dir.path().join("audit.head.tmp")).expect("rmdir");
        append_one(&log);
        assert_eq!(verify(dir.path()), Ok(4), "the next record takes the unused number");
    }

    /// A line cut short by a crash or a full disk is cut away on start, and the repair recorded.
    #[test]
    fn an_incomplete_last_line_is_repaired_and_recorded() {
        let (dir, log) = log_with(3);
        drop(log);
        let partial = "{\"seq\":4,\"time\":\"2026-";
        let mut f = OpenOptions::new().append(true).open(dir.path().join(LOG)).expect("open");
        f.write_all(partial.as_bytes()).expect("write");
        drop(f);
        let log = AuditLog::open(dir.path()).expect("a partial line is repaired, not a reason to stop");
        append_one(&log);
        assert_eq!(verify(dir.path()), Ok(5));
        let repair = &records(dir.path())[3];
        assert_eq!(repair.event.action, "repair");
        assert_eq!(repair.event.count, Some(partial.len() as u64));
        let note = repair.event.note.as_deref().unwrap_or_default();
        assert!(note.contains(&format!("{} bytes", partial.len())) && note.contains("after record 3"), "{note}");
    }

    /// The attack of issue 28: cut records and recompute what can be recomputed without the key.
    #[test]
    fn a_keyed_chain_cannot_be_rewritten_without_the_key() {
        let k = key(7);
        let open = |dir: &Path| AuditLog::open_with(dir, Some(k.clone())).expect("open");
        let dir = tempfile::tempdir().expect("tempdir");
        fill(&open(dir.path()), 5);
        assert_eq!(verify_keyed(dir.path(), Some(&k)), Ok(Verified { records: 5, anchored: true }));

        // Cut the last two records and point the head at the new end.
        rewrite(dir.path(), |l| l.truncate(3));
        let last = records(dir.path()).pop().expect("record");
        std::fs::write(dir.path().join(HEAD), format!("{} {}\n", last.seq, last.hash)).expect("head");
        assert_eq!(verify(dir.path()), Ok(3), "without the key the cut is invisible");
        assert_eq!(verify_keyed(dir.path(), Some(&k)), Err(VerifyError::HeadForged { head: 3 }));
        let refused = AuditLog::open_with(dir.path(), Some(k.clone())).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("not signed with the audit key"), "the service does not continue (and so sign) the cut: {refused}");

        // Rewrite the whole chain as plain SHA-256 records: no key needed, but not anchored.
        let dir = tempfile::tempdir().expect("tempdir");
        fill(&open(dir.path()), 5);
        let mut prev = GENESIS.to_string();
        rewrite(dir.path(), |l| {
            l.remove(1);
            for (i, line) in l.iter_mut().enumerate() {
                let mut r: Record = serde_json::from_str(line).expect("record");
                (r.seq, r.key, r.prev) = (i as u64 + 1, None, prev.clone());
                r.hash = r.compute_hash(None).expect("plain");
                prev = r.hash.clone();
                *line = serde_json::to_string(&r).expect("json");
            }
        });
        std::fs::write(dir.path().join(HEAD), format!("4 {prev}\n")).expect("head");
        assert_eq!(verify(dir.path()), Ok(4));
        assert_eq!(verify_keyed(dir.path(), Some(&k)), Err(VerifyError::Unanchored { last: 4 }));

        // Keep the key ids but recompute hashes with SHA-256: each record is then "edited".
        let dir = tempfile::tempdir().expect("tempdir");
        fill(&open(dir.path()), 3);
        rewrite(dir.path(), |l| {
            let mut r: Record = serde_json::from_str(&l[2]).expect("record");
            r.event.query = Some("改ざん".into());
            r.hash = hex::encode(Sha256::digest(serde_json::to_string(&r).expect("json").as_bytes()));
            l[2] = serde_json::to_string(&r).expect("json");
        });
        assert_eq!(verify_keyed(dir.path(), Some(&k)), Err(VerifyError::Edited { line: 3, seq: 3 }));

        // Another key, or none, neither verifies nor continues the log.
        let dir = tempfile::tempdir().expect("tempdir");
        fill(&open(dir.path()), 2);
        assert!(matches!(verify_keyed(dir.path(), Some(&key(8))), Err(VerifyError::WrongKey { line: 1, .. })));
        assert_eq!(verify_keyed(dir.path(), None), Err(VerifyError::KeyNeeded { line: 1, seq: 1 }));
        assert!(AuditLog::open_with(dir.path(), Some(key(8))).err().is_some_and(|e| e.to_string().contains("keyed with audit key")));
        assert!(AuditLog::open(dir.path()).is_err());
    }

    /// A log written before the key keeps its plain records; an `anchor` record keys it from
    /// there on, and an unkeyed record after a keyed one is refused.
    #[test]
    fn an_unkeyed_log_is_anchored_from_the_first_start_with_a_key() {
        let (dir, log) = log_with(2);
        drop(log);
        assert_eq!(verify_keyed(dir.path(), None), Ok(Verified { records: 2, anchored: false }));
        assert_eq!(verify_keyed(dir.path(), Some(&key(1))), Err(VerifyError::Unanchored { last: 2 }));
        let log = AuditLog::open_with(dir.path(), Some(key(1))).expect("open with a key");
        append_one(&log);
        let all = records(dir.path());
        assert_eq!((all[2].event.action.as_str(), all[2].key.as_deref()), ("anchor", Some(key(1).id())));
        assert_eq!(verify_keyed(dir.path(), Some(&key(1))), Ok(Verified { records: 4, anchored: true }));
        // Editing a plain record before the anchor breaks the anchor's link.
        drop(log);
        rewrite(dir.path(), |l| {
            let mut r: Record = serde_json::from_str(&l[1]).expect("record");
            r.event.query = Some("改ざん".into());
            r.hash = r.compute_hash(None).expect("plain");
            l[1] = serde_json::to_string(&r).expect("json");
        });
        assert_eq!(verify_keyed(dir.path(), Some(&key(1))), Err(VerifyError::Broken { line: 3, seq: 3 }));
    }

    #[test]
    fn the_key_file_is_created_private_and_refused_when_others_may_read_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys/audit.key");
        let created = AuditKey::load_or_create(&path).expect("create");
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
        assert_eq!(AuditKey::load_or_create(&path).expect("load").id(), created.id(), "the same key on the next start");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(AuditKey::load(&path).err().is_some_and(|e| e.to_string().contains("chmod 600")));
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        let inside = configured_key(Some(&data.join("audit.key")), &data, true);
        assert!(inside.err().is_some_and(|e| e.to_string().contains("inside the data directory")));
    }

    #[test]
    fn repeated_refusals_are_recorded_a_few_times_then_counted() {
        let refusals = Refusals::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        let decisions: Vec<Refusal> = (0..5).map(|_| refusals.note("anonymous@10.0.0.9", 404, t0).0).collect();
        assert_eq!(decisions, [Refusal::Record, Refusal::Record, Refusal::Count, Refusal::Count, Refusal::Count]);
        assert_eq!(refusals.note("anonymous@10.0.0.9", 401, t0).0, Refusal::Record, "another kind has its own window");
        assert!(refusals.due(Some(t0 + Duration::from_secs(30))).is_empty());
        // The next refusal after the window first yields the digest of the last one.
        let (decision, digests) = refusals.note("anonymous@10.0.0.9", 404, t0 + Duration::from_secs(61));
        assert_eq!(decision, Refusal::Record);
        assert_eq!(digests.len(), 1);
        assert_eq!((digests[0].action.as_str(), digests[0].status, digests[0].count), ("refusals", 404, Some(3)));
        // A digest that could not be written is counted again.
        refusals.restore(&digests[0], t0 + Duration::from_secs(61));
        let due = refusals.due(None);
        assert_eq!(due.iter().filter_map(|d| d.count).sum::<u64>(), 3);
        assert!(refusals.is_empty());
    }

    #[test]
    fn the_refusal_table_stays_bounded_and_loses_no_count() {
        let refusals = Refusals::with_capacity(1, Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for _ in 0..4 {
            refusals.note("first", 401, t0);
        }
        let mut digests = Vec::new();
        for i in 0..100u64 {
            digests.extend(refusals.note(&format!("client-{i}"), 401, t0 + Duration::from_millis(i + 1)).1);
            assert!(refusals.len() <= 3);
        }
        assert_eq!(digests.iter().filter(|d| d.caller == "first").filter_map(|d| d.count).sum::<u64>(), 3, "the evicted client's count is written");
    }
}
