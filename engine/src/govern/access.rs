//! Access control: who the caller is and what they may see.
//!
//! Callers authenticate with a bearer token. The users file (TOML) stores only the sha256 of each
//! token, with the caller's clearance (機密性 level they may read), groups and roles. The rule
//! itself — a passage is visible when its level is at most the clearance and its groups are
//! empty or intersect the caller's — is turned into a [`Filter`] that both search engines apply
//! inside the search, so nothing a caller may not see can shape what they get.
//!
//! Optionally ([`AuthConfig`]) an on-prem SSO reverse proxy names the user in a header; the
//! name is looked up in the same users file, and the header is believed only from a trusted
//! proxy address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::AuthConfig;
use crate::error::{Error, Result};
use crate::model::Filter;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub name: String,
    pub clearance: u8,
    #[serde(default)]
    pub groups: Vec<String>,
    /// `auditor` may read the audit log.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Caller {
    /// The search filter that encodes this caller's rights.
    pub fn filter(&self) -> Filter {
        Filter::for_caller(self.clearance, self.groups.clone())
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: String,
    /// Hex sha256 of the bearer token; may be left out for a user who only logs in through SSO.
    #[serde(default)]
    token_sha256: Option<String>,
    clearance: u8,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    user: Vec<UserEntry>,
}

/// The known callers, by token hash and by name.
#[derive(Debug, Default, Clone)]
pub struct Users {
    by_hash: HashMap<String, Caller>,
    by_name: HashMap<String, Caller>,
}

/// What a request offers as proof of who sent it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The value of the configured SSO header, if configured and present.
    pub sso_user: Option<&'a str>,
    /// The TCP peer, if known.
    pub peer: Option<IpAddr>,
    /// The `Host` header, if any.
    pub host: Option<&'a str>,
}

/// The host name of a `Host` header: without the port, lower case (`[::1]:8080` → `[::1]`).
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    };
    name.to_ascii_lowercase()
}

/// Hex sha256 of a token, as stored in the users file.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Users {
    /// Reads a users file: `[[user]] name, token_sha256, clearance, groups, roles`.
    pub fn load(path: &Path) -> Result<Users> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading users file {}", path.display()), e))?;
        Users::parse(&text).map_err(|e| Error::Index(format!("users file {}: {e}", path.display())))
    }

    fn parse(text: &str) -> std::result::Result<Users, String> {
        let file: UsersFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut by_hash = HashMap::new();
        let mut by_name = HashMap::new();
        for u in file.user {
            if !(1..=3).contains(&u.clearance) {
                return Err(format!("user {}: clearance must be 1, 2 or 3", u.name));
            }
            if u.groups.iter().any(|g| g.trim().is_empty() || g == crate::model::OPEN_GROUP) {
                return Err(format!("user {}: a group name is empty or \"*\" (reserved for documents open to every group)", u.name));
            }
            let caller = Caller { name: u.name.clone(), clearance: u.clearance, groups: u.groups, roles: u.roles };
            if let Some(hash) = u.token_sha256 {
                let hash = hash.to_ascii_lowercase();
                if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!("user {}: token_sha256 must be 64 hex digits", u.name));
                }
                by_hash.insert(hash, caller.clone());
            }
            // SSO names a user; two entries with one name would make that ambiguous.
            if by_name.insert(u.name.clone(), caller).is_some() {
                return Err(format!("user {}: the name appears twice", u.name));
            }
        }
        Ok(Users { by_hash, by_name })
    }

    /// Users whose token is the published development token `dev-<name>` (as in
    /// `fixtures/users.toml`): anyone who has read the project's README can use them.
    pub fn development_tokens(&self) -> Vec<String> {
        let mut names: Vec<String> = self.by_name.keys().filter(|n| self.by_hash.contains_key(&token_hash(&format!("dev-{n}")))).cloned().collect();
        names.sort();
        names
    }

    /// The caller a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> Option<&Caller> {
        self.by_hash.get(&token_hash(token))
    }

    /// Who sent a request. A bearer token, when present, decides alone (a wrong token is
    /// refused even if an SSO header is present too). Otherwise the SSO header is believed only
    /// when SSO is configured and the peer is a trusted proxy, and the name must be in the users
    /// file. `None` means 401.
    pub fn identify(&self, auth: &AuthConfig, creds: &Credentials<'_>) -> Option<Caller> {
        if let Some(value) = creds.authorization {
            // The scheme name is case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` too.
            let (scheme, token) = value.trim_start().split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return None;
            }
            return self.authenticate(token.trim()).cloned();
        }
        auth.sso_header.as_ref()?;
        let name = creds.sso_user?.trim();
        let peer = creds.peer?.to_canonical();
        if !auth.trusted_proxies.iter().any(|p| p.to_canonical() == peer) {
            tracing::warn!(%peer, "SSO header from a peer that is not a trusted proxy; ignored");
            return None;
        }
        let host = creds.host.map(host_name);
        if !host.as_ref().is_some_and(|h| auth.sso_hosts.iter().any(|allowed| host_name(allowed) == *h)) {
            tracing::warn!(host = ?creds.host, "SSO header on a request for a host that is not in auth.sso_hosts; refused");
            return None;
        }
        if name.is_empty() {
            return None;
        }
        let caller = self.by_name.get(name).cloned();
        if caller.is_none() {
            tracing::warn!(user = name, "SSO user not in the users file; refused");
        }
        caller
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// Refused requests per client and minute before the client is refused outright (429).
///
/// Every refused request (401, 403, 404) is audited; a client that keeps guessing tokens or
/// probing ids is, past `max` refusals in a minute, answered 429 without being looked at until the
/// minute is over. Clients are told apart by caller name, or by peer address when the credentials
/// name nobody. A fixed window per client is enough here: the limit only has to make guessing
/// slow and the log short, not shape traffic (a keyed GCRA limiter such as `governor` cannot ask
/// "is this client blocked" without spending a cell).
pub struct FailureLimiter {
    max: u32,
    window: std::time::Duration,
    clients: parking_lot::Mutex<HashMap<String, (std::time::Instant, u32)>>,
}

