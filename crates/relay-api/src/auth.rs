//! Operator-token authentication with a constant-time comparison.

use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;
use relay_domain::Secret;

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8;
    // Always walk the expected value so timing does not reveal a prefix match.
    for (i, x) in b.iter().enumerate() {
        let y = a.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0 && a.len() == b.len()
}

/// True when the headers carry `Authorization: Bearer <token>` equal to `expected`.
pub fn bearer_matches(headers: &HeaderMap, expected: &Secret) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && !expected.is_empty()
        && constant_time_eq(token.trim().as_bytes(), expected.expose().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn constant_time_eq_matches_only_equal_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn bearer_header_is_checked() {
        let token = Secret::new("t0ken");
        let mut h = HeaderMap::new();
        assert!(!bearer_matches(&h, &token));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer t0ken"));
        assert!(bearer_matches(&h, &token));
        h.insert(AUTHORIZATION, HeaderValue::from_static("bearer t0ken"));
        assert!(bearer_matches(&h, &token));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer t0ke"));
        assert!(!bearer_matches(&h, &token));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic t0ken"));
        assert!(!bearer_matches(&h, &token));
        assert!(!bearer_matches(&h, &Secret::new("")));
    }
}
