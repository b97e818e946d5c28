//! `topten serve`: the same handler the Azure Functions host runs, on a local port; or, with
//! `--wasm COMPONENT`, the WebAssembly component under wasmtime (one instance per request).

use anyhow::Context;
use std::path::PathBuf;

use topten_functions::auth::exposure_error;
use topten_functions::{run as serve_api, shutdown_signal, state_from_config, Config};

/// Serve the recommendation API locally (the Azure Functions handler, same code).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Port.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Address to bind. Anything but a loopback address needs TOPTEN_API_KEY (the write and
    /// admin routes then require it).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Serve with this wasi:http/proxy component (built by crates/wasm/build.sh, which embeds the
    /// snapshot) instead of the native handler; store settings are then unused. Needs a
    /// `topten` built with `--features wasm`.
    #[arg(long, value_name = "COMPONENT")]
    pub wasm: Option<PathBuf>,
    /// With --wasm: instances that can run at once (the pooling allocator's size).
    #[arg(long, default_value_t = 1000)]
    pub max_instances: u32,
    /// Also serve this folder's files at every path the API does not take (`/` is its
    /// `index.html`): e.g. `--static clients/storefront`, the demo shop page.
    #[arg(long = "static", value_name = "DIR")]
    pub site: Option<PathBuf>,
    #[command(flatten)]
    pub config: Config,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    anyhow::ensure!(
        args.wasm.is_none() || args.site.is_none(),
        "--static is served by the native handler; it does not go with --wasm"
    );
    if let Some(component) = &args.wasm {
        return rt.block_on(serve_wasm(component.clone(), &args));
    }
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
        // Refuse an exposed address before touching the store.
        if let Some(refusal) = exposure_error(listener.local_addr()?, &args.config) {
            anyhow::bail!(refusal);
        }
        if let Some(dir) = &args.site {
            anyhow::ensure!(
                dir.join("index.html").is_file(),
                "--static {}: no index.html there",
                dir.display()
            );
        }
        let state = state_from_config(args.config)?;
        tracing::info!(addr = %listener.local_addr()?, "serving; try curl http://{}/api/health", listener.local_addr()?);
        serve_api(listener, state, args.site.as_deref(), shutdown_signal()).await
    })
}

#[cfg(feature = "wasm")]
async fn serve_wasm(component: PathBuf, args: &Args) -> anyhow::Result<()> {
    use topten_wasm_host::{HostOptions, WasmHost};
    let options = HostOptions {
        max_instances: args.max_instances,
        ..HostOptions::default()
    };
    let host = WasmHost::load(&component, &options).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.port)).await?;
    tracing::info!(addr = %listener.local_addr()?, component = %component.display(), "serving the WebAssembly component");
    topten_wasm_host::serve(listener, host, shutdown_signal()).await?;
    Ok(())
}

#[cfg(not(feature = "wasm"))]
async fn serve_wasm(_component: PathBuf, _args: &Args) -> anyhow::Result<()> {
    anyhow::bail!("this topten was built without WebAssembly support; rebuild with `cargo build --release -p topten-trainer --features wasm`")
}