/// Clients remembered at most: past it expired windows are swept and, when all are still open,
/// the oldest is forgotten, so that many distinct clients cannot grow the table without bound.
const LIMITER_CLIENTS: usize = 10_000;

impl FailureLimiter {
    /// At most `max` refusals per client and `window` (`max` = 0: no limit).
    pub fn new(max: u32, window: std::time::Duration) -> FailureLimiter {
        FailureLimiter { max, window, clients: parking_lot::Mutex::new(HashMap::new()) }
    }

    /// How long `client` must wait, when it has used up its refusals.
    pub fn blocked(&self, client: &str, now: std::time::Instant) -> Option<std::time::Duration> {
        if self.max == 0 {
            return None;
        }
        let clients = self.clients.lock();
        let (start, count) = clients.get(client)?;
        let end = *start + self.window;
        (now < end && *count >= self.max).then(|| end - now)
    }

    /// Clients remembered now.
    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts one refusal of `client`.
    pub fn refused(&self, client: &str, now: std::time::Instant) {
        if self.max == 0 {
            return;
        }
        let mut clients = self.clients.lock();
        if clients.len() >= LIMITER_CLIENTS && !clients.contains_key(client) {
            let window = self.window;
            clients.retain(|_, (start, _)| now < *start + window);
            if clients.len() >= LIMITER_CLIENTS {
                let oldest = clients.iter().min_by_key(|(_, (start, _))| *start).map(|(name, _)| name.clone());
                if let Some(oldest) = oldest {
                    clients.remove(&oldest);
                }
            }
        }
        let entry = clients.entry(client.to_string()).or_insert((now, 0));
        if now >= entry.0 + self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_matched_by_hash() {
        let text = format!(
            "[[user]]\nname = \"a\"\ntoken_sha256 = \"{}\"\nclearance = 2\ngroups = [\"jinji\"]\n",
            token_hash("secret")
        );
        let users = Users::parse(&text).expect("valid file");
        let caller = users.authenticate("secret").expect("known token");
        assert_eq!(caller.clearance, 2);
        assert!(users.authenticate("Secret").is_none());
        assert!(!text.contains("secret\""), "the plain token is not stored");
    }

    #[test]
    fn invalid_entries_are_rejected() {
        assert!(Users::parse("[[user]]\nname=\"a\"\ntoken_sha256=\"00\"\nclearance=1\n").is_err());
        let bad_level = format!("[[user]]\nname=\"a\"\ntoken_sha256=\"{}\"\nclearance=4\n", token_hash("x"));
        assert!(Users::parse(&bad_level).is_err());
        let dev = format!("[[user]]\nname=\"a\"\ntoken_sha256=\"{}\"\nclearance=1\n[[user]]\nname=\"b\"\ntoken_sha256=\"{}\"\nclearance=1\n", token_hash("dev-a"), token_hash("s3cret"));
        assert_eq!(Users::parse(&dev).expect("users").development_tokens(), vec!["a".to_string()]);
        let star = format!("[[user]]\nname=\"a\"\ntoken_sha256=\"{}\"\nclearance=1\ngroups=[\"*\"]\n", token_hash("x"));
        assert!(Users::parse(&star).is_err(), "a user in group * would match every open document's marker");
    }

    #[test]
    fn sso_header_is_believed_only_when_enabled_and_from_a_trusted_proxy() {
        let text = format!(
            "[[user]]\nname = \"tanaka\"\nclearance = 2\ngroups = [\"zaimu\"]\n\n[[user]]\nname = \"svc\"\ntoken_sha256 = \"{}\"\nclearance = 1\n",
            token_hash("svc-token")
        );
        let users = Users::parse(&text).expect("valid file");
        let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
        let sso = |user, peer| Credentials { authorization: None, sso_user: Some(user), peer: Some(peer), host: Some("Shirabe.example.lg.jp:8443") };
        let off = AuthConfig::default();
        assert_eq!(users.identify(&off, &sso("tanaka", loopback)), None, "off by default");
        let on = AuthConfig { sso_header: Some("X-Remote-User".into()), sso_hosts: vec!["shirabe.example.lg.jp".into()], ..AuthConfig::default() };
        let tanaka = users.identify(&on, &sso("tanaka", loopback)).expect("trusted proxy");
        assert_eq!((tanaka.clearance, tanaka.groups.clone()), (2, vec!["zaimu".to_string()]));
        // IPv4-mapped IPv6 loopback is the same peer.
        assert!(users.identify(&on, &sso("tanaka", "::ffff:127.0.0.1".parse().expect("ip"))).is_some());
        assert_eq!(users.identify(&on, &sso("nobody", loopback)), None, "unknown user");
        assert_eq!(users.identify(&on, &sso("", loopback)), None);
        assert_eq!(users.identify(&on, &sso("tanaka", "10.1.2.3".parse().expect("ip"))), None, "untrusted peer");
        // A token still works, and a wrong token is not rescued by the header.
        // DNS rebinding: the proxy's header on a request for another host name is no login.
        let rebound = Credentials { host: Some("evil.example:8443"), ..sso("tanaka", loopback) };
        assert_eq!(users.identify(&on, &rebound), None, "another Host");
        assert_eq!(users.identify(&on, &Credentials { host: None, ..sso("tanaka", loopback) }), None, "no Host");
        let unlisted = AuthConfig { sso_hosts: Vec::new(), ..on.clone() };
        assert_eq!(users.identify(&unlisted, &sso("tanaka", loopback)), None, "no sso_hosts: every SSO request refused");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("Shirabe.Example.LG.JP"), "shirabe.example.lg.jp");
        let bearer = Credentials { authorization: Some("Bearer svc-token"), sso_user: Some("tanaka"), peer: Some(loopback), host: None };
        assert_eq!(users.identify(&on, &bearer).map(|c| c.name), Some("svc".into()));
        let wrong = Credentials { authorization: Some("Bearer nope"), ..bearer };
        assert_eq!(users.identify(&on, &wrong), None);
        for header in ["bearer svc-token", "BEARER  svc-token", "Bearer svc-token "] {
            let c = Credentials { authorization: Some(header), ..bearer };
            assert_eq!(users.identify(&on, &c).map(|c| c.name), Some("svc".into()), "{header:?}");
        }
        for header in ["Basic svc-token", "svc-token", "Bearer"] {
            let c = Credentials { authorization: Some(header), ..bearer };
            assert_eq!(users.identify(&on, &c), None, "{header:?}");
        }
        // SSO looks users up by name, so a name may appear only once.
        assert!(Users::parse("[[user]]\nname=\"a\"\nclearance=1\n[[user]]\nname=\"a\"\nclearance=2\n").is_err(), "duplicate names");
    }

