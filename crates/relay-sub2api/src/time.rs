//! Host timestamps ([`HostTime`]): RFC 3339 as the host sends them
//! (`2026-05-01T10:00:00Z`, `2026-05-01T18:00:00.123+08:00`), kept as sent and
//! readable as unix seconds (e.g. to tell whether a subscription expired).

/// A timestamp as the host sent it: the text is kept exactly (reports quote it),
/// [`HostTime::unix_seconds`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostTime(String);

impl HostTime {
    /// Wraps the host's text.
    pub fn new(raw: impl Into<String>) -> Self {
        HostTime(raw.into())
    }

    /// The text as the host sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unix seconds; `None` when the text is not an RFC 3339 timestamp.
    pub fn unix_seconds(&self) -> Option<i64> {
        parse_rfc3339(&self.0)
    }

    /// True when the time is known and not after `now_unix` (unix seconds).
    pub fn is_past(&self, now_unix: i64) -> bool {
        self.unix_seconds().is_some_and(|t| t <= now_unix)
    }
}

impl std::ops::Deref for HostTime {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for HostTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for HostTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl From<&str> for HostTime {
    fn from(s: &str) -> Self {
        HostTime::new(s)
    }
}

impl From<String> for HostTime {
    fn from(s: String) -> Self {
        HostTime(s)
    }
}

/// Unix seconds of an RFC 3339 timestamp; `None` when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    relay_domain::parse_rfc3339_seconds(s)
}

/// Now, in unix seconds.
pub fn now_unix() -> i64 {
    relay_domain::Timestamp::now().as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(
            parse_rfc3339("2026-05-01T18:00:00.123456+08:00"),
            parse_rfc3339("2026-05-01T10:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2026-05-01T05:00:00-05:00"),
            parse_rfc3339("2026-05-01T10:00:00Z")
        );
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        for bad in [
            "",
            "2026-05-01",
            "2026-13-01T00:00:00Z",
            "2026-05-01T00:00:00",
            "garbage-in-here-xxxx",
            "2026-05-01T00:00:00.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert!(now_unix() > 1_700_000_000);
        let t = HostTime::new("2026-05-01T10:00:00Z");
        assert_eq!(t.unix_seconds(), parse_rfc3339("2026-05-01T10:00:00Z"));
        assert!(t.is_past(t.unix_seconds().unwrap()));
        assert!(!t.is_past(t.unix_seconds().unwrap() - 1));
        assert!(!HostTime::new("soon").is_past(i64::MAX));
    }

    proptest::proptest! {
        /// A valid timestamp parses, and its zone offset shifts it by exactly
        /// the offset; arbitrary text never panics.
        #[test]
        fn offsets_shift_exactly(
            y in 1970i64..2200, mo in 1i64..=12, d in 1i64..=28,
            h in 0i64..24, mi in 0i64..60, sec in 0i64..60,
            oh in 0i64..14, om in 0i64..60, junk in ".{0,40}",
        ) {
            let base = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}");
            let z = parse_rfc3339(&format!("{base}Z"));
            proptest::prop_assert!(z.is_some());
            let plus = parse_rfc3339(&format!("{base}.5+{oh:02}:{om:02}"));
            proptest::prop_assert_eq!(z.unwrap() - plus.unwrap(), oh * 3600 + om * 60);
            let _ = parse_rfc3339(&junk);
        }
    }
}
