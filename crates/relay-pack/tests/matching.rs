//! Batch-import matching against the shipped pack: every vendor and region variant,
//! ad-hoc allowed and refused, model-hint corrections, foreign-vendor hints.

use relay_domain::batch_input::BaseUrl;
use relay_domain::parse_batch_input;
use relay_pack::matching::{
    match_base_url, model_family, resolve_adhoc_model, resolve_model_hint, CorrectionKind,
    MatchError, MatchRule, MatchedProvider, ModelHintError,
};
use relay_pack::{load_dir, Pack};

use crate::common::real_pack_dir;

fn real() -> Pack {
    load_dir(&real_pack_dir()).expect("the shipped pack is valid")
}

fn url(text: &str) -> BaseUrl {
    BaseUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn every_vendor_and_region_variant_matches_its_own_provider() {
    use MatchRule::*;
    let pack = real();
    let table: &[(&str, &str, MatchRule)] = &[
        ("https://api.deepseek.com", "deepseek", Exact),
        ("https://API.DeepSeek.com:443/", "deepseek", Exact),
        ("https://api.deepseek.com/v1", "deepseek", TrailingV1),
        ("https://api.deepseek.com/v1/", "deepseek", TrailingV1),
        ("https://api.moonshot.cn/v1", "moonshot", Exact),
        ("https://api.moonshot.cn", "moonshot", TrailingV1),
        ("https://api.moonshot.cn/", "moonshot", TrailingV1),
        ("https://api.moonshot.ai/v1", "moonshot-global", Exact),
        ("https://api.kimi.ai/v1", "moonshot-global", RegionVariant),
        ("https://api.minimaxi.com/v1", "minimax", Exact),
        ("https://api.minimax.io/v1", "minimax-global", Exact),
        ("https://api.minimax.io", "minimax-global", TrailingV1),
        ("https://api.minimax.chat/v1", "minimax", RegionVariant),
        (
            "https://api.minimaxi.chat/v1",
            "minimax-global",
            RegionVariant,
        ),
        (
            "https://dashscope.aliyuncs.com/compatible-mode/v1",
            "qwen",
            Exact,
        ),
        ("https://dashscope.aliyuncs.com", "qwen", ProviderPath),
        ("https://dashscope.aliyuncs.com/v1", "qwen", ProviderPath),
        (
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/",
            "qwen-intl",
            Exact,
        ),
        (
            "https://dashscope-intl.aliyuncs.com",
            "qwen-intl",
            ProviderPath,
        ),
        ("https://open.bigmodel.cn/api/paas/v4", "glm", Exact),
        ("https://open.bigmodel.cn", "glm", ProviderPath),
        ("https://api.z.ai/api/paas/v4/", "glm-global", Exact),
        ("https://api.z.ai", "glm-global", ProviderPath),
        ("https://api.stepfun.com/v1", "stepfun", Exact),
        ("https://api.stepfun.ai/v1", "stepfun-global", Exact),
        ("https://api.stepfun.ai", "stepfun-global", TrailingV1),
    ];
    for (input, provider, rule) in table {
        let m =
            match_base_url(&pack, &url(input), false).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(m.provider_id(), *provider, "{input}");
        assert_eq!(m.rule, *rule, "{input}");
        assert_eq!(
            m.base_url,
            pack.provider(provider).unwrap().base_url,
            "{input}"
        );
        assert!(m.detail.contains(provider), "{}", m.detail);
    }
    // Every provider of the pack is reached by its own base URL, exactly.
    for p in &pack.providers {
        let m = match_base_url(&pack, &url(&p.base_url), false).unwrap();
        assert_eq!((m.provider_id(), m.rule), (p.provider_id.as_str(), Exact));
    }
}

#[test]
fn unknown_urls_are_refused_or_ad_hoc_when_allowed() {
    let pack = real();
    let refused = [
        ("https://api.openrouter.ai/api/v1", None),
        (
            "https://dashscope-us.aliyuncs.com/compatible-mode/v1",
            Some("region-bound"),
        ),
        (
            "https://api.moonshot.cn/anthropic",
            Some("is served by moonshot at https://api.moonshot.cn/v1"),
        ),
        (
            "https://open.bigmodel.cn/api/coding/paas/v4",
            Some("not at the path"),
        ),
        ("https://api.deepseek.com:8443", None),
        (
            "https://api.minimax.chat/anthropic",
            Some("api.minimax.chat is an alias of api.minimaxi.com; api.minimaxi.com is served by minimax at"),
        ),
    ];
    for (input, note) in refused {
        let err = match_base_url(&pack, &url(input), false).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "no provider of pack {} serves ",
                pack.manifest.pack_id
            )),
            "{text}"
        );
        assert!(
            text.contains("add a provider to the pack or allow ad-hoc"),
            "{text}"
        );
        if let Some(note) = note {
            assert!(text.contains(note), "{text}");
        }
        assert!(matches!(err, MatchError::NoProvider { .. }));
    }
    let allowed = [
        (
            "https://api.openrouter.ai/api/v1/",
            "adhoc-api-openrouter-ai",
            "https://api.openrouter.ai/api/v1",
        ),
        (
            "https://API.DeepSeek.com:8443/v1",
            "adhoc-api-deepseek-com-8443",
            "https://api.deepseek.com:8443/v1",
        ),
        (
            "http://127.0.0.1:8080/v1",
            "adhoc-127-0-0-1-8080",
            "http://127.0.0.1:8080/v1",
        ),
        ("http://[::1]:9000", "adhoc-1-9000", "http://[::1]:9000"),
        (
            "http://localhost/v1",
            "adhoc-localhost",
            "http://localhost/v1",
        ),
    ];
    for (input, id, base) in allowed {
        let m = match_base_url(&pack, &url(input), true).unwrap();
        assert_eq!(m.rule, MatchRule::AdHoc);
        assert_eq!(m.provider_id(), id);
        assert_eq!(m.base_url, base);
        assert!(relay_pack::check_base_url(&m.base_url).is_ok());
        assert!(matches!(m.provider, MatchedProvider::AdHoc(_)));
    }
    // A URL built by hand still meets the base-URL policy of packs.
    let hand_made = BaseUrl {
        scheme: "http".into(),
        host: "router.example".into(),
        port: None,
        path: "/v1".into(),
    };
    let err = match_base_url(&pack, &hand_made, true).unwrap_err();
    assert!(matches!(err, MatchError::AdHocUrl { .. }));
    assert!(err.to_string().contains("must use https"), "{err}");
    let err = match_base_url(&pack, &url("https://[::]/v1"), true).unwrap_err();
    assert!(matches!(err, MatchError::AdHocId { .. }), "{err}");
    // Allowing ad-hoc never overrides a provider of the pack.
    let m = match_base_url(&pack, &url("https://api.moonshot.cn/v1"), true).unwrap();
    assert_eq!((m.provider_id(), m.rule), ("moonshot", MatchRule::Exact));
    // Plain http to a vendor never gets as far as matching.
    assert!(BaseUrl::parse("http://api.openrouter.ai/v1").is_err());
}

