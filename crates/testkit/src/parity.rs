//! The requests the parity tests replay on every target (the native handler, the WebAssembly
//! component, the Lambda function), so each target is held to the same answers.

/// The requests the parity tests replay on every target (native, WebAssembly, Lambda) for the
/// given known users: defaults, `k`, `exclude`, every validation error, an unknown user (popular
/// list), encoded ids, a missing id, unknown paths, a wrong method. Each is `(method, path+query)`.
pub fn parity_requests(users: &[&str]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for u in users {
        out.push(("GET", format!("/api/recommendations/{u}")));
        out.push(("GET", format!("/api/recommendations/{u}?k=3")));
        out.push(("GET", format!("/api/recommendations/{u}?k=100")));
        out.push((
            "GET",
            format!("/api/recommendations/{u}?k=4&exclude=1,2,3,4,5,6,7,8,9,10"),
        ));
        out.push((
            "GET",
            format!("/api/recommendations/{u}?exclude=%20&k=%207"),
        ));
    }
    let u = users.first().copied().unwrap_or("1");
    let many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    for q in ["k=0", "k=101", "k=abc", "k=", "k=-1", "k=2.5"] {
        out.push(("GET", format!("/api/recommendations/{u}?{q}")));
    }
    out.push((
        "GET",
        format!("/api/recommendations/{u}?exclude={}", many.join(",")),
    ));
    out.push((
        "GET",
        format!("/api/recommendations/{u}?exclude={}", "x".repeat(129)),
    ));
    out.push(("GET", format!("/api/recommendations/{}", "a".repeat(129))));
    out.push((
        "GET",
        format!("/api/recommendations/{}?k=2", "%C3%A9".repeat(128)),
    ));
    out.push(("GET", "/api/recommendations/a%07b".to_owned()));
    out.push(("GET", "/api/recommendations/%FF".to_owned()));
    out.push(("GET", "/api/recommendations/nobody-at-all".to_owned()));
    out.push((
        "GET",
        "/api/recommendations/nobody-at-all?k=2&exclude=1,2".to_owned(),
    ));
    out.push((
        "GET",
        "/api/recommendations/u%20%22q%22%C3%A9?k=1".to_owned(),
    ));
    out.push(("GET", "/api/recommendations/".to_owned()));
    out.push(("GET", format!("/api/recommendations/{u}/extra")));
    out.push(("GET", "/api/nope".to_owned()));
    out.push(("GET", "/".to_owned()));
    out.push(("GET", "/api/ping".to_owned()));
    out.push(("DELETE", format!("/api/recommendations/{u}")));
    out
}

/// `body` without its `"recommendationId":"…"` member: ids are unique per answer, so parity
/// compares everything else byte for byte.
pub fn without_recommendation_id(body: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b",\"recommendationId\":\"";
    let Some(start) = body.windows(KEY.len()).position(|w| w == KEY) else {
        return body.to_vec();
    };
    let rest = &body[start + KEY.len()..];
    // Ids hold no quote or backslash (r2:VERSION:ARM:HEX:SCOPE:BASE64URL:BASE64URL).
    match rest.iter().position(|&b| b == b'"') {
        Some(end) => [&body[..start], &rest[end + 1..]].concat(),
        None => body.to_vec(),
    }
}
