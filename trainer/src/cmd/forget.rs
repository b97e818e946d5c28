//! `topten forget` (forget users: GDPR article 17) and `topten retention` (one retention pass
//! now, for a store no server sweeps, or from cron).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use topten_live::forget;
use topten_live::retention::{self, Retention};
use topten_model::clock::now_ms;

use super::store::{runtime, StoreArgs};

/// `topten forget`.
#[derive(ClapArgs)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    /// A user to forget (repeat for more).
    #[arg(long = "user", value_name = "ID")]
    pub users: Vec<String>,
    /// A file of user ids to forget, one per line (blank lines are skipped).
    #[arg(long = "users", value_name = "FILE")]
    pub users_file: Option<PathBuf>,
}

/// Runs `forget`: one JSON line per user, what was deleted.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut users = args.users.clone();
    if let Some(path) = &args.users_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        users.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    anyhow::ensure!(
        !users.is_empty(),
        "name users with --user ID or --users FILE"
    );
    for (i, user) in users.iter().enumerate() {
        topten_model::ids::check(topten_model::ids::IdKind::User, user)
            .map_err(|e| anyhow::anyhow!("user {} ({user:?}): {}", i + 1, e.0))?;
    }
    let store = args.store.open_writable("forgetting users")?;
    let rt = runtime()?;
    let bar = crate::progress::bar(users.len() as u64, "forgetting users");
    for user in &users {
        let done = rt.block_on(forget::forget_user(store.as_ref(), user, now_ms()))?;
        topten_functions::routes::users::audit("topten forget", &done);
        super::outln!("{}", serde_json::to_string(&done)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// `topten retention`.
#[derive(ClapArgs)]
pub struct RetentionArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs `retention`: one pass with the `TOPTEN_*_RETENTION` settings, printing what it deleted.
pub fn retention(args: RetentionArgs) -> anyhow::Result<()> {
    let settings = Retention::from_env()?;
    anyhow::ensure!(
        settings.is_set(),
        "no retention is set: set TOPTEN_EVENTS_RETENTION, TOPTEN_ITEM_CHANGES_RETENTION or \
         TOPTEN_ANSWER_COUNTS_RETENTION (e.g. 90d)"
    );
    let store = args
        .store
        .open_writable("deleting what is past retention")?;
    let swept = runtime()?.block_on(retention::sweep(
        store.as_ref(),
        &settings,
        now_ms(),
        std::time::Duration::ZERO,
    ))?;
    super::outln!("{}", serde_json::to_string(&swept)?);
    Ok(())
}
