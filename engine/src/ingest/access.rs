//! Who may see a file: access rules that live beside the documents on the share.
//!
//! Offices manage access where they manage the files, so the rules are files too: a sidecar
//! `<file>.access.toml` for one document, or an `_access.toml` for a folder and everything below
//! it. Precedence, field by field: sidecar, then the nearest `_access.toml` (the file's folder or
//! the closest ancestor up to the source root), then the configured default. Both files hold
//! `level = 1..=3` and/or `groups = ["…"]`; an invalid value is an error rather than a silent
//! fallback, because a typo must not make a 機密性3 file visible to everyone.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::IngestError;
use crate::model::Access;

/// Suffix of a per-file rule: `報告書.pdf.access.toml`.
pub const SIDECAR_SUFFIX: &str = ".access.toml";
/// Name of a per-folder rule.
pub const RULES_FILE: &str = "_access.toml";

/// Rule files larger than this are not rule files.
const MAX_RULE_BYTES: u64 = 64 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    level: Option<i64>,
    groups: Option<Vec<String>>,
}

fn read_rule(path: &Path) -> Result<Option<RuleFile>, IngestError> {
    let err = |detail: String| IngestError::Access {
        path: path.to_path_buf(),
        detail,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(IngestError::Io {
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    if meta.len() > MAX_RULE_BYTES {
        return Err(err(format!(
            "{} bytes; a rule file is at most {MAX_RULE_BYTES}",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| IngestError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| err("not UTF-8".into()))?;
    let rule: RuleFile = toml::from_str(&text).map_err(|e| err(e.message().to_string()))?;
    if let Some(level) = rule.level {
        if !(1..=3).contains(&level) {
            return Err(err(format!("level = {level}; it must be 1, 2 or 3")));
        }
    }
    if let Some(groups) = &rule.groups {
        if groups.iter().any(|g| g.trim().is_empty()) {
            return Err(err("groups contains an empty name".into()));
        }
        // `*` is how the keyword index marks a document open to every group; as a label it
        // would mean "everyone" on the keyword side and "nobody" on the vector side.
        if groups.iter().any(|g| g.trim() == crate::keyword::OPEN_GROUP) {
            return Err(err("groups contains \"*\", which is reserved: leave groups out to open a document to every group".into()));
        }
    }
    Ok(Some(rule))
}

fn apply(access: &mut Access, rule: RuleFile) {
    if let Some(level) = rule.level.and_then(|l| u8::try_from(l).ok()) {
        access.level = level;
    }
    if let Some(groups) = rule.groups {
        let mut groups: Vec<String> = groups.into_iter().map(|g| g.trim().to_string()).collect();
        groups.sort();
        groups.dedup();
        access.groups = groups;
    }
}

/// The nearest `_access.toml` from the file's folder up to `root` (inclusive).
fn nearest_folder_rule(root: &Path, file: &Path) -> Option<PathBuf> {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if !d.starts_with(root) {
            break;
        }
        let candidate = d.join(RULES_FILE);
        if candidate.is_file() {
            return Some(candidate);
        }
        if d == root {
            break;
        }
        dir = d.parent();
    }
    None
}

/// The access label of `file` (absolute, or relative to `root`): sidecar beats the nearest
/// folder rule beats `default`, field by field.
pub fn resolve_access(root: &Path, file: &Path, default: &Access) -> Result<Access, IngestError> {
    let file: PathBuf = if file.is_absolute() || file.starts_with(root) {
        file.to_path_buf()
    } else {
        root.join(file)
    };
    let mut access = default.clone();
    if let Some(rule_path) = nearest_folder_rule(root, &file) {
        if let Some(rule) = read_rule(&rule_path)? {
            apply(&mut access, rule);
        }
    }
    let mut sidecar = file.clone().into_os_string();
    sidecar.push(SIDECAR_SUFFIX);
    if let Some(rule) = read_rule(Path::new(&sidecar))? {
        apply(&mut access, rule);
    }
    Ok(access)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_util::TempDir;

    fn acc(level: u8, groups: &[&str]) -> Access {
        Access {
            level,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn precedence_sidecar_folder_default() {
        let dir = TempDir::new("access");
        let root = dir.path().to_path_buf();
        dir.write("a/b/doc.pdf", b"%PDF-");
        dir.write("a/other.pdf", b"%PDF-");
        dir.write("top.pdf", b"%PDF-");
        dir.write("_access.toml", "level = 2\n");
        dir.write(
            "a/b/_access.toml",
            "level = 3\ngroups = [\"jinji\", \"somu\", \"jinji\"]\n",
        );
        dir.write("a/b/doc.pdf.access.toml", "groups = [\"hisho\"]\n");
        let default = acc(1, &[]);
        // sidecar's groups, folder's level
        assert_eq!(
            resolve_access(&root, &root.join("a/b/doc.pdf"), &default).unwrap(),
            acc(3, &["hisho"])
        );
        // nearest folder rule is the root one
        assert_eq!(
            resolve_access(&root, &root.join("a/other.pdf"), &default).unwrap(),
            acc(2, &[])
        );
        // relative path
        assert_eq!(
            resolve_access(&root, Path::new("top.pdf"), &default).unwrap(),
            acc(2, &[])
        );
        std::fs::remove_file(root.join("a/b/doc.pdf.access.toml")).unwrap();
        assert_eq!(
            resolve_access(&root, &root.join("a/b/doc.pdf"), &default).unwrap(),
            acc(3, &["jinji", "somu"])
        );
    }

    #[test]
    fn default_when_no_rules() {
        let dir = TempDir::new("access-default");
        dir.write("x.md", "# x");
        let default = acc(2, &["all"]);
        assert_eq!(resolve_access(dir.path(), &dir.path().join("x.md"), &default).unwrap(), default);
    }

    #[test]
    fn rules_above_root_are_ignored() {
        let dir = TempDir::new("access-root");
        dir.write("_access.toml", "level = 3\n");
        dir.write("share/doc.txt", "本文");
        let root = dir.path().join("share");
        assert_eq!(
            resolve_access(&root, &root.join("doc.txt"), &acc(1, &[])).unwrap(),
            acc(1, &[])
        );
    }

    #[test]
    fn invalid_rules_are_clear_errors() {
        let dir = TempDir::new("access-bad");
        dir.write("doc.txt", "本文");
        for (body, needle) in [
            ("level = 4", "must be 1, 2 or 3"),
            ("level = 0", "must be 1, 2 or 3"),
            ("group = [\"a\"]", "unknown field"),
            ("level = \"high\"", "invalid type"),
            ("groups = [\"\"]", "empty"),
            ("groups = [\"*\"]", "reserved"),
            ("groups = [\"jinji\", \" * \"]", "reserved"),
        ] {
            dir.write("doc.txt.access.toml", body);
            let err = resolve_access(dir.path(), &dir.path().join("doc.txt"), &Access::default()).unwrap_err();
            assert!(matches!(err, IngestError::Access { .. }), "{body}: {err}");
            assert!(err.to_string().contains(needle), "{body}: {err}");
            assert!(err.to_string().contains("doc.txt.access.toml"), "{err}");
        }
    }
}
