//! `topten serve`: the same handler the Azure Functions host runs, on a local port.

use topten_functions::{app, serve, shutdown_signal, state_from_config, Config};

/// Serve the recommendation API locally (the Azure Functions handler, same code).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Port.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    #[command(flatten)]
    pub config: Config,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let state = state_from_config(args.config)?;
        let listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.port)).await?;
        tracing::info!(addr = %listener.local_addr()?, "serving; try curl http://{}/api/health", listener.local_addr()?);
        serve(listener, app(state), shutdown_signal()).await?;
        Ok(())
    })
}
