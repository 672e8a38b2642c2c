//! The front door and the docs against the code: README is short and opens with the
//! two commands, every link of README.md and docs/ leads somewhere, the settings
//! table is the settings tree (names, defaults, in both directions), and the table
//! of which code serves which route is the route tables.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use apikeys::settings::{Settings, BASE_URL_PATTERN, VARIABLES};
use apikeys_integration_tests::template::{read, repo_root};

/// The markdown files a reader walks: README.md and docs/*.md.
fn markdown_files() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// GitHub's anchor of a heading: lowercase, spaces to `-`, punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// The `[text](target)` links of a markdown text, outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn the_readme_is_a_front_door_that_opens_with_the_two_commands() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines; the rest belongs in docs/"
    );
    let run = readme.find("make run").expect("make run");
    let test = readme.find("make test").expect("make test");
    let first_section = readme.find("\n## ").expect("a section");
    assert!(
        run > first_section && test > run && readme[..test].lines().count() < 25,
        "the two commands come first"
    );
}

#[test]
fn every_link_of_the_readme_and_the_docs_leads_somewhere() {
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let dir = file.parent().unwrap();
        for link in links(&text) {
            if link.starts_with("http://") || link.starts_with("https://") {
                continue;
            }
            let (path, anchor) = match link.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", file.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                let text = std::fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&text).contains(anchor) {
                    broken.push(format!("{}: {link} (no such heading)", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The rows of the table under `## {section}` of README: the cells of each row.
fn table_rows(section: &str) -> Vec<Vec<String>> {
    let readme = read("README.md");
    let start = readme
        .find(&format!("\n{section}\n"))
        .unwrap_or_else(|| panic!("README.md has no {section}"));
    readme[start..]
        .lines()
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn the_settings_table_is_the_settings_tree_in_both_directions() {
    let documented: BTreeMap<String, String> = table_rows("## Settings")
        .into_iter()
        .map(|cells| (cells[0].clone(), cells[1].clone()))
        .collect();
    let in_code: BTreeMap<String, String> = VARIABLES
        .iter()
        .map(|v| (v.name.to_owned(), v.default.to_owned()))
        .collect();
    assert_eq!(documented, in_code, "README's settings table vs VARIABLES");
}

#[test]
fn every_documented_default_is_the_default_of_the_code() {
    // Setting every variable to its documented default changes nothing.
    let defaults = Settings::from_lookup(|_| None).expect("the defaults work");
    let documented = Settings::from_lookup(|name| {
        VARIABLES
            .iter()
            .find(|v| v.name == name && !v.default.starts_with('(') && v.name != BASE_URL_PATTERN)
            .map(|v| v.default.to_owned())
    })
    .expect("the documented defaults work");
    assert_eq!(format!("{defaults:?}"), format!("{documented:?}"));
}

#[test]
fn every_variable_of_the_tree_is_read_by_the_code() {
    use std::sync::Mutex;
    // The names the loaders ask for, over configurations that reach every branch.
    let asked = Mutex::new(BTreeSet::new());
    let configurations: [&[(&str, &str)]; 4] = [
        &[],
        &[
            ("APIKEYS_SEED_CIPHERTEXT", "blob"),
            ("APIKEYS_LEGACY_SEED_CIPHERTEXT", "blob"),
        ],
        &[("APIKEYS_LEGACY_POLICY", "allow")],
        &[
            ("APIKEYS_JWT_ISSUER", "https://issuer.example"),
            ("APIKEYS_JWT_AUDIENCE", "app-client"),
        ],
    ];
    for pairs in configurations {
        let _ = Settings::from_lookup(|name| {
            asked.lock().unwrap().insert(name.to_owned());
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        });
    }
    let asked = asked.into_inner().unwrap();
    let never: Vec<&str> = VARIABLES
        .iter()
        .map(|v| v.name)
        .filter(|n| *n != BASE_URL_PATTERN && !asked.contains(*n))
        .collect();
    assert!(never.is_empty(), "listed but never read: {never:?}");
    for provider in apikeys::provider::ProviderId::ALL {
        let name = provider.entry().base_url_variable;
        assert!(asked.contains(name), "{name} is never read");
        assert!(name.starts_with("APIKEYS_") && name.ends_with("_BASE_URL"));
    }
    // And the other way: every name asked is listed (an alias is asked after its name).
    let listed: BTreeSet<&str> = VARIABLES
        .iter()
        .flat_map(|v| std::iter::once(v.name).chain(v.aliases.iter().copied()))
        .collect();
    let unlisted: Vec<&String> = asked
        .iter()
        .filter(|n| !listed.contains(n.as_str()) && !n.ends_with("_BASE_URL"))
        .collect();
    assert!(unlisted.is_empty(), "read but not listed: {unlisted:?}");
}

#[test]
fn the_table_of_which_code_serves_which_route_is_the_route_tables() {
    let rows = table_rows("### Which code serves which route");
    let mut documented = BTreeSet::new();
    for cells in &rows {
        let route = cells[0].clone();
        if !route.starts_with('/') && !route.contains(" /") {
            continue; // use-key's row: not an HTTP route
        }
        let function = cells[1].split_whitespace().next().unwrap().to_owned();
        for file in [&cells[1], &cells[2]] {
            let path = file
                .split('`')
                .find(|p| p.ends_with(".rs"))
                .or_else(|| file.split(['(', ')']).find(|p| p.ends_with(".rs")))
                .unwrap_or_else(|| panic!("no file in {file}"));
            let path = path.trim_matches(|c| c == '(' || c == ')' || c == '`');
            assert!(
                Path::new(&repo_root()).join(path).exists(),
                "{route}: {path} does not exist"
            );
        }
        documented.insert((route, function));
    }
    let served: BTreeSet<(String, String)> = apikeys::api::route_tables()
        .into_iter()
        .map(|(function, method, pattern)| (format!("{method} {pattern}"), function.to_owned()))
        .collect();
    assert_eq!(documented, served);
}
