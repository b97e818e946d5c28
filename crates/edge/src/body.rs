//! Response bodies, written byte by byte: the exact bytes `serde_json` gives when serialising
//! the typed responses (a test in `functions` checks that equality), without building them.

/// `{"error":{"code":..,"message":..}}`: the body of every error answer.
pub fn error_body(code: &str, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + code.len() + message.len());
    out.extend_from_slice(b"{\"error\":{\"code\":");
    json_string(&mut out, code);
    out.extend_from_slice(b",\"message\":");
    json_string(&mut out, message);
    out.extend_from_slice(b"}}");
    out
}

/// `{"userId","modelVersion","items","source"}` around an items array that is already JSON.
/// `source` is `personalized` or `popular`.
pub fn recommendations_body(
    user_id: &str,
    model_version: &str,
    items_json: &[u8],
    source: &str,
) -> Vec<u8> {
    answer_body(user_id, model_version, None, items_json, source)
}

/// [`recommendations_body`] with the answer's `recommendationId` after `modelVersion`.
pub fn answer_body(
    user_id: &str,
    model_version: &str,
    recommendation_id: Option<&str>,
    items_json: &[u8],
    source: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(items_json.len() + 160 + user_id.len() + model_version.len());
    out.extend_from_slice(b"{\"userId\":");
    json_string(&mut out, user_id);
    out.extend_from_slice(b",\"modelVersion\":");
    json_string(&mut out, model_version);
    if let Some(id) = recommendation_id {
        out.extend_from_slice(b",\"recommendationId\":");
        json_string(&mut out, id);
    }
    out.extend_from_slice(b",\"items\":");
    out.extend_from_slice(items_json);
    out.extend_from_slice(b",\"source\":");
    json_string(&mut out, source);
    out.push(b'}');
    out
}

/// Joins the first `k` items whose id is not in `exclude` into a JSON array. Each item is
/// `(item id, its JSON object)`; returns the array and how many items it holds.
pub fn join_items<'a>(
    items: impl Iterator<Item = (&'a str, &'a [u8])>,
    k: usize,
    exclude: &[String],
) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(64 * k.min(64) + 2);
    out.push(b'[');
    let mut n = 0;
    for (id, json) in items {
        if n == k {
            break;
        }
        if exclude.iter().any(|e| e == id) {
            continue;
        }
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(json);
        n += 1;
    }
    out.push(b']');
    (out, n)
}

/// Appends `s` as a JSON string literal, escaped exactly as `serde_json` escapes it.
pub fn json_string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error body equals serde_json's serialisation of the nested object.
    #[test]
    fn error_body_matches_serde_json() {
        let want = serde_json::to_vec(
            &serde_json::json!({"error": {"code": "invalid_k", "message": "k \"x\" é\n"}}),
        )
        .unwrap();
        assert_eq!(error_body("invalid_k", "k \"x\" é\n"), want);
    }

    /// Excluded ids are skipped and at most k items are kept.
    #[test]
    fn join_filters_and_truncates() {
        let items = [
            ("a", &b"{\"itemId\":\"a\"}"[..]),
            ("b", &b"{\"itemId\":\"b\"}"[..]),
            ("c", &b"{\"itemId\":\"c\"}"[..]),
        ];
        let (json, n) = join_items(items.iter().copied(), 1, &["a".to_string()]);
        assert_eq!((json.as_slice(), n), (&b"[{\"itemId\":\"b\"}]"[..], 1));
        let (json, n) = join_items(items.iter().copied(), 10, &[]);
        assert_eq!(n, 3);
        assert_eq!(json.iter().filter(|&&b| b == b',').count(), 2);
        assert_eq!(join_items(std::iter::empty(), 3, &[]), (b"[]".to_vec(), 0));
    }
}
