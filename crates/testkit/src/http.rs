//! HTTP helpers for tests that talk to a server over a real socket.

use std::time::Duration;

/// A client whose requests give up after 30 s, so a hung server fails the test instead of
/// stalling it.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Sends `method url` and returns the status, the `content-type` and the body bytes.
pub async fn send(client: &reqwest::Client, method: &str, url: &str) -> (u16, String, Vec<u8>) {
    let resp = client
        .request(method.parse().expect("an HTTP method"), url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, resp.bytes().await.unwrap().to_vec())
}

/// [`send`]s `method target` to the reference server at `want_base`, then to the server under
/// test at `got_base`: `(want, got)`, the two answers a parity test compares.
pub async fn send_to_both(
    client: &reqwest::Client,
    method: &str,
    target: &str,
    want_base: &str,
    got_base: &str,
) -> ((u16, String, Vec<u8>), (u16, String, Vec<u8>)) {
    let want = send(client, method, &format!("{want_base}{target}")).await;
    let got = send(client, method, &format!("{got_base}{target}")).await;
    (want, got)
}

/// GET `url`: the status and the JSON body.
pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}
