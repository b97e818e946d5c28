//! `topten recommend`: top-k from a model directory as `user<TAB>item<TAB>score`.

use std::io::{BufWriter, Write};

use anyhow::Context;

/// Print the k best items for one user or all users, best first, never an item the user
/// has in the training data.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory written by `topten train`.
    #[arg(long)]
    pub model: topten_azure::blob::Location,
    /// One user id.
    #[arg(long, required_unless_present = "all", conflicts_with = "all")]
    pub user: Option<String>,
    /// Every user of the model.
    #[arg(long)]
    pub all: bool,
    /// Items per user.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let model = topten_azure::model_dir::load_model(&args.model)
        .with_context(|| format!("cannot load model {}", args.model))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if let Some(user) = &args.user {
        let u = model.users.get(user).with_context(|| {
            format!("user {user:?} is not in the model's training data ({} users); it has no personal recommendations", model.users.len())
        })?;
        for s in model.recommend(u, args.k) {
            writeln!(out, "{user}\t{}\t{}", model.items.id(s.item), s.score)?;
        }
    } else {
        for (u, list) in model.recommend_all(args.k).iter().enumerate() {
            let user = model.users.id(u as u32);
            for s in list {
                writeln!(out, "{user}\t{}\t{}", model.items.id(s.item), s.score)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