#[test]
fn every_provider_host_of_the_pack_is_a_known_host_of_its_vendor() {
    let pack = real();
    for p in &pack.providers {
        let host = url(&p.base_url).host;
        let k = relay_pack::matching::known_host(&host).unwrap_or_else(|| panic!("{host}"));
        assert_eq!(k.canonical, host);
        assert_eq!(
            k.vendor,
            relay_pack::matching::vendor_of(&p.provider_id),
            "{host}"
        );
    }
}

#[test]
fn model_hints_are_corrected_through_the_pack() {
    use CorrectionKind::*;
    let pack = real();
    let table: &[(&str, &str, &str, CorrectionKind)] = &[
        ("moonshot", "kimi 2.6", "kimi-k2.6", Alias),
        ("moonshot", "kimi-2.6", "kimi-k2.6", Alias),
        ("moonshot", "Kimi K2.6", "kimi-k2.6", Normalised),
        ("moonshot", "kimi-k2.6", "kimi-k2.6", AsGiven),
        ("moonshot", "KIMI_K2.6", "kimi-k2.6", Normalised),
        ("moonshot", "kimi k2 6", "kimi-k2.6", Alias),
        (
            "moonshot",
            "moonshotai/Kimi-K2.6",
            "kimi-k2.6",
            VendorPrefix,
        ),
        ("moonshot", "moonshot kimi k3", "kimi-k3", VendorPrefix),
        ("moonshot-global", "kimi code", "kimi-k2.7-code", Alias),
        ("deepseek", "deepseek chat", "deepseek-flash", Alias),
        ("deepseek", "DeepSeek V4", "deepseek-v4-pro", Alias),
        (
            "deepseek",
            "deepseek/deepseek-v4-pro",
            "deepseek-v4-pro",
            VendorPrefix,
        ),
        ("minimax", "minimax m2.7", "MiniMax-M2.7", Normalised),
        ("minimax", "m3", "MiniMax-M3", Alias),
        (
            "minimax-global",
            "MiniMax M2.7 highspeed",
            "MiniMax-M2.7-highspeed",
            Normalised,
        ),
        ("qwen", "Qwen 3.7 Max", "qwen3.7-max", Alias),
        ("qwen-intl", "qwen3-coder-plus", "qwen3-coder-plus", AsGiven),
        ("glm", "GLM 4.6", "glm-4.6", Normalised),
        ("glm-global", "glm5.1", "glm-5.1", Alias),
        ("glm", "zhipu glm-5", "glm-5", VendorPrefix),
        ("stepfun", "Step 3", "step-3.7-flash", Alias),
        (
            "stepfun-global",
            "step-3.5-flash-2603",
            "step-3.5-flash-2603",
            AsGiven,
        ),
    ];
    for (provider, hint, model, kind) in table {
        let p = pack.provider(provider).unwrap();
        let c = resolve_model_hint(&pack, p, Some(hint))
            .unwrap_or_else(|e| panic!("{provider} {hint}: {e}"));
        assert_eq!(
            (c.model.as_str(), c.kind),
            (*model, *kind),
            "{provider} {hint}"
        );
        assert_eq!(c.hint.as_deref(), Some(*hint));
        assert!(c.warning.is_none());
        if hint == model {
            assert!(c.correction.is_none());
        } else {
            assert!(c
                .correction
                .as_deref()
                .unwrap()
                .starts_with(&format!("\"{hint}\" → \"{model}\" (")));
        }
    }
    let p = pack.provider("moonshot").unwrap();
    let c = resolve_model_hint(&pack, p, Some("kimi 2.6")).unwrap();
    assert_eq!(
        c.correction.as_deref(),
        Some("\"kimi 2.6\" → \"kimi-k2.6\" (alias)")
    );
}

