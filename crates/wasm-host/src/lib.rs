//! `topten serve --wasm COMPONENT`: an HTTP server that answers every request by running a
//! `wasi:http/proxy` component (the `wasm/` guest) in wasmtime.
//!
//! Each request gets a fresh instance in its own `Store`, as `wasmtime serve` does: no state
//! leaks between requests, and a trap fails one request only. What makes that cheap:
//! - the component is compiled once at start-up and pre-linked ([`ProxyPre`]);
//! - the pooling allocator keeps instance slots, memories and stacks ready, and the linear
//!   memory's initial image (including the embedded recommendations snapshot) is mapped
//!   copy-on-write instead of copied per instance.
//!
//! The server side is hyper (HTTP/1.1, keep-alive) on tokio, like the native handler.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use hyper::server::conn::http1;
use tokio::net::TcpListener;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    format_err, Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
    Result, Store,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Host settings.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Instances that can exist at once (the pool's size): the concurrency limit.
    pub max_instances: u32,
    /// Largest linear memory of an instance (bytes).
    pub max_memory_bytes: usize,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            max_instances: 1000,
            max_memory_bytes: 256 << 20,
        }
    }
}

/// A compiled, pre-linked component ready to serve.
#[derive(Clone)]
pub struct WasmHost {
    pre: ProxyPre<RequestState>,
    /// One permit per pool slot: past the pool's size requests wait for a slot instead of
    /// failing to instantiate.
    slots: Arc<tokio::sync::Semaphore>,
}

/// Per-request store data: WASI and WASI-HTTP contexts over one resource table.
struct RequestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

impl WasmHost {
    /// Compiles the component at `path` with a pooling-allocator engine and links the
    /// `wasi:http/proxy` imports.
    pub fn load(path: &Path, options: &HostOptions) -> Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        // A component built by wasm-component-ld holds a few core instances (the program, the
        // WASI adapter, shims), each with its memories and tables.
        let n = options.max_instances;
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(4))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(4))
            .total_stacks(n)
            .max_memory_size(options.max_memory_bytes)
            // Reset a freed instance's memory by rewriting only the pages it dirtied (Linux
            // PAGEMAP_SCAN, kernel 6.7+; plain madvise elsewhere) instead of unmapping them:
            // the next instance then takes no page faults on the snapshot it reads.
            .linear_memory_keep_resident(16 << 20)
            .table_keep_resident(64 << 10)
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        config.memory_init_cow(true);
        let engine = Engine::new(&config)?;
        let start = Instant::now();
        let component = Component::from_file(&engine, path)
            .map_err(|e| format_err!("cannot load component {}: {e:?}", path.display()))?;
        tracing::info!(component = %path.display(), compile_ms = start.elapsed().as_millis() as u64, "component compiled");
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let pre = ProxyPre::new(linker.instantiate_pre(&component)?)?;
        Ok(WasmHost {
            pre,
            slots: Arc::new(tokio::sync::Semaphore::new(n as usize)),
        })
    }

    /// Answers one request with a fresh instance of the component.
    pub async fn handle(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| format_err!("{e}"))?;
        let state = RequestState {
            wasi: WasiCtx::builder().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(self.pre.engine(), state);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = self.pre.clone();
        // The guest runs in its own task: it may keep writing the body after the head is sent.
        let task = tokio::task::spawn(async move {
            let result = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
            }
            .await;
            // The slot is free only once the instance (the store) is gone.
            drop(store);
            drop(permit);
            result
        });
        match receiver.await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => {
                let e = match task.await {
                    Ok(Ok(())) => format_err!("the component returned without setting a response"),
                    Ok(Err(e)) => e,
                    Err(e) => format_err!("the component task failed: {e}"),
                };
                Err(format_err!("the component did not answer: {e:?}"))
            }
        }
    }
}

/// Serves `host` on `listener` until `shutdown` completes (connections in progress are left
/// to finish on their own tasks).
pub async fn serve(
    listener: TcpListener,
    host: WasmHost,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let host = Arc::new(host);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = &mut shutdown => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let host = host.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let host = host.clone();
                async move {
                    match host.handle(req).await {
                        Ok(resp) => Ok::<_, std::convert::Infallible>(resp),
                        Err(e) => {
                            tracing::error!(error = %format!("{e:?}"), "component failed");
                            Ok(internal_error())
                        }
                    }
                }
            });
            if let Err(e) = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// The API's 500 body, for a component that traps or never answers.
fn internal_error() -> hyper::Response<HyperOutgoingBody> {
    use http_body_util::BodyExt;
    let body = http_body_util::Full::new(bytes::Bytes::from_static(
        br#"{"error":{"code":"internal","message":"internal error"}}"#,
    ))
    .map_err(|never| match never {})
    .boxed_unsync();
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}
