use super::*;

fn from(pairs: &[(&str, &str)]) -> Result<ServiceSettings, SettingsError> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    ServiceSettings::from_lookup(&|name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
}

#[test]
fn defaults_hold_when_nothing_is_set_and_a_bad_value_names_its_variable() {
    assert_eq!(from(&[]).unwrap(), ServiceSettings::default());
    let set = from(&[("APIKEYS_ROTATION_DAYS", "7"), ("APIKEYS_TABLE_NAME", "t")]).unwrap();
    assert_eq!(set.rotation_after, Duration::days(7));
    assert_eq!(set.table_name, "t");
    let err = from(&[("APIKEYS_DELETE_GRACE_DAYS", "soon")]).unwrap_err();
    assert_eq!(err.name, "APIKEYS_DELETE_GRACE_DAYS");
    assert!(!err.to_string().contains("soon"), "{err}");
    assert_eq!(
        from(&[("APIKEYS_KEY_TESTS_PER_MINUTE", "0")])
            .unwrap_err()
            .name,
        "APIKEYS_KEY_TESTS_PER_MINUTE"
    );
}

#[test]
fn an_alias_is_read_only_when_the_name_is_unset() {
    let get = |name: &str| match name {
        "API_KEY_ENCRYPTION_SEED" => Some("old".to_owned()),
        _ => None,
    };
    assert_eq!(lookup(&get, "APIKEYS_SEED").as_deref(), Some("old"));
    let both = |name: &str| match name {
        "API_KEY_ENCRYPTION_SEED" => Some("old".to_owned()),
        "APIKEYS_SEED" => Some("new".to_owned()),
        _ => None,
    };
    assert_eq!(lookup(&both, "APIKEYS_SEED").as_deref(), Some("new"));
}

#[test]
fn every_variable_has_one_name_under_the_prefix() {
    let mut names: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
    assert!(names.iter().all(|n| n.starts_with("APIKEYS_")), "{names:?}");
    names.sort_unstable();
    let count = names.len();
    names.dedup();
    assert_eq!(names.len(), count);
}
