use super::*;

fn key(sk: &str, priority: i64, created: &str) -> Item {
    Item::from([
        ("pk".to_owned(), s("u#openai")),
        (SORT_KEY.to_owned(), s(sk)),
        ("userId".to_owned(), s("u")),
        ("provider".to_owned(), s("openai")),
        ("id".to_owned(), s(sk)),
        ("isActive".to_owned(), active()),
        ("priority".to_owned(), n(priority)),
        ("createdAt".to_owned(), s(created)),
        ("updatedAt".to_owned(), s(created)),
    ])
}

#[test]
fn the_primary_comes_first_then_priority_then_age() {
    let items = vec![
        key("key#b", 2, "2025-01-01"),
        key("key#c", 1, "2025-03-01"),
        key("key#a", 1, "2025-02-01"),
        key(PRIMARY_SLOT, 9, "2025-04-01"),
    ];
    let items = use_order(items).unwrap();
    let order: Vec<_> = items
        .iter()
        .map(|i| match i.get(SORT_KEY) {
            Some(AttributeValue::S(v)) => v.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(order, ["primary", "key#a", "key#c", "key#b"]);
}

#[test]
fn the_refusal_named_is_the_key_usable_soonest() {
    let wait = |until_ms: Option<i128>| UseRecord::Unavailable {
        reason: if until_ms.is_some() {
            "rate_limited"
        } else {
            "invalid"
        }
        .into(),
        until_ms,
    };
    let got = combined(vec![
        UseRecord::Inactive,
        wait(None),
        wait(Some(5_000)),
        UseRecord::Expired,
        wait(Some(3_000)),
    ]);
    assert!(
        matches!(got, UseRecord::Unavailable { until_ms: Some(3_000), ref reason } if reason == "rate_limited"),
        "{got:?}"
    );
    assert!(matches!(
        combined(vec![UseRecord::Inactive, UseRecord::Expired]),
        UseRecord::Expired
    ));
    assert!(matches!(combined(vec![]), UseRecord::None));
    assert!(matches!(
        combined(vec![wait(None), UseRecord::Expired]),
        UseRecord::Unavailable { until_ms: None, .. }
    ));
}
