//! The custom handler executable (`handler`, named in host.json's `defaultExecutablePath`).
//! Reads configuration, binds `FUNCTIONS_CUSTOMHANDLER_PORT` (else `--port`/`PORT`), serves.

use clap::Parser;
use topten_functions::{run, shutdown_signal, state_from_config, Config};

/// topten HTTP handler: serves precomputed recommendations (Azure Functions custom handler).
#[derive(Parser)]
#[command(name = "handler", version, about)]
struct Cli {
    /// Port; the Functions host sets FUNCTIONS_CUSTOMHANDLER_PORT, which wins.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Address to bind.
    #[arg(long, env = "TOPTEN_BIND", default_value = "127.0.0.1")]
    bind: String,
    /// Log filter.
    #[arg(long, env = "TOPTEN_LOG", default_value = "info")]
    log: String,
    /// Write the Azure Functions function folders (each with its `function.json`) and the
    /// package's `.funcignore` into DIR, from the route table, and exit (`infra/package.sh`).
    #[arg(long, value_name = "DIR")]
    write_function_folders: Option<std::path::PathBuf>,
    #[command(flatten)]
    config: Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(dir) = &cli.write_function_folders {
        let written = topten_functions::route_table::write_function_folders(dir, "handler")
            .map_err(|e| anyhow::anyhow!("writing function folders into {}: {e}", dir.display()))?;
        eprintln!(
            "wrote {written} function folders and .funcignore into {}",
            dir.display()
        );
        return Ok(());
    }
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let port = match std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT") {
        Ok(p) => p.parse()?,
        Err(_) => cli.port,
    };
    let listener = tokio::net::TcpListener::bind((cli.bind.as_str(), port)).await?;
    // Refuse an exposed address before touching the store.
    if let Some(refusal) =
        topten_functions::auth::exposure_error(listener.local_addr()?, &cli.config)
    {
        anyhow::bail!(refusal);
    }
    let state = state_from_config(cli.config)?;
    tracing::info!(addr = %listener.local_addr()?, store = state.reader().backend(), "handler listening");
    run(listener, state, None, shutdown_signal()).await
}
