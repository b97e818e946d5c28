//! What can go wrong in a store, kept apart so the API can map each kind to a status code.

/// Store failures, kept apart so the API can map them to status codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store URI is malformed or names an unknown backend.
    #[error("invalid store URI {:?}: {why}", redact(.uri))]
    InvalidUri {
        /// URI as given.
        uri: String,
        /// What is wrong.
        why: String,
    },
    /// The store does not exist (and the command may not create one).
    #[error(
        "store {} does not exist; `topten publish` creates it (other commands take --create)",
        redact(.uri)
    )]
    Missing {
        /// URI as given.
        uri: String,
    },
    /// A version (or other named thing) does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The operation conflicts with the store's state (activating an incomplete version,
    /// deleting the active one, a count mismatch).
    #[error("{0}")]
    Conflict(String),
    /// An argument is out of range (e.g. zero items per user).
    #[error("{0}")]
    InvalidArgument(String),
    /// The backend failed (I/O, database, network).
    #[error("{backend} store: {}", redact(.message))]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// What failed.
        message: String,
    },
    /// The backend does not implement this operation.
    #[error("the {backend} store does not support {what}")]
    Unsupported {
        /// Backend name.
        backend: &'static str,
        /// Operation.
        what: &'static str,
    },
    /// The backend did not answer in time or is shedding load.
    #[error("{backend} store unavailable: {}", redact(.message))]
    Unavailable {
        /// Backend name.
        backend: &'static str,
        /// What happened.
        message: String,
        /// Suggested wait before retrying, in seconds.
        retry_after_secs: u64,
    },
}

/// Query parameters and settings whose values are secrets (compared without case).
const SECRET_NAMES: [&str; 9] = [
    "sig",
    "password",
    "pwd",
    "accountkey",
    "sharedaccesskey",
    "key",
    "secret",
    "token",
    "code",
];

/// `text` with secrets masked: the password of `scheme://user:password@host`, and the values
/// of secret-named parameters (`sig=`, `AccountKey=`, `password=`, …) in URIs and connection
/// strings. Every store error is shown through it, because store URIs and backend messages
/// (which may quote a URI) reach logs and terminals.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Passwords in the authority of URIs.
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(a) => {
                let userinfo = &authority[..a];
                match userinfo.find(':') {
                    Some(c) => {
                        out.push_str(&userinfo[..c]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[a..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    // Secret-named parameters: `name=value` up to `&`, `;`, whitespace or a quote.
    let mut masked = String::with_capacity(out.len());
    let mut i = 0;
    let bytes = out.as_bytes();
    while i < out.len() {
        let at_name = i == 0 || matches!(bytes[i - 1], b'?' | b'&' | b';' | b' ' | b'"' | b'\'');
        let name_end = out[i..].find('=').map(|e| i + e);
        if let (true, Some(eq)) = (at_name, name_end) {
            let name = &out[i..eq];
            if SECRET_NAMES.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                let value_end = out[eq + 1..]
                    .find(|c: char| matches!(c, '&' | ';' | '"' | '\'') || c.is_whitespace())
                    .map_or(out.len(), |e| eq + 1 + e);
                masked.push_str(name);
                masked.push_str("=***");
                i = value_end;
                continue;
            }
        }
        let ch = out[i..].chars().next().expect("in bounds");
        masked.push(ch);
        i += ch.len_utf8();
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_the_rest_is_kept() {
        assert_eq!(
            redact("redis://user:pw@10.1.2.3:6379/0"),
            "redis://user:***@10.1.2.3:6379/0"
        );
        assert_eq!(
            redact("az://acct/c/p?sv=2024&sig=abc%2Bdef&se=x failed"),
            "az://acct/c/p?sv=2024&sig=***&se=x failed"
        );
        assert_eq!(
            redact("AccountEndpoint=https://a/;AccountKey=c2VjcmV0==;"),
            "AccountEndpoint=https://a/;AccountKey=***;"
        );
        assert_eq!(
            redact("embedded:./data/topten.db"),
            "embedded:./data/topten.db"
        );
        assert_eq!(redact("rediss://cache:6380"), "rediss://cache:6380");
        let e = StoreError::InvalidUri {
            uri: "redis://u:hunter2@h".into(),
            why: "credentials do not go in the URI".into(),
        };
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = StoreError::Backend {
            backend: "redis",
            message: "connect to redis://u:hunter2@h failed".into(),
        };
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
