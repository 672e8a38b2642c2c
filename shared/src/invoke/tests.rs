use super::*;

fn field_of(payload: Value) -> String {
    UseKeyRequest::parse(&payload).unwrap_err().field
}

#[test]
fn a_use_and_a_report_parse_with_their_defaults() {
    let used = UseKeyRequest::parse(&json!({"userId": "u1", "provider": "claude"})).unwrap();
    assert_eq!(
        used,
        UseKeyRequest::Use {
            user: UserId::parse("u1").unwrap(),
            provider: ProviderId::Claude,
            key_id: None,
        }
    );
    let report = UseKeyRequest::parse(&json!({
        "userId": "u1", "provider": "openai", "keyId": "k-1", "outcome": "rate_limited"
    }))
    .unwrap();
    assert!(matches!(
        report,
        UseKeyRequest::Report {
            outcome: Outcome::RateLimited,
            retry_after_secs: DEFAULT_RETRY_AFTER_SECS,
            ..
        }
    ));
}

#[test]
fn each_wrong_field_is_named() {
    assert_eq!(field_of(json!([])), "");
    assert_eq!(field_of(json!({"provider": "openai"})), "userId");
    assert_eq!(
        field_of(json!({"userId": 7, "provider": "openai"})),
        "userId"
    );
    assert_eq!(
        field_of(json!({"userId": "", "provider": "openai"})),
        "userId"
    );
    assert_eq!(field_of(json!({"userId": "u"})), "provider");
    assert_eq!(
        field_of(json!({"userId": "u", "provider": "nope"})),
        "provider"
    );
    assert_eq!(
        field_of(json!({"userId": "u", "provider": "openai", "keyId": "a b"})),
        "keyId"
    );
    assert_eq!(
        field_of(json!({"userId": "u", "provider": "openai", "outcome": "ok"})),
        "keyId"
    );
    assert_eq!(
        field_of(json!({"userId": "u", "provider": "openai", "keyId": "k", "outcome": "meh"})),
        "outcome"
    );
    assert_eq!(
        field_of(json!({"userId": "u", "provider": "openai", "keyId": "k",
                        "outcome": "rate_limited", "retryAfterSeconds": 0})),
        "retryAfterSeconds"
    );
    assert_eq!(
        field_of(json!({"userId": "u", "provider": "openai", "keyId": "k",
                        "outcome": "invalid", "retryAfterSeconds": 5})),
        "retryAfterSeconds"
    );
    assert_eq!(
        field_of(json!({"userId": "u", "provider": "openai", "userid": "v"})),
        "userid"
    );
}

#[test]
fn an_api_gateway_event_is_refused_before_anything_else() {
    let event = json!({
        "userId": "u", "provider": "openai",
        "requestContext": {"http": {"method": "POST"}}, "body": "{}"
    });
    assert_eq!(field_of(event), "requestContext");
}

#[test]
fn a_lease_is_read_back_from_what_a_use_answered_and_nothing_else() {
    let report = UseKeyRequest::parse(&json!({
        "userId": "u", "provider": "openai", "keyId": "k", "outcome": "invalid",
        "lease": lease_of(7)
    }))
    .unwrap();
    assert!(matches!(
        report,
        UseKeyRequest::Report { lease: Some(7), .. }
    ));
    for wrong_lease in [
        json!("7"),
        json!("rev-"),
        json!("rev-x1"),
        json!(7),
        json!("rev-1 "),
    ] {
        assert_eq!(
            field_of(json!({"userId": "u", "provider": "openai", "keyId": "k",
                            "outcome": "ok", "lease": wrong_lease})),
            "lease"
        );
    }
    // A lease belongs to a report, not to a use.
    assert_eq!(
        field_of(json!({"userId": "u", "provider": "openai", "lease": lease_of(1)})),
        "lease"
    );
}

#[test]
fn a_call_on_the_deployment_s_key_is_reported_with_its_tokens_and_only_then() {
    let base =
        json!({"userId": "u1", "provider": "openai", "keyId": "deployment", "outcome": "ok"});
    let mut with_usage = base.clone();
    with_usage["usage"] = json!({"inputTokens": 30, "outputTokens": 12});
    assert_eq!(
        UseKeyRequest::parse(&with_usage).unwrap(),
        UseKeyRequest::DeploymentUsage {
            user: UserId::parse("u1").unwrap(),
            provider: ProviderId::OpenAi,
            tokens: 42,
        }
    );
    assert_eq!(field_of(base.clone()), "usage");
    for (usage, field) in [
        (json!({"inputTokens": -1}), "usage.inputTokens"),
        (json!({"inputTokens": 1.5}), "usage.inputTokens"),
        (json!({"cachedTokens": 1}), "usage.cachedTokens"),
        (json!(12), "usage"),
    ] {
        let mut payload = base.clone();
        payload["usage"] = usage;
        assert_eq!(field_of(payload), field);
    }
    let mut with_lease = with_usage.clone();
    with_lease["lease"] = json!("rev-1");
    assert_eq!(field_of(with_lease), "lease");
    let mut on_a_user_key = with_usage;
    on_a_user_key["keyId"] = json!("a-user-key");
    assert_eq!(field_of(on_a_user_key), "usage");
}