#[test]
fn missing_unknown_and_foreign_hints() {
    let pack = real();
    let deepseek = pack.provider("deepseek").unwrap();
    let c = resolve_model_hint(&pack, deepseek, None).unwrap();
    assert_eq!(
        (c.model.as_str(), c.kind),
        ("deepseek-flash", CorrectionKind::NoHint)
    );
    let c = resolve_model_hint(&pack, deepseek, Some("  ")).unwrap();
    assert_eq!(c.kind, CorrectionKind::NoHint);

    let c = resolve_model_hint(&pack, deepseek, Some("gpt-9 turbo")).unwrap();
    assert_eq!(
        (c.model.as_str(), c.kind),
        ("deepseek-flash", CorrectionKind::UnknownHint)
    );
    assert_eq!(
        c.warning.as_deref(),
        Some("unknown model hint \"gpt-9 turbo\", using the provider's default smoke model \"deepseek-flash\"")
    );

    let err = resolve_model_hint(&pack, deepseek, Some("kimi 2.6")).unwrap_err();
    assert!(
        matches!(&err, ModelHintError::OtherVendor { model, other_provider, .. }
        if model == "kimi-k2.6" && other_provider.starts_with("moonshot"))
    );
    let text = err.to_string();
    assert!(
        text.contains("kimi-k2.6") && text.contains("Moonshot") && text.contains("deepseek"),
        "{text}"
    );

    let glm = pack.provider("glm").unwrap();
    let err = resolve_model_hint(&pack, glm, Some("MiniMax-M3")).unwrap_err();
    assert!(err.to_string().contains("MiniMax-M3"), "{err}");

    // A hint holding key-shaped text is shown redacted.
    let key = "sk-0123456789abcdef0123456789abcdef";
    let c = resolve_model_hint(&pack, deepseek, Some(&format!("model {key}"))).unwrap();
    assert!(!c.warning.unwrap().contains(key));
    assert!(!c.hint.unwrap().contains(key));
}

