//! HTTP helpers for tests that talk to a server over a real socket.

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

/// GET `url`: the status and the JSON body.
pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}