    #[test]
    fn filter_encodes_the_rule() {
        let c = Caller { name: "a".into(), clearance: 2, groups: vec!["zaimu".into()], roles: vec![] };
        let f = c.filter();
        use crate::model::Access;
        assert!(f.allows(&Access { level: 2, groups: vec![] }));
        assert!(f.allows(&Access { level: 1, groups: vec!["zaimu".into()] }));
        assert!(!f.allows(&Access { level: 3, groups: vec![] }));
        assert!(!f.allows(&Access { level: 1, groups: vec!["jinji".into()] }));
    }

    #[test]
    fn refusals_past_the_limit_block_the_client_until_the_window_ends() {
        let limiter = FailureLimiter::new(3, std::time::Duration::from_secs(60));
        let t0 = std::time::Instant::now();
        for i in 0..3 {
            assert_eq!(limiter.blocked("anonymous@10.0.0.9", t0), None, "refusal {i}");
            limiter.refused("anonymous@10.0.0.9", t0);
        }
        let wait = limiter.blocked("anonymous@10.0.0.9", t0 + std::time::Duration::from_secs(10));
        assert_eq!(wait, Some(std::time::Duration::from_secs(50)));
        assert_eq!(limiter.blocked("ippan", t0), None, "other clients are not affected");
        assert_eq!(limiter.blocked("anonymous@10.0.0.9", t0 + std::time::Duration::from_secs(60)), None, "a new window");
        limiter.refused("anonymous@10.0.0.9", t0 + std::time::Duration::from_secs(61));
        assert_eq!(limiter.blocked("anonymous@10.0.0.9", t0 + std::time::Duration::from_secs(62)), None, "the count starts again");
        let off = FailureLimiter::new(0, std::time::Duration::from_secs(60));
        for _ in 0..10 {
            off.refused("x", t0);
        }
        assert_eq!(off.blocked("x", t0), None, "0 turns the limit off");
    }

    #[test]
    fn the_limiter_table_stays_bounded_within_a_window() {
        let limiter = FailureLimiter::new(3, std::time::Duration::from_secs(60));
        let t0 = std::time::Instant::now();
        for i in 0..LIMITER_CLIENTS as u64 * 2 {
            limiter.refused(&format!("anonymous@{i}"), t0 + std::time::Duration::from_micros(i));
        }
        assert!(limiter.len() <= LIMITER_CLIENTS, "{} clients remembered", limiter.len());
    }
}
