//! `topten publish --recs`: lists Spark computed (`recommendForAllUsers`) published as a
//! version, without the items each user has. Built with the `parquet` feature (Spark writes
//! Parquet); without it, the command names the feature.

use anyhow::Context;
use topten_azure::blob::Location;
use topten_azure::spark_run;
use topten_live::publish;

use super::store::{publish_bar, publish_options, runtime, PublishArgs};

/// `publish --recs`: Spark's lists as a version. The files are read twice: once to check every
/// row (ids in the indexes, finite scores, each user once) before the store is touched, then
/// to publish in batches.
pub fn publish_recs(args: &PublishArgs, recs: &Location) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.popularity_penalty.is_none(),
        "--popularity-penalty needs a model; Spark's lists are published as they are"
    );
    let users =
        spark_run::read_index(args.user_index.as_ref()).context("cannot read the user index")?;
    let items =
        spark_run::read_index(args.item_index.as_ref()).context("cannot read the item index")?;
    let history = std::sync::Arc::new(user_history(&args.ratings)?);
    if args.ratings.is_empty() {
        tracing::warn!(
            "no --ratings: Spark's lists are published as they are and may repeat items users have"
        );
    }
    let (dir, _guard) = spark_run::local_copy(recs, None)?;
    let files = topten_spark::recs::RecsFiles::open(&dir)
        .with_context(|| format!("cannot read recommendForAllUsers output {recs}"))?;
    let mut seen = rustc_hash::FxHashSet::default();
    let mut longest = 0usize;
    let spin = crate::progress::spinner("checking the lists");
    files
        .for_each(&users, &items, |batch| -> anyhow::Result<()> {
            for (user, list) in &batch {
                anyhow::ensure!(
                    seen.insert(user.clone()),
                    "{recs}: user {user:?} has two lists"
                );
                longest = longest.max(list.len());
            }
            Ok(())
        })
        .with_context(|| format!("cannot publish {recs}"))?;
    spin.finish_and_clear();
    drop(seen);
    let opts = publish_options(args)?;
    let summary = serde_json::json!({
        "kind": "lists",
        "source": format!("spark recommendForAllUsers {recs}"),
        "users": files.users,
        "itemsPerList": longest,
        "historyRemovedFrom": args.ratings.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
        "createdAt": topten_model::clock::now_rfc3339(),
    });
    let store = args.store.open_for_publish()?;
    let bar = publish_bar(files.users);
    // The reader runs on its own thread and hands batches over a bounded channel.
    let (tx, rx) =
        std::sync::mpsc::sync_channel::<Result<Vec<topten_spark::recs::UserList>, String>>(4);
    let removed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reader = {
        let files = files.clone();
        let history = history.clone();
        let removed = removed.clone();
        std::thread::spawn(move || {
            let sent = files.for_each(
                &users,
                &items,
                |mut batch| -> Result<(), topten_spark::SparkError> {
                    let n = without_history(&mut batch, &history);
                    removed.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    let _ = tx.send(Ok(batch));
                    Ok(())
                },
            );
            if let Err(e) = sent {
                let _ = tx.send(Err(e.to_string()));
            }
        })
    };
    let started = std::time::Instant::now();
    let rx = std::sync::Mutex::new(rx);
    let info = runtime()?.block_on(publish::publish_lists(
        store.as_ref(),
        summary,
        files.users,
        &opts,
        &mut || match rx.lock().expect("one reader").recv() {
            Ok(Ok(batch)) => Ok(Some(batch)),
            Ok(Err(e)) => Err(e),
            Err(_) => Ok(None),
        },
        &mut |done, _| bar.set_position(done as u64),
    ));
    let _ = reader.join();
    let info = info?;
    bar.finish_and_clear();
    tracing::info!(
        version = %info.version,
        users = info.users,
        activated = opts.activate,
        store = %args.store.store,
        seconds = started.elapsed().as_secs_f64(),
        items_users_have_removed = removed.load(std::sync::atomic::Ordering::Relaxed),
        "published Spark's lists"
    );
    super::outln!("{}", info.version);
    Ok(())
}

/// Each user's items in `ratings` (read with auto-detection), for [`without_history`].
fn user_history(
    ratings: &[Location],
) -> anyhow::Result<rustc_hash::FxHashMap<String, rustc_hash::FxHashSet<String>>> {
    let mut history: rustc_hash::FxHashMap<String, rustc_hash::FxHashSet<String>> =
        Default::default();
    for loc in ratings {
        let r = super::read_with(loc, &topten_model::ingest::ReadOptions::default())?;
        for x in &r.records {
            history
                .entry(r.users.id(x.user).to_owned())
                .or_default()
                .insert(r.items.id(x.item).to_owned());
        }
    }
    Ok(history)
}

/// Removes from each list the items its user has; returns how many were removed.
fn without_history(
    batch: &mut [topten_spark::recs::UserList],
    history: &rustc_hash::FxHashMap<String, rustc_hash::FxHashSet<String>>,
) -> usize {
    let mut removed = 0;
    for (user, list) in batch.iter_mut() {
        if let Some(has) = history.get(user) {
            let before = list.len();
            list.retain(|(item, _)| !has.contains(item));
            removed += before - list.len();
        }
    }
    removed
}
