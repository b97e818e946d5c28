//! The settings the handler reads, held against what the docs say: every setting of
//! [`Config`] has a row in the settings table of `docs/guide.md` with the same default, every
//! row names a real setting, and [`Config::default`] equals what the flags give when nothing is
//! set. Also the function folders the docs list, against the folders that exist.

use clap::{Args, Command, FromArgMatches};
use topten_functions::Config;

/// Settings in the table that the binaries read themselves, not through [`Config`].
const OUTSIDE_CONFIG: &[&str] = &[
    "TOPTEN_LOG",
    "RETRAIN_SCHEDULE",
    "FUNCTIONS_CUSTOMHANDLER_PORT",
    "TOPTEN_BIND",
    // Read once per process by `answer_counter::AnswerCounter::instance_id`.
    "TOPTEN_INSTANCE_ID",
];

fn command() -> Command {
    Config::augment_args(Command::new("handler"))
}

/// `(setting, default)` of every [`Config`] field, as clap states them (`-` for none).
fn config_settings() -> Vec<(String, String)> {
    command()
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_str()?.to_owned();
            let default = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(",");
            Some((
                env,
                if default.is_empty() {
                    "-".into()
                } else {
                    default
                },
            ))
        })
        .collect()
}

/// `(setting, default)` from the rows of the "## Settings" table of docs/guide.md; a row may
/// name several settings (`A` / `B` or `A`, `B`) with as many defaults.
fn documented_settings() -> Vec<(String, String)> {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/guide.md"))
        .expect("docs/guide.md");
    let section = guide
        .split("\n## Settings\n")
        .nth(1)
        .expect("a Settings section in docs/guide.md");
    let section = section.split("\n## ").next().unwrap();
    let table = section
        .split("\n\n")
        .find(|block| block.contains("| app setting | default | meaning |"))
        .expect("the app settings table");
    let split = |cell: &str| -> Vec<String> {
        cell.split(" / ")
            .flat_map(|p| p.split(", "))
            .map(|p| p.trim().trim_matches('`').to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    };
    let mut out = Vec::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let names = split(cells[0].trim_start_matches("| "));
        let defaults = split(cells[1]);
        assert!(
            defaults.len() == names.len() || defaults == ["-"],
            "row {row:?}: {} settings but {} defaults",
            names.len(),
            defaults.len()
        );
        for (i, name) in names.into_iter().enumerate() {
            let default = defaults.get(i).cloned().unwrap_or_else(|| "-".into());
            out.push((name, default));
        }
    }
    out
}

#[test]
fn every_setting_is_documented_with_its_default() {
    let documented = documented_settings();
    for (env, default) in config_settings() {
        let Some((_, doc_default)) = documented.iter().find(|(n, _)| *n == env) else {
            panic!("{env} is a setting of Config but has no row in the docs/guide.md table");
        };
        assert_eq!(
            doc_default, &default,
            "{env}: docs/guide.md says the default is {doc_default}, Config says {default}"
        );
    }
}

#[test]
fn every_documented_setting_exists() {
    let real: Vec<String> = config_settings().into_iter().map(|(e, _)| e).collect();
    for (name, _) in documented_settings() {
        assert!(
            real.contains(&name) || OUTSIDE_CONFIG.contains(&name.as_str()),
            "docs/guide.md documents {name}, which nothing reads"
        );
    }
}

#[test]
fn config_default_equals_the_flag_defaults() {
    for (env, _) in config_settings() {
        std::env::remove_var(env);
    }
    let matches = command().try_get_matches_from(["handler"]).unwrap();
    let parsed = Config::from_arg_matches(&matches).unwrap();
    assert_eq!(parsed, Config::default());
}

#[test]
fn a_mistyped_retrain_setting_fails_at_start() {
    for (flag, value) in [
        ("--quality-metric", "ndcg@10"),
        ("--retrain-model", "implict"),
    ] {
        let err = command()
            .try_get_matches_from(["handler", flag, value])
            .map(|m| Config::from_arg_matches(&m))
            .err()
            .unwrap_or_else(|| panic!("{flag} {value} was accepted"));
        assert!(err.to_string().contains(value), "{err}");
    }
    // A hyperparameters file that cannot be used stops the start, with the setting's name.
    let config = Config {
        retrain_params: Some("/nonexistent/tuning.json".into()),
        ..Config::default()
    };
    let err = config.validate().unwrap_err();
    assert!(err.starts_with("RETRAIN_PARAMS"), "{err}");
    assert!(Config::default().validate().is_ok());
}

/// The route table of `docs/api.md` is the service's: the same routes, each with its access
/// rule and its Azure function (the table in `route_table.rs` generates everything else).
#[test]
fn the_docs_route_table_is_the_route_table() {
    use topten_functions::route_table::{Trigger, ROUTES};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let api = std::fs::read_to_string(root.join("docs/api.md")).unwrap();
    let section = api
        .split("\n## Routes\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/api.md has a Routes section");
    let mut documented: Vec<(String, String, String)> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let route = cells[0].trim_start_matches("| `").trim_end_matches('`');
            let route = route.split('?').next().unwrap().to_owned();
            let function = cells[2].trim().to_owned();
            (route, cells[1].trim().to_owned(), function)
        })
        .collect();
    let mut table: Vec<(String, String, String)> = ROUTES
        .iter()
        .map(|r| {
            let function = match r.trigger {
                Trigger::None => "-".to_owned(),
                Trigger::Http {
                    auth_level: "anonymous",
                } => format!("`{}` (anonymous)", r.function),
                Trigger::Http { .. } => format!("`{}`", r.function),
                Trigger::Timer { .. } => format!("`{}` (timer)", r.function),
            };
            (
                format!("{} {}", r.verb.as_str(), r.public_path()),
                r.access.label().to_owned(),
                function,
            )
        })
        .collect();
    documented.sort();
    table.sort();
    assert_eq!(
        documented, table,
        "docs/api.md's Routes table against route_table::ROUTES"
    );
    // Function folders are generated into the package, so no page may send a reader to the
    // repository root for them.
    for page in [
        "README.md",
        "ARCHITECTURE.md",
        "docs/azure.md",
        "docs/api.md",
    ] {
        let text = std::fs::read_to_string(root.join(page)).unwrap();
        assert!(
            !text.contains("function folders at the repository root")
                && !text.contains("function folder at the repository root"),
            "{page} still places function folders at the repository root"
        );
    }
}

/// Every relative link of the front pages and the docs points at a file that exists (files
/// move; links must move with them), and every crate of the workspace is in ARCHITECTURE.md's
/// Crates table with a link to its Layout doc, which opens with a `# Layout` section (unless the
/// crate is one file).
#[test]
fn links_and_the_crates_table_follow_the_files() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut pages = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if !page.parent().unwrap().join(target).exists() {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links: {broken:#?}");

    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .unwrap();
    for member in members.split(',').map(|m| m.trim().trim_matches('"')) {
        let entry = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|f| format!("{member}/{f}"))
            .find(|f| architecture.contains(&format!("]({f})")))
            .unwrap_or_else(|| panic!("ARCHITECTURE.md's Crates table does not link {member}/"));
        let doc = std::fs::read_to_string(root.join(&entry)).unwrap();
        // A one-file crate is its own layout.
        let files = std::fs::read_dir(root.join(member).join("src"))
            .unwrap()
            .count();
        assert!(
            files == 1
                || doc
                    .lines()
                    .take_while(|l| l.starts_with("//!"))
                    .any(|l| l.trim() == "//! # Layout"),
            "{entry} does not open with a `# Layout` section"
        );
    }
}
