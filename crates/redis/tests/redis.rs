//! The Redis store against a real `redis-server` (Debian's package) over TCP: the contract
//! every backend passes, a server killed mid-publish, a server restarted while serving, an
//! evicting server refused, and Entra ID tokens refreshed on a live connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use topten_live::publish::{publish, PublishOptions};
use topten_redis::{RedisAuth, RedisSettings, RedisStore};
use topten_store::prelude::*;
use topten_store::{contract, StoreError, VersionStatus};
use topten_testkit::{fixtures, RedisOptions, RedisServer};

const NEEDS: &str = "needs redis-server (Debian package; .ci/run installs it); scripts/test.sh runs it with --include-ignored";

fn store(server: &RedisServer, prefix: &str, tweak: impl FnOnce(&mut RedisSettings)) -> RedisStore {
    let mut s = RedisSettings::from_uri(&server.uri(prefix)).unwrap();
    tweak(&mut s);
    RedisStore::new(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package; .ci/run installs it); scripts/test.sh runs it with --include-ignored"]
async fn redis_store_passes_the_contract() {
    let _ = NEEDS;
    let server = RedisServer::start();
    contract::run(&store(&server, "contract", |_| {})).await;
    contract::run_realtime(&store(&server, "realtime", |_| {})).await;
    contract::item_edits(&store(&server, "items", |_| {})).await;
    contract::erasure(&store(&server, "erasure", |_| {})).await;
    contract::concurrent_item_edits(std::sync::Arc::new(store(&server, "conc", |_| {}))).await;
    let s = store(&server, "reads", |_| {});
    contract::publish_read_fixture(&s, "v1").await;
    contract::reads(&s, "v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package; .ci/run installs it); scripts/test.sh runs it with --include-ignored"]
async fn stores_with_different_prefixes_share_a_server_without_seeing_each_other() {
    let server = RedisServer::start();
    let a = store(&server, "a", |_| {});
    let b = store(&server, "b", |_| {});
    contract::publish_small(&a, "v1", 3).await;
    assert!(b.active().await.unwrap().is_none());
    assert!(b.versions().await.unwrap().is_empty());
    assert_eq!(a.count_users("v1").await.unwrap(), 3);
}

/// Publishing is pipelined: a batch of documents is one round trip with one HSET per
/// `TOPTEN_REDIS_BATCH` documents, not one command per document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package; .ci/run installs it); scripts/test.sh runs it with --include-ignored"]
async fn publishing_sends_one_hset_per_batch_of_documents() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = fixtures::ratings_file(dir.path());
    let model = fixtures::small_model(&ratings, 2);
    let server = RedisServer::start();
    let s = store(&server, "pipe", |s| s.batch = 25);
    let before = server.calls("hset");
    let info = publish(
        &s,
        &model,
        &PublishOptions {
            batch_size: 100,
            ..Default::default()
        },
        &mut |_, _| {},
    )
    .await
    .unwrap();
    let users = info.users;
    assert!(users > 50, "the fixture has {users} users");
    let hsets = server.calls("hset") - before;
    // Documents: ceil(users / 25) per full pipeline; histories the same again at most.
    assert!(
        hsets <= 2 * users.div_ceil(25) as u64 + 8,
        "{hsets} HSETs for {users} users"
    );
    assert_eq!(s.count_users(&info.version).await.unwrap(), users);
}

/// The server is killed in the middle of a publish and comes back with what it had written
/// (append-only file): the publish fails clearly, the new version stays `writing` and cannot
/// be activated, and the old version serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package; .ci/run installs it); scripts/test.sh runs it with --include-ignored"]
async fn server_killed_mid_publish_leaves_the_old_version_serving() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = fixtures::ratings_file(dir.path());
    let model = fixtures::small_model(&ratings, 2);
    let mut server = RedisServer::start_with(RedisOptions {
        persistent: true,
        ..Default::default()
    });
    let s = store(&server, "crash", |s| {
        s.max_retries = 1;
        s.breaker_open = Duration::from_millis(100);
    });
    let opts = |v: &str| PublishOptions {
        version: Some(v.into()),
        batch_size: 10,
        ..Default::default()
    };
    publish(&s, &model, &opts("v1"), &mut |_, _| {})
        .await
        .unwrap();

    let mut batches = 0;
    let err = publish(&s, &model, &opts("v2"), &mut |_, _| {
        batches += 1;
        if batches == 2 {
            server.kill();
        }
    })
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    server.restart();

    assert_eq!(s.active().await.unwrap().unwrap().version, "v1");
    let v2 = s.version("v2").await.unwrap().expect("v2 was registered");
    assert_eq!(v2.status, VersionStatus::Writing);
    let written = s.count_users("v2").await.unwrap();
    assert!(
        written < v2.expected_users,
        "{written} of {}",
        v2.expected_users
    );
    assert!(matches!(
        s.activate("v2").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.finish_version("v2").await,
        Err(StoreError::Conflict(_))
    ));
    let user = model.users.id(0);
    assert_eq!(
        s.user_recs("v1", user)
            .await
            .unwrap()
            .unwrap()
            .model_version,
        "v1"
    );
    // The half-written version can be deleted and the publish repeated.
    s.delete_version("v2").await.unwrap();
    publish(&s, &model, &opts("v2"), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(s.active().await.unwrap().unwrap().version, "v2");
}

/// A server that restarts while a store is in use: reads fail fast as unavailable (never
/// hang), and the same store object recovers once the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package; .ci/run installs it); scripts/test.sh runs it with --include-ignored"]
async fn reads_fail_fast_while_the_server_is_down_and_recover_after_it_restarts() {
    let mut server = RedisServer::start_with(RedisOptions {
        persistent: true,
        ..Default::default()
    });
    let s = store(&server, "restart", |s| {
        s.breaker_failures = 2;
        s.breaker_open = Duration::from_millis(300);
        s.read_timeout = Duration::from_millis(500);
    });
    contract::publish_small(&s, "v1", 2).await;
    assert!(s.user_recs("v1", "u0").await.unwrap().is_some());
    server.kill();
    for _ in 0..4 {
        let started = Instant::now();
        let e = s.user_recs("v1", "u0").await.unwrap_err();
        assert!(matches!(e, StoreError::Unavailable { .. }), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match s.user_recs("v1", "u0").await {
            Ok(Some(doc)) => {
                assert_eq!(doc.model_version, "v1");
                break;
            }
            Ok(None) => panic!("the persistent server lost its data"),
            Err(e) => {
                assert!(Instant::now() < deadline, "no recovery: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package; .ci/run installs it); scripts/test.sh runs it with --include-ignored"]
async fn an_evicting_server_is_refused_before_anything_is_written() {
    let server = RedisServer::start_with(RedisOptions {
        maxmemory_policy: "allkeys-lru",
        ..Default::default()
    });
    let s = store(&server, "evict", |_| {});
    let e = s.preflight().await.unwrap_err().to_string();
    assert!(e.contains("allkeys-lru") && e.contains("noeviction"), "{e}");
    let info = topten_store::VersionInfo {
        version: "v1".into(),
        status: VersionStatus::Writing,
        created_at: "2026-01-01T00:00:00Z".into(),
        expected_users: 1,
        users: 0,
        items_per_user: 1,
        model: serde_json::json!({}),
        quality: None,
    };
    assert!(s.create_version(&info).await.is_err());
    assert_eq!(server.cli(&["DBSIZE"]).trim(), "0", "nothing was written");
}

/// Entra ID against a real server: an ACL user named like the identity's object id, whose
/// passwords are the tokens. Tokens live 2 s, so the store refreshes them several times while
/// it serves; every read in between succeeds, and the server sees one AUTH per refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package; .ci/run installs it); scripts/test.sh runs it with --include-ignored"]
async fn entra_id_tokens_are_refreshed_on_the_live_connection_without_failed_reads() {
    let server = RedisServer::start();
    let tokens: Vec<String> = (0..12).map(|n| jwt("0000-app-oid", n)).collect();
    let mut acl = vec!["ACL", "SETUSER", "0000-app-oid", "on", "~*", "&*", "+@all"];
    let passwords: Vec<String> = tokens.iter().map(|t| format!(">{t}")).collect();
    acl.extend(passwords.iter().map(String::as_str));
    assert_eq!(server.cli(&acl).trim(), "OK");
    // The default user may not get in, so only the tokens can.
    assert_eq!(
        server.cli(&["ACL", "SETUSER", "default", "off"]).trim(),
        "OK"
    );

    let credential = Arc::new(FakeCredential {
        tokens,
        issued: AtomicUsize::new(0),
    });
    let mut settings = RedisSettings::from_uri(&server.uri("entra")).unwrap();
    settings.auth = RedisAuth::EntraId;
    let s = RedisStore::with_credential(settings, credential.clone());
    contract::publish_small(&s, "v1", 2).await;
    let auth_before = server_calls_as(&server, &credential, "auth");
    let until = Instant::now() + Duration::from_secs(5);
    let mut reads = 0;
    while Instant::now() < until {
        assert!(s.user_recs("v1", "u1").await.unwrap().is_some());
        reads += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let issued = credential.issued.load(Ordering::Relaxed);
    let auths = server_calls_as(&server, &credential, "auth") - auth_before;
    assert!(
        issued >= 3,
        "only {issued} tokens issued in 5 s of 2 s tokens"
    );
    assert!(auths >= 2, "{auths} re-authentications for {issued} tokens");
    assert!(reads > 100);
}

/// `INFO commandstats` as the identity (the default user is off).
fn server_calls_as(server: &RedisServer, credential: &FakeCredential, command: &str) -> u64 {
    let token = &credential.tokens[0];
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "--no-auth-warning"])
        .args(["--user", "0000-app-oid", "--pass", token])
        .args(["INFO", "commandstats"])
        .output()
        .unwrap();
    topten_testkit::redis::command_calls(&String::from_utf8_lossy(&out.stdout))
        .get(command)
        .copied()
        .unwrap_or(0)
}

fn jwt(oid: &str, n: usize) -> String {
    use base64::Engine;
    let enc = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.sig{n}",
        enc(r#"{"alg":"none"}"#.into()),
        enc(format!(r#"{{"oid":"{oid}","n":{n}}}"#))
    )
}

/// Hands out the next token each time, each valid for 2 s.
#[derive(Debug)]
struct FakeCredential {
    tokens: Vec<String>,
    issued: AtomicUsize,
}

#[async_trait::async_trait]
impl TokenCredential for FakeCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        assert_eq!(scopes, [topten_redis::entra::SCOPE]);
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        let token = self.tokens[n.min(self.tokens.len() - 1)].clone();
        Ok(AccessToken::new(
            token,
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::seconds(2),
        ))
    }
}

/// `rediss://`, the way Azure is reached: TLS with the server's certificate verified (here
/// against a private certificate authority, `TOPTEN_REDIS_CA_FILE`); without that authority
/// the same server is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server and openssl (Debian packages; .ci/run installs them); scripts/test.sh runs it with --include-ignored"]
async fn tls_connections_verify_the_server_certificate() {
    let server = RedisServer::start_with(RedisOptions {
        tls: true,
        ..Default::default()
    });
    let uri = server.uri("tls");
    assert!(uri.starts_with("rediss://"), "{uri}");
    let trusted = store(&server, "tls", |s| s.ca_file = Some(server.ca_file()));
    contract::publish_small(&trusted, "v1", 2).await;
    assert!(trusted.user_recs("v1", "u1").await.unwrap().is_some());

    let untrusted = store(&server, "tls", |s| {
        s.ca_file = None;
        s.max_retries = 0;
    });
    let e = untrusted.preflight().await.unwrap_err().to_string();
    assert!(
        e.to_ascii_lowercase().contains("certificate") || e.contains("UnknownIssuer"),
        "{e}"
    );
}
