//! Planning a run: which files are new, changed, unchanged, moved or gone, worked out from the
//! previous generation's manifest and the files found, before anything is extracted or written.
//!
//! [`plan`] is pure (no files, no models), so every case a nightly run meets — a rename, a copy,
//! a file that could not be read this time, a folder that could not be listed, two identical
//! files deleted together — is tested here directly.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::generation::State;
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
    /// Paths in the manifest whose current content cannot be read but whose previous documents
    /// must not stay under their previous label: an unreadable file whose label changed, and
    /// every file under a folder that could not be listed (its labels cannot be checked). Their
    /// documents leave the index until they can be read again. Sorted.
    pub withheld: Vec<String>,
}

/// Compares `found` with the `previous` manifest. `unreadable` holds paths that exist but could
/// not be read this run, with the label they have now: when that label is the one their previous
/// version was indexed under, the previous version stays (neither changed nor deleted); when the
/// label changed, the previous version is withheld, since it would otherwise stay searchable under
/// a label the office has replaced. Every manifest entry under an `unlistable` folder is withheld.
/// A file is unchanged when its content hash and access label are; a new path whose content and
/// label match a vanished one is that file moved.
pub fn plan(previous: &State, found: &[ScannedFile], unreadable: &HashMap<String, Access>, unlistable: &[PathBuf]) -> Plan {
    let seen: HashSet<&str> = found.iter().map(|f| f.key.as_str()).collect();
    let mut plan = Plan::default();
    // Vanished files by content and label; several identical files can vanish together.
    let mut vanished: HashMap<(&str, &Access), Vec<&str>> = HashMap::new();
    for (path, entry) in &previous.files {
        if seen.contains(path.as_str()) {
            continue;
        }
        if unlistable.iter().any(|dir| Path::new(path).starts_with(dir)) {
            plan.withheld.push(path.clone());
            continue;
        }
        match unreadable.get(path) {
            Some(label) if *label == entry.access => {}
            Some(_) => plan.withheld.push(path.clone()),
            None if entry.markings_read => vanished.entry((entry.hash.as_str(), &entry.access)).or_default().push(path.as_str()),
            // Not a move candidate: its documents were never checked for markings.
            None => plan.deleted.push(path.clone()),
        }
    }
    plan.withheld.sort();
    for f in found {
        match previous.files.get(&f.key) {
            // An entry indexed before markings were read is extracted again, once.
            Some(e) if e.hash == f.hash && e.access == f.access && e.markings_read => plan.unchanged.push(f.key.clone()),
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
    plan.deleted.extend(vanished.into_values().flatten().map(str::to_string));
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
            let entry = FileEntry { hash: (*hash).into(), size: 1, access: Access::default(), doc_ids: vec![format!("d-{hash}")], markings_read: true };
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
        let p = plan(&previous, &now, &HashMap::new(), &[]);
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
        let p = plan(&previous, &[found("/s/new.pdf", "h1")], &HashMap::new(), &[]);
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
        let p = plan(&previous, &[moved], &HashMap::new(), &[]);
        assert!(p.moved.is_empty(), "a new label must be written to both stores");
        assert_eq!(p.added, ["/s/secret/new.pdf"]);
        assert_eq!(p.deleted, ["/s/old.pdf"]);
    }

    #[test]
    fn identical_files_deleted_together_are_all_deleted() {
        // Two copies of one file share their documents; both entries must go, or the documents
        // would stay searchable after every copy was deleted.
        let previous = manifest(&[("/s/a.pdf", "h1"), ("/s/copy-of-a.pdf", "h1")]);
        let p = plan(&previous, &[], &HashMap::new(), &[]);
        assert_eq!(p.deleted, ["/s/a.pdf", "/s/copy-of-a.pdf"]);
        // One copy renamed, the other deleted: one move and one deletion.
        let p = plan(&previous, &[found("/s/renamed.pdf", "h1")], &HashMap::new(), &[]);
        assert_eq!(p.moved.len(), 1);
        assert_eq!(p.deleted.len(), 1);
    }

    #[test]
    fn an_unreadable_file_keeps_its_previous_version() {
        let previous = manifest(&[("/s/a.pdf", "h1")]);
        let unreadable: HashMap<String, Access> = [("/s/a.pdf".to_string(), Access::default())].into();
        let p = plan(&previous, &[], &unreadable, &[]);
        assert_eq!(p, Plan::default(), "neither deleted nor changed");
    }

    #[test]
    fn a_file_indexed_before_markings_were_read_is_extracted_again() {
        let mut previous = manifest(&[("/s/a.pdf", "h1"), ("/s/b.pdf", "h2")]);
        for entry in previous.files.values_mut() {
            entry.markings_read = false;
        }
        let p = plan(&previous, &[found("/s/a.pdf", "h1"), found("/s/moved-b.pdf", "h2")], &HashMap::new(), &[]);
        assert_eq!(p.updated, ["/s/a.pdf"], "its documents may be marked stricter than its label");
        assert!(p.moved.is_empty(), "{p:?}");
        assert_eq!(p.added, ["/s/moved-b.pdf"]);
        assert_eq!(p.deleted, ["/s/b.pdf"]);
    }

    #[test]
    fn an_unreadable_file_whose_label_changed_is_withheld() {
        // Relabelled to 3 on the night its bytes became unreadable: the previous documents must
        // not stay searchable under level 1.
        let previous = manifest(&[("/s/a.pdf", "h1"), ("/s/b.pdf", "h2")]);
        let stricter = Access { level: 3, groups: vec!["jinji".into()] };
        let unreadable: HashMap<String, Access> = [("/s/a.pdf".to_string(), stricter)].into();
        let p = plan(&previous, &[found("/s/b.pdf", "h2")], &unreadable, &[]);
        assert_eq!(p.withheld, ["/s/a.pdf"]);
        assert!(p.deleted.is_empty() && p.extract.is_empty() && p.moved.is_empty(), "{p:?}");
        assert_eq!(p.unchanged, ["/s/b.pdf"]);
    }

    #[test]
    fn files_under_an_unlistable_folder_are_withheld_not_moved() {
        let previous = manifest(&[("/s/locked/a.pdf", "h1"), ("/s/locked/deep/b.pdf", "h2"), ("/s/open/c.pdf", "h3"), ("/s/lockedness.pdf", "h4")]);
        // A copy of a.pdf elsewhere must not count as a.pdf moved: a.pdf may still be there.
        let now = [found("/s/open/c.pdf", "h3"), found("/s/lockedness.pdf", "h4"), found("/s/open/copy.pdf", "h1")];
        let p = plan(&previous, &now, &HashMap::new(), &[PathBuf::from("/s/locked")]);
        assert_eq!(p.withheld, ["/s/locked/a.pdf", "/s/locked/deep/b.pdf"]);
        assert!(p.deleted.is_empty() && p.moved.is_empty(), "{p:?}");
        assert_eq!(p.added, ["/s/open/copy.pdf"]);
        assert_eq!(p.unchanged, ["/s/open/c.pdf", "/s/lockedness.pdf"]);
    }
}
