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

/// Every function folder at the repository root (a folder with a `function.json`) is named in
/// each page that lists them, and the README's count is right.
#[test]
fn the_docs_list_every_function_folder() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut folders: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("function.json").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert!(folders.len() >= 10, "{folders:?}");
    for page in ["README.md", "ARCHITECTURE.md", "docs/azure.md"] {
        let text = std::fs::read_to_string(root.join(page)).unwrap();
        for f in &folders {
            assert!(
                text.contains(&format!("{f}/")),
                "{page} does not name the function folder {f}/"
            );
        }
    }
    let words = [
        "", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
    ];
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("the {} function folders", words[folders.len()])),
        "README.md should say \"the {} function folders\"",
        words[folders.len()]
    );
}
