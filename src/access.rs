//! Access control: who the caller is and what they may see.
//!
//! Callers authenticate with a bearer token. The users file (TOML) stores only the sha256 of each
//! token, with the caller's clearance (機密性 level they may read), groups and roles. The rule
//! itself — a passage is visible when its level is at most the clearance and its groups are
//! empty or intersect the caller's — is turned into a [`Filter`] that both search engines apply
//! inside the search, so nothing a caller may not see can shape what they get.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// Hex sha256 of the bearer token.
    token_sha256: String,
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

/// The known callers, by token hash.
#[derive(Debug, Default, Clone)]
pub struct Users {
    by_hash: HashMap<String, Caller>,
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
        for u in file.user {
            if !(1..=3).contains(&u.clearance) {
                return Err(format!("user {}: clearance must be 1, 2 or 3", u.name));
            }
            let hash = u.token_sha256.to_ascii_lowercase();
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!("user {}: token_sha256 must be 64 hex digits", u.name));
            }
            by_hash.insert(hash, Caller { name: u.name, clearance: u.clearance, groups: u.groups, roles: u.roles });
        }
        Ok(Users { by_hash })
    }

    /// The caller a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> Option<&Caller> {
        self.by_hash.get(&token_hash(token))
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
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
}