#[test]
fn ad_hoc_models_are_canonical_when_the_pack_knows_them() {
    let pack = real();
    let m = match_base_url(&pack, &url("https://router.example/v1"), true).unwrap();
    let MatchedProvider::AdHoc(adhoc) = &m.provider else {
        panic!("ad-hoc expected")
    };
    let c = resolve_adhoc_model(&pack, adhoc, Some("Kimi K2.6")).unwrap();
    assert_eq!(c.model, "kimi-k2.6");
    let c = resolve_adhoc_model(&pack, adhoc, Some("llama-4-scout")).unwrap();
    assert_eq!(
        (c.model.as_str(), c.kind),
        ("llama-4-scout", CorrectionKind::PassThrough)
    );
    assert!(c.correction.is_none());
    let err = resolve_adhoc_model(&pack, adhoc, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ad-hoc provider adhoc-router-example has no default model: add a model hint after the key"
    );
}

#[test]
fn model_families() {
    let table = [
        ("deepseek-chat", "deepseek-chat"),
        ("deepseek-reasoner", "deepseek-reasoner"),
        ("kimi-k2.6", "kimi-k2.6"),
        ("kimi-k2-0905", "kimi-k2"),
        ("kimi-latest", "kimi"),
        ("step-3.5-flash-2603", "step-3.5-flash"),
        ("qwen3-max-2025-09-23", "qwen3-max"),
        ("qwen-plus-20250923-latest", "qwen-plus"),
        ("MiniMax-M2.7", "minimax-m2.7"),
        ("MiniMax-M2.7-highspeed", "minimax-m2.7-highspeed"),
        ("moonshotai/Kimi-K2.6", "kimi-k2.6"),
        ("glm-4.6", "glm-4.6"),
        ("moonshot-v1-8k", "moonshot-v1-8k"),
        ("2603", "2603"),
    ];
    for (model, family) in table {
        assert_eq!(model_family(model), family, "{model}");
        assert_eq!(model_family(family), family, "idempotent on {family}");
    }
    assert_ne!(
        model_family("deepseek-chat"),
        model_family("deepseek-reasoner")
    );
    assert_ne!(model_family("kimi-k2.6"), model_family("kimi-k3"));
}

