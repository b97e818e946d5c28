//! `topten`: the command-line tool. This file only parses arguments, sets up logging and
//! maps errors to exit codes; each subcommand lives in `cmd/<name>.rs`.
//!
//! # Layout
//! - `cmd/`: one module per subcommand, each with its `Args` and `run` (`cmd/store.rs` holds
//!   the store commands: publish, versions, activate, rollback, prune).
//! - `plot`: the PNG charts of `topten report`.
//! - `progress`: indicatif progress bars on stderr (hidden when it is not a terminal).

mod cmd;
mod plot;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// topten: real-time top-10 recommendations. Train ALS models, evaluate them, publish
/// precomputed recommendations and serve them.
#[derive(Parser)]
#[command(name = "topten", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log level filter (error, warn, info, debug, trace), or a tracing directive.
    #[arg(
        long,
        global = true,
        env = "TOPTEN_LOG",
        default_value = "info,azure_core=warn,typespec_client_core=warn"
    )]
    log: String,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Split a ratings file into DIR/train.tsv and DIR/test.tsv.
    Split(cmd::split::Args),
    /// Train an ALS model, evaluate it and write the model directory.
    Train(cmd::train::Args),
    /// Search hyperparameters on a validation split of the training data, refit the best.
    Tune(cmd::tune::Args),
    /// Score any recommendation (and prediction) file against a test file.
    Evaluate(cmd::evaluate::Args),
    /// Import a model Spark trained (ALSModel.save(), optional id indexes) as a model directory.
    ImportSpark(cmd::import_spark::Args),
    /// Print top-k recommendations from a model directory.
    Recommend(cmd::recommend::Args),
    /// Print predicted scores for (user, item) pairs.
    Predict(cmd::predict::Args),
    /// Write an HTML report (and PNG plots) of a model: loss, metrics at k, tuning, coverage.
    Report(cmd::report::Args),
    /// Publish a model as a new version of precomputed recommendations and activate it.
    Publish(cmd::store::PublishArgs),
    /// List the versions in a store (* marks the active one).
    Versions(cmd::store::VersionsArgs),
    /// Make a version the active one.
    Activate(cmd::store::ActivateArgs),
    /// Compare a candidate version with the active one on a share of live traffic
    /// (start, status, stop, promote).
    Experiment(cmd::experiment::Args),
    /// Re-activate the previously active version.
    Rollback(cmd::store::RollbackArgs),
    /// Delete old versions.
    Prune(cmd::store::PruneArgs),
    /// Forget users: their events, their lists and histories in every version, and a tombstone
    /// that keeps later retrains from learning them again.
    Forget(cmd::forget::Args),
    /// Delete what is past retention now (TOPTEN_EVENTS_RETENTION and friends), one pass.
    Retention(cmd::forget::RetentionArgs),
    /// Shrink an embedded store file after prune (compacting copy, atomically swapped).
    Compact(cmd::compact::Args),
    /// Serve the recommendation API (the Azure Functions handler) locally.
    Serve(cmd::serve::Args),
    /// Write the active version (users' lists, popular list) as a compact read-only snapshot file.
    ExportSnapshot(cmd::export_snapshot::Args),
    /// Retrain, compare with the active version, publish only if not worse (the timer job).
    Retrain(cmd::retrain::Args),
    /// Write a synthetic ratings file (power-law popularity, hidden taste model).
    Synth(cmd::synth::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_json);
    let result = match cli.command {
        Command::Split(a) => cmd::split::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::ImportSpark(a) => cmd::import_spark::run(a),
        Command::Tune(a) => cmd::tune::run(a),
        Command::Evaluate(a) => cmd::evaluate::run(a),
        Command::Recommend(a) => cmd::recommend::run(a),
        Command::Predict(a) => cmd::predict::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Publish(a) => cmd::store::publish(a),
        Command::Versions(a) => cmd::store::versions(a),
        Command::Activate(a) => cmd::store::activate(a),
        Command::Rollback(a) => cmd::store::rollback(a),
        Command::Experiment(a) => cmd::experiment::run(a),
        Command::Prune(a) => cmd::store::prune(a),
        Command::Forget(a) => cmd::forget::run(a),
        Command::Retention(a) => cmd::forget::retention(a),
        Command::Compact(a) => cmd::compact::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::ExportSnapshot(a) => cmd::export_snapshot::run(a),
        Command::Retrain(a) => cmd::retrain::run(a),
        Command::Synth(a) => cmd::synth::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`topten versions | head -1`) is how a reader says "enough": exit
            // quietly and successfully, as ripgrep does.
            let broken_pipe = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", error_message(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: many errors already include their
/// source's text in their own message, and printing the chain again would repeat it.
fn error_message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg
}

fn init_logging(filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.compact().init();
    }
}
