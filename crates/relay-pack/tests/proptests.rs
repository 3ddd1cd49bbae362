//! Property tests: the checksum line parser and model-name normalisation.

use proptest::prelude::*;
use relay_pack::checksums::{parse_line, ChecksumEntry};
use relay_pack::{load_dir, normalize_model_name};

proptest! {
    #[test]
    fn checksum_parser_never_panics(line in any::<String>()) {
        let _ = parse_line(&line);
    }

    #[test]
    fn checksum_parser_never_panics_near_valid_lines(
        digest in "[0-9a-fA-F]{60,68}",
        sep in "( |  | \\*|\t|)",
        path in "[ -~]{0,40}",
    ) {
        if let Ok(entry) = parse_line(&format!("{digest}{sep}{path}")) {
            prop_assert_eq!(entry.digest.len(), 64);
            prop_assert!(!entry.path.is_empty());
        }
    }

    #[test]
    fn checksum_lines_round_trip(
        digest in "[0-9a-f]{64}",
        path in "[A-Za-z0-9_][A-Za-z0-9_ .-]{0,12}(/[A-Za-z0-9_][A-Za-z0-9_ .-]{0,12}){0,3}",
    ) {
        prop_assume!(path.split('/').all(|c| c != "." && c != ".."));
        let entry = ChecksumEntry { digest, path };
        prop_assert_eq!(parse_line(&entry.to_string()), Ok(entry.clone()));
        let binary = format!("{}  {}", entry.digest.to_uppercase(), entry.path).replacen("  ", " *", 1);
        prop_assert_eq!(parse_line(&binary), Ok(entry));
    }

    #[test]
    fn normalisation_is_idempotent(name in any::<String>()) {
        let once = normalize_model_name(&name);
        prop_assert_eq!(normalize_model_name(&once), once);
    }

    #[test]
    fn canonical_ids_survive_case_and_separator_noise(
        pick in any::<prop::sample::Index>(),
        upper in any::<bool>(),
        sep in "( |_|-|  | - )",
    ) {
        let pack = load_dir(&crate::common::real_pack_dir()).unwrap();
        let provider = pick.get(&pack.providers);
        for model in &provider.default_models {
            prop_assert_eq!(provider.canonical_model(model), Some(model.as_str()));
            let mut noisy = model.replace('-', &sep);
            if upper {
                noisy = noisy.to_uppercase();
            }
            prop_assert_eq!(provider.canonical_model(&noisy), Some(model.as_str()), "{}", noisy);
        }
        for (alias, target) in &provider.model_aliases {
            prop_assert_eq!(provider.canonical_model(alias), Some(target.as_str()));
            let canonical = provider.canonical_model(alias).unwrap();
            prop_assert_eq!(provider.canonical_model(canonical), Some(canonical));
        }
    }
}
