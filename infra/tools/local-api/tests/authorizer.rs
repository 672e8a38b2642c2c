//! The JWT authorizer refuses what API Gateway's refuses, and passes the claims of
//! what it accepts, `sub` or not (a function then answers 401 itself).

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apikeys_admin::issuer::LocalIssuer;
use apikeys_local_api::authorizer::{JwtAuthorizer, Refusal};
use apikeys_local_api::jwks::{KeySet, KeySource};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

const HOUR: Duration = Duration::from_secs(3600);

fn authorizer_for(issuer: &LocalIssuer) -> JwtAuthorizer {
    let info = issuer.info();
    JwtAuthorizer::new(
        info.issuer.clone(),
        vec![info.audience.clone(), "second-client".into()],
        KeySource::Fixed(KeySet::from_jwks(issuer.jwks())),
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(issuer: &LocalIssuer) -> Value {
    issuer.claims("alice", HOUR).unwrap()
}

async fn verify(
    authorizer: &JwtAuthorizer,
    token: &str,
) -> Result<serde_json::Map<String, Value>, Refusal> {
    authorizer.verify(Some(&format!("Bearer {token}"))).await
}

#[tokio::test]
async fn a_token_of_the_issuer_passes_with_its_claims() {
    let (issuer, _) = support::issuer("valid");
    let authorizer = authorizer_for(&issuer);
    let token = issuer.token("alice", HOUR).unwrap();
    let claims = verify(&authorizer, &token).await.expect("accepted");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["iss"], issuer.info().issuer.as_str());
    // The identity source may hold the token alone, as API Gateway allows.
    assert!(authorizer.verify(Some(&token)).await.is_ok());
}

#[tokio::test]
async fn no_token_is_refused() {
    let (issuer, _) = support::issuer("none");
    let authorizer = authorizer_for(&issuer);
    assert_eq!(authorizer.verify(None).await, Err(Refusal::NoToken));
    assert_eq!(
        authorizer.verify(Some("Bearer ")).await,
        Err(Refusal::NoToken)
    );
    assert!(matches!(
        authorizer.verify(Some("Bearer not.a.jwt")).await,
        Err(Refusal::Invalid(_))
    ));
}

#[tokio::test]
async fn a_changed_payload_fails_the_signature() {
    let (issuer, _) = support::issuer("tampered");
    let authorizer = authorizer_for(&issuer);
    let token = issuer.token("alice", HOUR).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims(&issuer);
    forged["sub"] = json!("mallory");
    let payload = URL_SAFE_NO_PAD.encode(forged.to_string());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_eq!(
        verify(&authorizer, &tampered).await,
        Err(Refusal::Invalid("the token's signature is invalid"))
    );
}

#[tokio::test]
async fn another_key_is_refused_even_under_our_kid() {
    let (issuer, _) = support::issuer("ours");
    let (other, _) = support::issuer("theirs");
    let authorizer = authorizer_for(&issuer);
    // Their key, their kid: unknown here.
    let token = other.token("alice", HOUR).unwrap();
    assert_eq!(
        verify(&authorizer, &token).await,
        Err(Refusal::Invalid("no key of the issuer has the token's kid"))
    );
    // Their signature under our kid: the signature does not verify.
    let header = URL_SAFE_NO_PAD
        .encode(json!({"alg": "RS256", "typ": "JWT", "kid": issuer.info().kid}).to_string());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!("{header}.{}.{}", parts[1], parts[2]);
    assert_eq!(
        verify(&authorizer, &forged).await,
        Err(Refusal::Invalid("the token's signature is invalid"))
    );
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let (issuer, _) = support::issuer("iss");
    let authorizer = authorizer_for(&issuer);
    let mut c = claims(&issuer);
    c["iss"] = json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other");
    let token = issuer.token_with(&c).unwrap();
    assert_eq!(
        verify(&authorizer, &token).await,
        Err(Refusal::Invalid("the token does not have a valid issuer"))
    );
    c.as_object_mut().unwrap().remove("iss");
    let token = issuer.token_with(&c).unwrap();
    assert!(verify(&authorizer, &token).await.is_err());
}

#[tokio::test]
async fn aud_or_else_client_id_must_be_an_audience() {
    let (issuer, _) = support::issuer("aud");
    let authorizer = authorizer_for(&issuer);
    let wrong = Err(Refusal::Invalid("the token does not have a valid audience"));

    let mut c = claims(&issuer);
    c["aud"] = json!("someone-else");
    assert_eq!(
        verify(&authorizer, &issuer.token_with(&c).unwrap()).await,
        wrong
    );

    c["aud"] = json!(["someone-else", "second-client"]);
    assert!(verify(&authorizer, &issuer.token_with(&c).unwrap())
        .await
        .is_ok());

    // An access token: no aud, client_id instead.
    c.as_object_mut().unwrap().remove("aud");
    c["client_id"] = json!("second-client");
    assert!(verify(&authorizer, &issuer.token_with(&c).unwrap())
        .await
        .is_ok());
    c["client_id"] = json!("someone-else");
    assert_eq!(
        verify(&authorizer, &issuer.token_with(&c).unwrap()).await,
        wrong
    );

    // client_id is only read when there is no aud.
    c["aud"] = json!("someone-else");
    c["client_id"] = json!("second-client");
    assert_eq!(
        verify(&authorizer, &issuer.token_with(&c).unwrap()).await,
        wrong
    );

    c.as_object_mut().unwrap().remove("aud");
    c.as_object_mut().unwrap().remove("client_id");
    assert_eq!(
        verify(&authorizer, &issuer.token_with(&c).unwrap()).await,
        wrong
    );
}

#[tokio::test]
async fn an_expired_token_is_refused_and_exp_is_required() {
    let (issuer, _) = support::issuer("exp");
    let authorizer = authorizer_for(&issuer);
    let mut c = claims(&issuer);
    c["iat"] = json!(now() - 7200);
    c["nbf"] = json!(now() - 7200);
    c["exp"] = json!(now() - 3600);
    assert_eq!(
        verify(&authorizer, &issuer.token_with(&c).unwrap()).await,
        Err(Refusal::Invalid("the token has expired"))
    );
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        verify(&authorizer, &issuer.token_with(&c).unwrap()).await,
        Err(Refusal::Invalid("the token has no exp"))
    );
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let (issuer, _) = support::issuer("nbf");
    let authorizer = authorizer_for(&issuer);
    let mut c = claims(&issuer);
    c["nbf"] = json!(now() + 600);
    assert_eq!(
        verify(&authorizer, &issuer.token_with(&c).unwrap()).await,
        Err(Refusal::Invalid("the token is not valid yet (nbf)"))
    );
    let mut c = claims(&issuer);
    c["iat"] = json!(now() + 600);
    assert_eq!(
        verify(&authorizer, &issuer.token_with(&c).unwrap()).await,
        Err(Refusal::Invalid("the token's iat is not in the past"))
    );
}

