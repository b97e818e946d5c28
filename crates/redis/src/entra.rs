//! Microsoft Entra ID for Azure Cache for Redis and Azure Managed Redis: the user name is the
//! identity's object id, the password an access token for `https://redis.azure.com/.default`.
//!
//! [`EntraIdCredentials`] is a `redis` credentials provider: a background task gets a token
//! from the process's credential ([`topten_credential`]), publishes it, and gets the
//! next one well before the current one expires; every connection re-authenticates (`AUTH`
//! on the live connection) when a new one arrives, so nothing is dropped at expiry.
//!
//! Why not `redis`'s own `entra-id` feature: it is built on azure_identity 0.31, and topten
//! pins the 1.x SDK (one credential and one token cache per process, shared with Cosmos DB and
//! Blob Storage).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential};
use futures::Stream;
use redis::auth::{BasicAuth, StreamingCredentialsProvider};
use redis::RedisResult;
use tokio::sync::watch;

/// The scope of Azure Cache for Redis and Azure Managed Redis tokens.
pub const SCOPE: &str = "https://redis.azure.com/.default";

/// Credentials from Entra ID, refreshed in the background (see the module docs).
#[derive(Clone)]
pub struct EntraIdCredentials {
    current: watch::Receiver<Option<BasicAuth>>,
    _refresher: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl EntraIdCredentials {
    /// Starts refreshing tokens from `credential` (on the current tokio runtime).
    pub fn start(credential: Arc<dyn TokenCredential>) -> Self {
        let (tx, rx) = watch::channel(None);
        let task = tokio::spawn(refresh(credential, tx));
        EntraIdCredentials {
            current: rx,
            _refresher: Arc::new(AbortOnDrop(task)),
        }
    }
}

/// When to get the next token: at 80% of the current one's remaining life, at most 5 minutes
/// before it expires, and never sooner than 1 s from now.
pub fn refresh_after(token: &AccessToken) -> Duration {
    let left =
        (token.expires_on - azure_core::time::OffsetDateTime::now_utc()).whole_milliseconds();
    let left = Duration::from_millis(left.max(0) as u64);
    let early = (left / 5).min(Duration::from_secs(300));
    left.saturating_sub(early).max(Duration::from_secs(1))
}

async fn refresh(credential: Arc<dyn TokenCredential>, tx: watch::Sender<Option<BasicAuth>>) {
    let mut failures = 0u32;
    loop {
        let wait = match credential.get_token(&[SCOPE], None).await {
            Ok(token) => match object_id(token.token.secret()) {
                Ok(oid) => {
                    failures = 0;
                    let wait = refresh_after(&token);
                    tracing::debug!(
                        next_in_s = wait.as_secs(),
                        "redis: Entra ID token refreshed"
                    );
                    tx.send_replace(Some(BasicAuth::new(oid, token.token.secret().to_owned())));
                    wait
                }
                Err(e) => {
                    tracing::error!(error = %e, "redis: the Entra ID token has no object id");
                    Duration::from_secs(30)
                }
            },
            Err(e) => {
                failures += 1;
                let wait = Duration::from_secs(1u64 << failures.min(6));
                tracing::warn!(error = %e, retry_in_s = wait.as_secs(), "redis: cannot get an Entra ID token");
                wait
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// The `oid` claim of a JSON Web Token (read, not verified: Redis verifies the token; topten
/// only needs the name to send with it).
pub fn object_id(jwt: &str) -> Result<String, String> {
    use base64::Engine;
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or("the token is not a JSON Web Token")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| format!("token payload: {e}"))?;
    #[derive(serde::Deserialize)]
    struct Claims {
        oid: Option<String>,
    }
    let claims: Claims =
        serde_json::from_slice(&bytes).map_err(|e| format!("token payload: {e}"))?;
    claims
        .oid
        .ok_or_else(|| "the token has no oid claim".into())
}

impl StreamingCredentialsProvider for EntraIdCredentials {
    fn subscribe(&self) -> Pin<Box<dyn Stream<Item = RedisResult<BasicAuth>> + Send + 'static>> {
        // The current credentials first (once there are any), then each refreshed set.
        let rx = self.current.clone();
        Box::pin(futures::stream::unfold(
            (rx, true),
            |(mut rx, first)| async move {
                if first {
                    let auth = rx.wait_for(Option::is_some).await.ok()?.clone()?;
                    return Some((Ok(auth), (rx, false)));
                }
                rx.changed().await.ok()?;
                let auth = rx.borrow_and_update().clone()?;
                Some((Ok(auth), (rx, false)))
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::time::OffsetDateTime;

    #[test]
    fn the_object_id_comes_from_the_token() {
        use base64::Engine;
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(r#"{"oid":"1234-ab","aud":"x"}"#)
        );
        assert_eq!(object_id(&jwt).unwrap(), "1234-ab");
        assert!(object_id("not-a-jwt").is_err());
        let no_oid = format!("a.{}.b", enc(r#"{"sub":"x"}"#));
        assert!(object_id(&no_oid).unwrap_err().contains("oid"));
    }

    #[test]
    fn tokens_are_refreshed_before_they_expire() {
        let token = |secs: i64| AccessToken::new("t", OffsetDateTime::now_utc() + time_secs(secs));
        let hour = refresh_after(&token(3600)).as_secs();
        assert!((3290..=3300).contains(&hour), "5 minutes early: {hour}");
        let short = refresh_after(&token(10)).as_millis();
        assert!(
            (7_500..=8_000).contains(&short),
            "at 80% of a short life: {short}"
        );
        assert_eq!(refresh_after(&token(-5)), Duration::from_secs(1));
    }

    fn time_secs(s: i64) -> azure_core::time::Duration {
        azure_core::time::Duration::seconds(s)
    }
}
