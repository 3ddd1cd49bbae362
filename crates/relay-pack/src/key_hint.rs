//! The tiny whole-key pattern language of [`crate::KeyHint::pattern`].
//!
//! A pattern is literal text with placeholders:
//!
//! | placeholder | matches |
//! |---|---|
//! | `{class}` | one or more characters of `class` |
//! | `{class:N}` | exactly `N` characters of `class` |
//! | `{class:N-M}` | `N` to `M` characters of `class` |
//!
//! Classes: `hex` (`0-9a-fA-F`), `digit`, `alpha` (ASCII letters), `alnum` (ASCII letters and
//! digits), `token` (alnum plus `-` and `_`), `any` (any non-whitespace character).
//! Every other character matches itself; `{` always opens a placeholder. The whole key must
//! match. Example: Zhipu keys look like `{hex:32}.{alnum:16}`.

/// Longest key a pattern is matched against; longer keys never match.
const MAX_KEY_CHARS: usize = 512;
/// Most pieces a pattern may have.
const MAX_PIECES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Hex,
    Digit,
    Alpha,
    Alnum,
    Token,
    Any,
}

impl Class {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "hex" => Self::Hex,
            "digit" => Self::Digit,
            "alpha" => Self::Alpha,
            "alnum" => Self::Alnum,
            "token" => Self::Token,
            "any" => Self::Any,
            _ => return None,
        })
    }

    fn contains(self, c: char) -> bool {
        match self {
            Self::Hex => c.is_ascii_hexdigit(),
            Self::Digit => c.is_ascii_digit(),
            Self::Alpha => c.is_ascii_alphabetic(),
            Self::Alnum => c.is_ascii_alphanumeric(),
            Self::Token => c.is_ascii_alphanumeric() || c == '-' || c == '_',
            Self::Any => !c.is_whitespace(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(char),
    Class {
        class: Class,
        min: usize,
        max: usize,
    },
}

/// A parsed key pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pieces: Vec<Piece>,
}

impl Pattern {
    /// Parses a pattern, explaining what is wrong when it is not valid.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("pattern is empty".to_owned());
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if c == '{' {
                let end = rest
                    .find('}')
                    .ok_or_else(|| format!("unclosed \"{{\" in pattern \"{text}\""))?;
                pieces.push(parse_placeholder(&rest[1..end])?);
                rest = &rest[end + 1..];
            } else {
                pieces.push(Piece::Literal(c));
                rest = &rest[c.len_utf8()..];
            }
        }
        if pieces.len() > MAX_PIECES {
            return Err(format!("pattern has more than {MAX_PIECES} pieces"));
        }
        Ok(Self { pieces })
    }

    /// Whether the whole of `key` matches the pattern.
    pub fn matches(&self, key: &str) -> bool {
        let chars: Vec<char> = key.chars().collect();
        chars.len() <= MAX_KEY_CHARS && match_at(&self.pieces, &chars)
    }
}

fn parse_placeholder(inner: &str) -> Result<Piece, String> {
    let (name, count) = match inner.split_once(':') {
        Some((name, count)) => (name, Some(count)),
        None => (inner, None),
    };
    let class = Class::parse(name.trim()).ok_or_else(|| {
        format!("unknown class \"{name}\" (expected hex, digit, alpha, alnum, token or any)")
    })?;
    let (min, max) = match count {
        None => (1, MAX_KEY_CHARS),
        Some(count) => {
            let number = |s: &str| {
                s.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("invalid count \"{count}\" in {{{inner}}}"))
            };
            match count.split_once('-') {
                Some((lo, hi)) => (number(lo)?, number(hi)?),
                None => {
                    let n = number(count)?;
                    (n, n)
                }
            }
        }
    };
    if min == 0 || min > max || max > MAX_KEY_CHARS {
        return Err(format!(
            "invalid count in {{{inner}}}: need 1 <= min <= max <= {MAX_KEY_CHARS}"
        ));
    }
    Ok(Piece::Class { class, min, max })
}

/// Matches by tracking every reachable position after each piece (no exponential backtracking).
fn match_at(pieces: &[Piece], key: &[char]) -> bool {
    let mut reachable = vec![false; key.len() + 1];
    reachable[0] = true;
    for piece in pieces {
        let mut next = vec![false; key.len() + 1];
        for pos in (0..=key.len()).filter(|&p| reachable[p]) {
            match piece {
                Piece::Literal(c) => {
                    if key.get(pos) == Some(c) {
                        next[pos + 1] = true;
                    }
                }
                Piece::Class { class, min, max } => {
                    let run = key[pos..]
                        .iter()
                        .take(*max)
                        .take_while(|c| class.contains(**c))
                        .count();
                    for n in *min..=run {
                        next[pos + n] = true;
                    }
                }
            }
        }
        reachable = next;
    }
    reachable[key.len()]
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn zhipu_shape() {
        let p = Pattern::parse("{hex:32}.{alnum:16}").unwrap();
        assert!(p.matches("6dc6a1b2c3d4e5f60718293a4b5c55b1.auuRSiYueq7Mvc6m"));
        assert!(!p.matches("6dc6a1b2c3d4e5f60718293a4b5c55b1.auuRSiYueq7Mvc6"));
        assert!(!p.matches("sk-0123456789abcdef0123456789abcdef"));
    }

    #[test]
    fn open_ended_class_backtracks() {
        let p = Pattern::parse("sk-{token}-{hex:4}").unwrap();
        assert!(p.matches("sk-api-ab-12cd"));
        assert!(!p.matches("sk--12cd"));
        assert!(Pattern::parse("sk-{digit:2-3}").unwrap().matches("sk-123"));
        assert!(!Pattern::parse("sk-{digit:2-3}").unwrap().matches("sk-1234"));
    }

    #[test]
    fn rejects_bad_patterns() {
        assert_eq!(
            Pattern::parse("{hex:32").unwrap_err(),
            "unclosed \"{\" in pattern \"{hex:32\""
        );
        assert!(Pattern::parse("{word}")
            .unwrap_err()
            .contains("unknown class \"word\""));
        assert!(Pattern::parse("{hex:0}")
            .unwrap_err()
            .contains("invalid count"));
        assert!(Pattern::parse("{hex:x}")
            .unwrap_err()
            .contains("invalid count \"x\""));
        assert!(Pattern::parse("").is_err());
    }
}
