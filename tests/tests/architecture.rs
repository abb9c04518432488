//! The layers hold by construction: checked here, not by reading.
//!
//! * Each crate depends only on the layers below it, and the engine builds
//!   without tokio, rustls, reqwest or SQLite (`cargo tree` of each crate
//!   alone: what `cargo build -p` compiles for it).
//! * No module of any crate imports its way back to itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// What `cargo build -p krate` compiles for it (normal dependencies, its
/// own features, this platform): (direct, all) package names.
fn deps_of(krate: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "depth",
            "-p",
            krate,
        ])
        .current_dir(root())
        .output()
        .expect("cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut direct, mut all) = (BTreeSet::new(), BTreeSet::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let depth: String = line.chars().take_while(char::is_ascii_digit).collect();
        let name = line[depth.len()..].split(' ').next().unwrap_or_default();
        if let Ok(d @ 1..) = depth.parse::<u32>() {
            if d == 1 {
                direct.insert(name.to_string());
            }
            all.insert(name.to_string());
        }
    }
    assert!(!all.is_empty(), "cargo tree named nothing for {krate}");
    (direct, all)
}

#[test]
fn each_crate_uses_only_the_layers_below_it_and_the_engine_has_no_io() {
    // Which of Chime's crates each may use, directly.
    let allowed: [(&str, &[&str]); 7] = [
        ("chime-proto", &[]),
        ("chime-engine", &["chime-proto"]),
        ("chime-client", &["chime-proto", "chime-engine"]),
        ("chime-store", &["chime-proto", "chime-engine"]),
        (
            "chime-desktop",
            &["chime-proto", "chime-engine", "chime-client"],
        ),
        ("chime-server", &["chime-proto"]),
        (
            "chime-cli",
            &["chime-proto", "chime-engine", "chime-client"],
        ),
    ];
    for (krate, may) in allowed {
        let (direct, _) = deps_of(krate);
        let ours: BTreeSet<&str> = direct
            .iter()
            .map(String::as_str)
            .filter(|d| d.starts_with("chime-"))
            .collect();
        let may: BTreeSet<&str> = may.iter().copied().collect();
        assert!(
            ours.is_subset(&may),
            "{krate} uses {ours:?}; it may use {may:?}"
        );
    }
    // What each must build without, however deep.
    let io = [
        "tokio",
        "tokio-tungstenite",
        "rustls",
        "reqwest",
        "rusqlite",
    ];
    let forbidden: [(&str, &[&str]); 4] = [
        ("chime-proto", &io),
        ("chime-engine", &io),
        (
            "chime-server",
            &["rusqlite", "tiny-skia", "reqwest", "rustls"],
        ),
        ("chime-cli", &["rusqlite", "tiny-skia", "ab_glyph"]),
    ];
    for (krate, never) in forbidden {
        let (_, all) = deps_of(krate);
        for n in never {
            assert!(!all.contains(*n), "{krate} builds {n}");
        }
    }
}

/// The modules of a crate's `src` (files and directories; not the root).
fn module_imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("src dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let module = |p: &Path| -> Option<String> {
        let rel = p.strip_prefix(src).ok()?;
        let first = rel.components().next()?.as_os_str().to_str()?;
        let name = first.trim_end_matches(".rs");
        (!matches!(name, "lib" | "main" | "bin")).then(|| name.to_string())
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(m) = module(f) else { continue };
        graph.entry(m.clone()).or_default();
        let text = std::fs::read_to_string(f).expect("source");
        // Code only: not the tests at the bottom, not comments.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(list) => list
                        .split('}')
                        .next()
                        .unwrap_or_default()
                        .split(',')
                        .map(|s| s.trim().split("::").next().unwrap_or_default())
                        .collect(),
                    None => vec![rest
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or_default()],
                };
                for n in names {
                    if !n.is_empty() && n != m {
                        graph.entry(m.clone()).or_default().insert(n.to_string());
                    }
                }
            }
        }
    }
    // Only edges to modules (items of the root are glue, not a layer).
    let mods: BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|d| mods.contains(d));
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == n) {
            let mut cycle = path[at..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for d in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_of_any_crate_imports_its_way_back_to_itself() {
    let root = root();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates")
        .flatten()
        .map(|e| e.path().join("src"))
        .collect();
    crates.push(root.join("src-tauri/src"));
    crates.sort();
    assert!(crates.len() >= 8, "{crates:?}");
    let mut modules = 0;
    for src in crates {
        let graph = module_imports(&src);
        modules += graph.len();
        if let Some(cycle) = find_cycle(&graph) {
            panic!("{}: {}", src.display(), cycle.join(" → "));
        }
    }
    assert!(modules > 40, "only {modules} modules found");
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    // The check above must be able to fail.
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(
        find_cycle(&g).map(|c| c.join(" ")),
        Some("a b c a".to_string())
    );
    g.insert("c".to_string(), BTreeSet::new());
    assert_eq!(find_cycle(&g), None);
}