#[tokio::test]
async fn alg_none_and_hmac_are_refused() {
    let (issuer, _) = support::issuer("alg");
    let authorizer = authorizer_for(&issuer);
    let body = URL_SAFE_NO_PAD.encode(claims(&issuer).to_string());
    for header in [
        json!({"alg": "none", "typ": "JWT", "kid": issuer.info().kid}),
        json!({"alg": "HS256", "typ": "JWT", "kid": issuer.info().kid}),
    ] {
        let header = URL_SAFE_NO_PAD.encode(header.to_string());
        for signature in ["", "c2lnbmF0dXJl"] {
            let token = format!("{header}.{body}.{signature}");
            assert!(
                matches!(verify(&authorizer, &token).await, Err(Refusal::Invalid(_))),
                "{header} with signature {signature:?} passed"
            );
        }
    }
}

#[tokio::test]
async fn a_token_without_kid_is_refused() {
    let (issuer, _) = support::issuer("kid");
    let authorizer = authorizer_for(&issuer);
    let token = issuer.token("alice", HOUR).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string());
    assert_eq!(
        verify(&authorizer, &format!("{header}.{}.{}", parts[1], parts[2])).await,
        Err(Refusal::Invalid("the token has no kid"))
    );
}

#[tokio::test]
async fn a_token_without_sub_still_passes_its_claims() {
    let (issuer, _) = support::issuer("nosub");
    let authorizer = authorizer_for(&issuer);
    let mut c = claims(&issuer);
    c.as_object_mut().unwrap().remove("sub");
    let claims = verify(&authorizer, &issuer.token_with(&c).unwrap())
        .await
        .expect("API Gateway passes a valid token without sub");
    assert!(claims.get("sub").is_none());
    assert_eq!(claims["aud"], issuer.info().audience.as_str());
}
