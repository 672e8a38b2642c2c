//! A proxy over a test stack's table, calling a fake provider on loopback with the
//! keys it takes, and the local issuer of its users' tokens: what the proxy tests
//! and the model-based test run calls through.

use std::sync::Arc;

use apikeys::keytest::{HostResolver, KeyTestSettings, KeyTester};
use apikeys::proxy::{Proxy, ProxySettings};
use apikeys::sealing_state::SealingState;
use apikeys::usertoken::{JwtAuthorizer, KeySet, KeySource};
use apikeys_admin::issuer::LocalIssuer;

use crate::fake_llm::FakeLlm;
use crate::{unique, Stack};

/// A folder removed when this is dropped.
pub struct RemoveOnDrop(pub std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The proxy, its fake provider and its issuer (see the module).
pub struct ProxyRig {
    /// The proxy, over the stack's table and key material.
    pub proxy: Arc<Proxy>,
    /// The provider it calls: OpenAI, Anthropic and Gemini at their base URLs, and
    /// a user's own OpenAI-compatible server or Azure resource on loopback.
    pub fake: FakeLlm,
    /// The issuer whose tokens the proxy verifies.
    pub issuer: LocalIssuer,
    /// The issuer's folder.
    pub dir: RemoveOnDrop,
}

impl ProxyRig {
    /// A proxy with `settings` over `stack`'s table, and a fake provider started
    /// for it.
    pub async fn over(stack: &Stack, settings: ProxySettings) -> Self {
        Self::resolving(stack, settings, None).await
    }

    /// As [`Self::over`], with host names resolved by `resolver` where one is given.
    pub async fn resolving(
        stack: &Stack,
        settings: ProxySettings,
        resolver: Option<Arc<dyn HostResolver>>,
    ) -> Self {
        let fake = FakeLlm::start().await;
        let url = fake.url.clone();
        let tests = KeyTestSettings::from_lookup(&|name: &str| match name {
            "APIKEYS_OPENAI_BASE_URL"
            | "APIKEYS_CLAUDE_BASE_URL"
            | "APIKEYS_GOOGLE_AI_BASE_URL" => Some(url.clone()),
            // The fake also stands for a user's own OpenAI-compatible server and Azure
            // resource, on loopback.
            "APIKEYS_ALLOW_LOOPBACK_ENDPOINTS" => Some("true".into()),
            _ => None,
        })
        .expect("key test settings");
        let sealing = SealingState::new(
            stack.state.clone(),
            crate::test_key_material(&stack.sdk),
            match resolver {
                Some(resolver) => KeyTester::with_resolver(tests, resolver),
                None => KeyTester::new(tests),
            },
        );
        let dir = std::env::temp_dir().join(unique("apikeys-proxy-issuer"));
        let (issuer, _) = LocalIssuer::provision(&dir).expect("a local issuer");
        let info = issuer.info();
        let verifier = JwtAuthorizer::new(
            info.issuer.clone(),
            vec![info.audience.clone()],
            KeySource::Fixed(KeySet::from_jwks(issuer.jwks())),
        );
        Self {
            proxy: Arc::new(Proxy::new(sealing, Some(verifier), settings)),
            fake,
            issuer,
            dir: RemoveOnDrop(dir),
        }
    }

    /// A token of `user`'s, valid for an hour.
    pub fn token(&self, user: &str) -> String {
        self.issuer
            .token(user, std::time::Duration::from_secs(3600))
            .expect("a token")
    }
}
