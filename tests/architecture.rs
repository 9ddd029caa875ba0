//! The layers of ARCHITECTURE.md, enforced: every module imports only from the layers below its
//! own (core ← check, store, remote, transport ← engine ← ui ← cli), and no two modules import
//! each other, directly or around a longer loop. Test code (after `#[cfg(test)]`, or a test
//! module's own `tests.rs`) may reach across layers for fixtures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each layer's rank: a module may import a layer of lower rank, or its own layer.
const LAYERS: [(&str, u8); 8] = [
    ("core", 0),
    ("check", 1),
    ("store", 1),
    ("remote", 1),
    ("transport", 1),
    ("engine", 2),
    ("ui", 3),
    ("cli", 4),
];

fn rank(layer: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == layer)
        .map(|(_, rank)| *rank)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// `layer::module` of a source file (`src/engine/apply.rs` → `engine::apply`, `src/check/mod.rs`
/// → `check`), or `None` for the crate root files.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
        .filter(|part| part != "mod")
        .collect();
    (parts.len() >= 2 || relative.iter().count() >= 2)
        .then(|| parts.iter().take(2).cloned().collect::<Vec<_>>().join("::"))
}

/// Every `crate::a::b` path in `code`, as (`a`, `a::b`).
fn crate_paths(code: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let words: Vec<&str> = rest
            .split("::")
            .take(2)
            .map(|word| {
                let end = word
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(word.len());
                &word[..end]
            })
            .collect();
        let layer = words[0].to_owned();
        let module = match words.get(1) {
            // `crate::engine::apply` (a module) or `crate::check::Network` (an item of check)
            Some(word) if word.chars().next().is_some_and(|c| c.is_ascii_lowercase()) => {
                format!("{layer}::{word}")
            }
            _ => layer.clone(),
        };
        found.push((layer, module));
    }
    found
}

#[test]
fn layers_import_only_downwards_and_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut modules = BTreeSet::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let layer = module.split("::").next().unwrap().to_owned();
        let Some(own) = rank(&layer) else {
            panic!("{} is in no layer of ARCHITECTURE.md", file.display());
        };
        modules.insert(module.clone());
        let text = std::fs::read_to_string(file).unwrap();
        // A test module in a file of its own (`tests.rs`, or a file under a `tests/` folder, both
        // declared under `#[cfg(test)]`) is test code from its first line.
        let relative = file.strip_prefix(&src).unwrap();
        let test_file = relative.ends_with("tests.rs")
            || relative
                .parent()
                .is_some_and(|dir| dir.iter().any(|part| part == "tests"));
        let code = if test_file {
            ""
        } else {
            text.split("#[cfg(test)]").next().unwrap()
        };
        for (target_layer, target) in crate_paths(code) {
            let Some(theirs) = rank(&target_layer) else {
                continue;
            };
            if target_layer != layer && theirs >= own {
                wrong.push(format!("{module} imports {target}"));
            }
            // A module's own submodules and its parent `mod.rs` are one unit here.
            if target != module && !module.starts_with(&format!("{target}::")) {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
    assert!(modules.len() > 20, "found only {modules:?}");

    // Depth-first search for a back edge.
    fn visit(
        module: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(module) {
            Some(1) => {
                let start = path.iter().position(|m| m == module).unwrap();
                let mut cycle = path[start..].to_vec();
                cycle.push(module.to_owned());
                return Some(cycle);
            }
            Some(_) => return None,
            None => {}
        }
        state.insert(module.to_owned(), 1);
        path.push(module.to_owned());
        for next in edges.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state.insert(module.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for module in &modules {
        let mut path = Vec::new();
        if let Some(cycle) = visit(module, &edges, &mut state, &mut path) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}
