//! Model-name normalisation used to match what users type against canonical model ids
//! (reference: cn-providers §8).

/// Normalises a model name for comparison: trims, lowercases, and turns every run of
/// whitespace, `_` and `-` into a single `-` (leading and trailing runs are dropped).
///
/// Dots are kept, since vendors use them for versions (`kimi-k2.6`, `glm-4.6`), so
/// `"Kimi K2.6"` → `kimi-k2.6` and `"kimi 2.6"` → `kimi-2.6` (which an alias then resolves).
/// The function is idempotent.
pub fn normalize_model_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_dash = false;
    for c in name.chars() {
        if c.is_whitespace() || c == '-' || c == '_' {
            pending_dash = true;
            continue;
        }
        if pending_dash && !out.is_empty() {
            out.push('-');
        }
        pending_dash = false;
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_model_name;

    #[test]
    fn collapses_separators_and_case() {
        assert_eq!(normalize_model_name("  Kimi  K2.6 "), "kimi-k2.6");
        assert_eq!(normalize_model_name("kimi__2.6"), "kimi-2.6");
        assert_eq!(normalize_model_name("MiniMax-M2.7"), "minimax-m2.7");
        assert_eq!(normalize_model_name("-glm - 4.6-"), "glm-4.6");
        assert_eq!(normalize_model_name(" \t"), "");
    }
}
