use super::*;
use crate::repo::schema::{delete_attributes, view_attributes};

/// The attribute names of an update expression (no placeholders or functions),
/// with the `#ep` alias read as the name it stands for.
fn attributes(expression: &str) -> Vec<&str> {
    expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '#'))
        .filter(|w| !w.is_empty() && !w.starts_with(':'))
        .filter(|w| !["SET", "REMOVE", "ADD", "if_not_exists"].contains(w))
        .map(|w| {
            if w == ENDPOINT_NAME.0 {
                ENDPOINT_NAME.1
            } else {
                w
            }
        })
        .collect()
}

#[test]
fn update_settings_touches_only_what_its_policy_allows() {
    let allowed = view_attributes();
    for name in attributes(UPDATE_SETTINGS).into_iter().chain(["isActive"]) {
        assert!(allowed.contains(&name), "{name} is not in the view");
    }
}

#[test]
fn delete_touches_only_what_its_policy_allows_and_keeps_the_former_id() {
    let delete = delete_expression();
    for name in attributes(&delete).into_iter().chain(["isActive"]) {
        assert!(delete_attributes().contains(&name), "{name}");
    }
    // Everything a new configuration must not inherit goes, the former id stays.
    for name in [
        "id",
        "createdAt",
        "usageCount",
        "lastUsedAt",
        "settings",
        "apiKey",
        "endpoint",
    ] {
        assert!(attributes(FORGET).contains(&name), "{name}");
    }
    assert_eq!(
        attributes(KEEP_FORMER),
        ["deletedId", "id", "deletedCreatedAt", "createdAt"]
    );
}
