//! Embedding `relay-upstream` in another Rust tool: profile what a vendor's own
//! API offers to a key — the model list, Chat Completions (plain, streamed, with a
//! tool), the Responses API and the Anthropic-compatible endpoint — and decide the
//! host account's Responses mode from it. The vendor here is `sub2api-mock`'s mock
//! vendor on loopback, without `/responses` (like most Chinese vendors), so the
//! example needs no network and no real key.
//!
//! Run with `cargo run -p relay-upstream --example profile_a_vendor`.

use relay_domain::Secret;
use relay_upstream::{profile, ProfileRequest, UpstreamSupport};
use sub2api_mock::{MockVendor, MockVendorConfig};

pub fn main() {
    let vendor = MockVendor::start(MockVendorConfig {
        responses: false,
        ..MockVendorConfig::default()
    })
    .expect("mock vendor starts");

    let request = ProfileRequest::new(vendor.base_url(), Secret::new("sk-example0123456789abcdef"))
        .with_models(["deepseek-flash"])
        .with_anthropic_base_url(vendor.anthropic_base_url());
    let profile = profile(&request);

    let t = &profile.transport;
    println!("models:            {}", t.models.support);
    println!("chat completions:  {}", t.chat_completions.support);
    println!("responses:         {}", t.responses.support);
    println!("anthropic:         {}", t.anthropic_messages.support);
    for m in &profile.models {
        println!(
            "{}: listed {:?}, chat {}, stream {}, tools {}, responses {}",
            m.model,
            m.listed,
            m.chat.support,
            m.stream.support,
            m.tools.support,
            m.responses.support
        );
    }
    println!(
        "requests: {}; chat completions only: {}",
        profile.requests,
        profile.chat_completions_only()
    );
    assert_eq!(t.responses.support, UpstreamSupport::Unsupported);
    assert!(profile.chat_completions_only());
    assert!(!profile.key_rejected());
    // Plain data, for storage.
    let stored = serde_json::to_string(&profile).expect("profile serialises");
    assert!(!stored.contains("sk-example0123456789abcdef"));
}