#[test]
fn a_pasted_batch_end_to_end() {
    let pack = real();
    let k = |c: char| format!("sk-{}", c.to_string().repeat(32));
    let input = format!(
        "# four vendors\n\
         https://api.moonshot.cn/v1 {} kimi 2.6\n\
         https://api.deepseek.com/v1,{},deepseek chat\n\
         https://dashscope-intl.aliyuncs.com\t{}\tqwen max\n\
         https://api.minimax.chat/v1 {} m2.7\n\
         https://api.moonshot.cn/v1/ {}\n\
         https://unknown.example/v1 {} foo-1\n",
        k('a'),
        k('b'),
        k('c'),
        k('d'),
        k('a'),
        k('e')
    );
    let parsed = parse_batch_input(&input);
    assert_eq!(parsed.errors.len(), 1);
    assert!(parsed.errors[0].to_string().contains("duplicate of line 2"));
    let mut got = Vec::new();
    for line in &parsed.lines {
        match match_base_url(&pack, &line.base_url, false) {
            Ok(m) => {
                let p = pack.provider(m.provider_id()).unwrap();
                let c = resolve_model_hint(&pack, p, line.model_hint.as_deref()).unwrap();
                got.push(format!(
                    "{} {} {} {}",
                    line.line,
                    m.provider_id(),
                    m.rule,
                    c.model
                ));
            }
            Err(e) => {
                let text = e.to_string();
                assert!(!text.contains(line.key.expose()));
                got.push(format!("{} refused", line.line));
            }
        }
    }
    assert_eq!(
        got,
        [
            "2 moonshot exact kimi-k2.6",
            "3 deepseek trailing_v1 deepseek-flash",
            "4 qwen-intl provider_path qwen3.7-max",
            "5 minimax region_variant MiniMax-M2.7",
            "7 refused",
        ]
    );
}

mod properties {
    use proptest::prelude::*;
    use relay_domain::batch_input::BaseUrl;
    use relay_pack::matching::{match_base_url, resolve_model_hint, ModelHintError};

    fn host() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(
                relay_pack::matching::KNOWN_HOSTS
                    .iter()
                    .map(|k| k.host.to_owned())
                    .collect::<Vec<_>>()
            ),
            "[a-z0-9-]{1,10}(\\.[a-z]{2,5}){1,2}",
            Just("127.0.0.1".to_owned()),
        ]
    }

    fn path_segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("v1".to_owned()),
            Just("compatible-mode".to_owned()),
            Just("api".to_owned()),
            Just("anthropic".to_owned()),
            "sk-[A-Za-z0-9]{20,30}",
            "[0-9a-f]{32}\\.[A-Za-z0-9]{16}",
            "[a-z0-9]{0,6}",
        ]
    }

    proptest! {
        #[test]
        fn matching_never_panics_and_never_shows_a_key_in_a_path(
            scheme in prop_oneof![Just("https"), Just("http")],
            host in host(),
            port in prop::option::of(1u16..),
            segments in prop::collection::vec(path_segment(), 0..4),
            allow in any::<bool>(),
            hint in prop::option::of("[A-Za-z0-9 ._/-]{0,16}"),
        ) {
            let pack = super::real();
            let text = format!(
                "{scheme}://{host}{}/{}",
                port.map(|p| format!(":{p}")).unwrap_or_default(),
                segments.join("/")
            );
            let Ok(url) = BaseUrl::parse(&text) else { return Ok(()) };
            let keys: Vec<&String> = segments.iter().filter(|s| s.len() >= 20).collect();
            match match_base_url(&pack, &url, allow) {
                Ok(m) => {
                    for k in &keys {
                        prop_assert!(!m.detail.contains(k.as_str()), "{}", m.detail);
                    }
                    if let Some(p) = pack.provider(m.provider_id()) {
                        // The model is always one of the provider's; the only refusal is
                        // a model the provider does not serve.
                        match resolve_model_hint(&pack, p, hint.as_deref()) {
                            Ok(c) => prop_assert!(p.default_models.contains(&c.model)),
                            Err(ModelHintError::OtherVendor { model, .. }) => {
                                prop_assert!(!p.default_models.contains(&model))
                            }
                            Err(e) => prop_assert!(false, "{}", e),
                        }
                    }
                }
                Err(e) => {
                    let shown = e.to_string();
                    for k in &keys {
                        prop_assert!(!shown.contains(k.as_str()), "{}", shown);
                    }
                }
            }
        }
    }
}
