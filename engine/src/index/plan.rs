//! Planning a run: which files are new, changed, unchanged, moved or gone, worked out from the
//! previous generation's manifest and the files found, before anything is extracted or written.
//!
//! [`plan`] is pure (no files, no models), so every case a nightly run meets — a rename, a copy,
//! a file that could not be read this time, two identical files deleted together — is tested
//! here directly.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::State;
use crate::model::Access;

/// A source file found by the walk, hashed and with its access label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFile {
    pub path: PathBuf,
    /// The manifest key: the absolute path as text.
    pub key: String,
    pub hash: String,
    pub size: u64,
    pub access: Access,
}

/// What a run does to bring the index in line with the files found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Files to extract and write (new and changed ones), in walk order.
    pub extract: Vec<ScannedFile>,
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    /// `(old path, new path)`: the same content and label at a new path, kept without
    /// re-extraction or re-embedding.
    pub moved: Vec<(String, String)>,
    /// Paths in the manifest that were not found (or whose label could not be read): their
    /// documents leave the index. Sorted.
    pub deleted: Vec<String>,
}

/// Compares `found` with the `previous` manifest. `unreadable` holds paths that exist but could
/// not be read this run: their previous version stays, so they are neither changed nor deleted.
/// A file is unchanged when its content hash and access label are; a new path whose content and
/// label match a vanished one is that file moved.
pub fn plan(previous: &State, found: &[ScannedFile], unreadable: &HashSet<String>) -> Plan {
    let seen: HashSet<&str> = found.iter().map(|f| f.key.as_str()).collect();
    // Vanished files by content and label; several identical files can vanish together.
    let mut vanished: HashMap<(&str, &Access), Vec<&str>> = HashMap::new();
    for (path, entry) in &previous.files {
        if !seen.contains(path.as_str()) && !unreadable.contains(path) {
            vanished.entry((entry.hash.as_str(), &entry.access)).or_default().push(path.as_str());
        }
    }
    let mut plan = Plan::default();
    for f in found {
        match previous.files.get(&f.key) {
            Some(e) if e.hash == f.hash && e.access == f.access => plan.unchanged.push(f.key.clone()),
            Some(_) => {
                plan.updated.push(f.key.clone());
                plan.extract.push(f.clone());
            }
            None => match vanished.get_mut(&(f.hash.as_str(), &f.access)).and_then(Vec::pop) {
                Some(old) => plan.moved.push((old.to_string(), f.key.clone())),
                None => {
                    plan.added.push(f.key.clone());
                    plan.extract.push(f.clone());
                }
            },
        }
    }
    plan.deleted = vanished.into_values().flatten().map(str::to_string).collect();
    plan.deleted.sort();
    plan
}

/// Applies the moves of a plan to a manifest: each moved file's entry and documents take the new
/// path.
pub fn apply_moves(state: &mut State, moved: &[(String, String)]) {
    for (old, new) in moved {
        if let Some(entry) = state.files.remove(old) {
            for id in &entry.doc_ids {
                if let Some(d) = state.documents.get_mut(id) {
                    d.source_path = new.clone();
                }
            }
            state.files.insert(new.clone(), entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::FileEntry;

    fn found(path: &str, hash: &str) -> ScannedFile {
        ScannedFile { path: PathBuf::from(path), key: path.into(), hash: hash.into(), size: 1, access: Access::default() }
    }

    fn manifest(files: &[(&str, &str)]) -> State {
        let mut state = State::default();
        for (path, hash) in files {
            let entry = FileEntry { hash: (*hash).into(), size: 1, access: Access::default(), doc_ids: vec![format!("d-{hash}")] };
            state.files.insert((*path).into(), entry);
        }
        state
    }

    fn keys(files: &[ScannedFile]) -> Vec<&str> {
        files.iter().map(|f| f.key.as_str()).collect()
    }

    #[test]
    fn new_changed_unchanged_and_deleted_files() {
        let previous = manifest(&[("/s/a.pdf", "h1"), ("/s/b.pdf", "h2"), ("/s/c.pdf", "h3")]);
        let now = [found("/s/a.pdf", "h1"), found("/s/b.pdf", "h2-new"), found("/s/d.pdf", "h4")];
        let p = plan(&previous, &now, &HashSet::new());
        assert_eq!(p.unchanged, ["/s/a.pdf"]);
        assert_eq!(p.updated, ["/s/b.pdf"]);
        assert_eq!(p.added, ["/s/d.pdf"]);
        assert_eq!(p.deleted, ["/s/c.pdf"]);
        assert_eq!(keys(&p.extract), ["/s/b.pdf", "/s/d.pdf"], "only new and changed files are extracted, in walk order");
        assert!(p.moved.is_empty());
    }

    #[test]
    fn a_renamed_file_is_moved_not_extracted_again() {
        let previous = manifest(&[("/s/old.pdf", "h1")]);
        let p = plan(&previous, &[found("/s/new.pdf", "h1")], &HashSet::new());
        assert_eq!(p.moved, [("/s/old.pdf".to_string(), "/s/new.pdf".to_string())]);
        assert!(p.extract.is_empty() && p.deleted.is_empty() && p.added.is_empty());
        let mut state = previous.clone();
        let doc: crate::model::Document = serde_json::from_value(serde_json::json!({
            "id": "d-h1", "title": "t", "doc_type": "circular", "issuer": null, "issued": null, "number": null,
            "source_path": "/s/old.pdf", "content_hash": "h1", "access": {"level": 1, "groups": []}
        }))
        .expect("a document");
        state.documents.insert("d-h1".into(), doc);
        apply_moves(&mut state, &p.moved);
        assert!(state.files.contains_key("/s/new.pdf") && !state.files.contains_key("/s/old.pdf"));
        assert_eq!(state.documents["d-h1"].source_path, "/s/new.pdf");
    }

    #[test]
    fn a_move_needs_the_same_access_label() {
        let previous = manifest(&[("/s/old.pdf", "h1")]);
        let mut moved = found("/s/secret/new.pdf", "h1");
        moved.access.level = 3;
        let p = plan(&previous, &[moved], &HashSet::new());
        assert!(p.moved.is_empty(), "a new label must be written to both stores");
        assert_eq!(p.added, ["/s/secret/new.pdf"]);
        assert_eq!(p.deleted, ["/s/old.pdf"]);
    }

    #[test]
    fn identical_files_deleted_together_are_all_deleted() {
        // Two copies of one file share their documents; both entries must go, or the documents
        // would stay searchable after every copy was deleted.
        let previous = manifest(&[("/s/a.pdf", "h1"), ("/s/copy-of-a.pdf", "h1")]);
        let p = plan(&previous, &[], &HashSet::new());
        assert_eq!(p.deleted, ["/s/a.pdf", "/s/copy-of-a.pdf"]);
        // One copy renamed, the other deleted: one move and one deletion.
        let p = plan(&previous, &[found("/s/renamed.pdf", "h1")], &HashSet::new());
        assert_eq!(p.moved.len(), 1);
        assert_eq!(p.deleted.len(), 1);
    }

    #[test]
    fn an_unreadable_file_keeps_its_previous_version() {
        let previous = manifest(&[("/s/a.pdf", "h1")]);
        let unreadable: HashSet<String> = ["/s/a.pdf".to_string()].into();
        let p = plan(&previous, &[], &unreadable);
        assert_eq!(p, Plan::default(), "neither deleted nor changed");
    }
}
