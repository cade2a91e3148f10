//! The crate map of ARCHITECTURE.md is the law: every workspace crate
//! depends only on the workspace crates its row allows, and the crates
//! marked burn-free (what a user copies onto the device) do not link burn,
//! not even through another crate. Read from `cargo metadata`, so a
//! dependency added in any Cargo.toml that breaks the map fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde::Deserialize;

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    resolve: Resolve,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
struct Dependency {
    name: String,
    kind: Option<String>,
    path: Option<String>,
}

#[derive(Deserialize)]
struct Resolve {
    nodes: Vec<Node>,
}

#[derive(Deserialize)]
struct Node {
    id: String,
    deps: Vec<NodeDep>,
}

#[derive(Deserialize)]
struct NodeDep {
    pkg: String,
    dep_kinds: Vec<DepKind>,
}

#[derive(Deserialize)]
struct DepKind {
    kind: Option<String>,
}

/// One row of ARCHITECTURE.md's crate table.
struct Rule {
    allowed: BTreeSet<String>,
    burn_free: bool,
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The table under "## Crate map" in ARCHITECTURE.md:
/// `| \`crate\` | \`dep\`, \`dep\` | burn-free? | …`.
fn rules() -> BTreeMap<String, Rule> {
    let text = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
    let section = text
        .split("\n## Crate map")
        .nth(1)
        .expect("ARCHITECTURE.md has a \"## Crate map\" section");
    let names = |cell: &str| -> BTreeSet<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut rules = BTreeMap::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(name) = names(cells[1]).into_iter().next() else {
            continue; // header and separator rows
        };
        let burn = cells[3].to_lowercase();
        assert!(
            burn == "yes" || burn == "no",
            "ARCHITECTURE.md: the burn column of {name} must say yes or no, not {burn:?}"
        );
        rules.insert(
            name,
            Rule {
                allowed: names(cells[2]),
                burn_free: burn == "no",
            },
        );
    }
    rules
}

/// The host's target triple (`rustc -vV`): metadata is resolved for the
/// machine the binaries are built on, without fetching other platforms'
/// crates.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().expect("rustc runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

fn metadata() -> Metadata {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host_triple()])
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON")
}

#[test]
fn every_crate_depends_only_on_what_architecture_md_allows() {
    let rules = rules();
    let meta = metadata();
    let members: BTreeSet<&String> = meta.workspace_members.iter().collect();
    let mut checked = 0;
    for package in meta.packages.iter().filter(|p| members.contains(&p.id)) {
        let rule = rules.get(&package.name).unwrap_or_else(|| {
            panic!(
                "workspace crate {} has no row in ARCHITECTURE.md's crate map",
                package.name
            )
        });
        for dep in &package.dependencies {
            let internal = dep.path.is_some();
            let normal = dep.kind.is_none() || dep.kind.as_deref() == Some("build");
            if internal && normal {
                assert!(
                    rule.allowed.contains(&dep.name),
                    "{} depends on {}, which ARCHITECTURE.md does not allow (allowed: {:?})",
                    package.name,
                    dep.name,
                    rule.allowed
                );
            }
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        rules.len(),
        "ARCHITECTURE.md lists crates that do not exist"
    );
}

#[test]
fn burn_free_crates_do_not_link_burn() {
    let rules = rules();
    let meta = metadata();
    let names: BTreeMap<&str, &str> = meta
        .packages
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    let nodes: BTreeMap<&str, &Node> = meta
        .resolve
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n))
        .collect();
    let mut burn_free = 0;
    for package in meta
        .packages
        .iter()
        .filter(|p| meta.workspace_members.contains(&p.id))
    {
        if !rules[&package.name].burn_free {
            continue;
        }
        // Everything the crate links: normal and build dependencies, all
        // the way down (dev-dependencies only build its tests).
        let mut seen = BTreeSet::new();
        let mut stack = vec![(package.id.as_str(), vec![package.name.as_str()])];
        while let Some((id, path)) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            let name = names[id];
            assert!(
                !name.starts_with("burn"),
                "{} must not link burn, but links it through {}",
                package.name,
                path.join(" → ")
            );
            for dep in &nodes[id].deps {
                if dep
                    .dep_kinds
                    .iter()
                    .any(|k| k.kind.as_deref() != Some("dev"))
                {
                    let mut next = path.clone();
                    next.push(names[dep.pkg.as_str()]);
                    stack.push((dep.pkg.as_str(), next));
                }
            }
        }
        burn_free += 1;
    }
    assert!(
        burn_free >= 4,
        "the crate map marks only {burn_free} crates burn-free"
    );
}
