//! `template.yaml` read as data: every function holds exactly the permissions of its
//! entry in [`POLICIES`] and nothing more, no policy has a wildcard, only the
//! functions that seal or open keys can read the seed, every function crate of the
//! workspace is deployed (and built by SAM with cargo-lambda), and the table, key and
//! secret are what DESIGN.md describes.
//!
//! A new function needs one entry in [`POLICIES`] and its block in `template.yaml`;
//! the tests say which of the two is missing.

use std::collections::{BTreeMap, BTreeSet};

use apikeys::repo::schema;
use apikeys_integration_tests::template::{load_yaml, read, repo_root, template_routes};
use aws_sdk_dynamodb::types::KeySchemaElement;
use serde_json::{json, Value};

// The resources a policy may name, written as the template writes them (see `canonical`).
/// The configuration table.
const TABLE: &str = "!GetAtt ConfigTable.Arn";
/// The `byUser` index of the table, and nothing else of it.
const BY_USER_INDEX: &str = "!Sub ${ConfigTable.Arn}/index/byUser";
/// The seed secret.
const SEED_SECRET: &str = "!Ref SeedSecret";
/// The KMS key the seed secret (or a seed ciphertext) is encrypted under.
const SEED_KEY: &str = "!GetAtt SeedKey.Arn";
/// The operator's secret of deployment keys (the proxy and use-key, when named).
const DEPLOYMENT_KEYS: &str = "!Ref DeploymentKeysSecretArn";

/// Every (action, resource) each function may have, by the binary its crate builds:
/// the whole of its inline policy, across both seed sources of the template. The
/// DynamoDB calls are those of `shared/src/repo/` that the function's handler makes.
const POLICIES: &[(&str, &[(&str, &str)])] = &[
    (
        "store",
        &[
            // The upsert, and the rate-limit counter when `validate: true`; several
            // keys: the added key, the swap of a key made primary, the reads.
            ("dynamodb:DeleteItem", TABLE),
            ("dynamodb:GetItem", TABLE),
            ("dynamodb:PutItem", TABLE),
            ("dynamodb:Query", TABLE),
            ("dynamodb:UpdateItem", TABLE),
            ("secretsmanager:DescribeSecret", SEED_SECRET),
            ("secretsmanager:GetSecretValue", SEED_SECRET),
            ("kms:Decrypt", SEED_KEY),
        ],
    ),
    ("get-configs", &[("dynamodb:Query", BY_USER_INDEX)]),
    ("update-settings", &[("dynamodb:UpdateItem", TABLE)]),
    (
        "delete-config",
        &[
            // The soft delete; with several keys, the read of where they are and
            // the transaction conditional on it.
            ("dynamodb:DeleteItem", TABLE),
            ("dynamodb:Query", TABLE),
            ("dynamodb:UpdateItem", TABLE),
        ],
    ),
    // The daily sweep: pages through the table, ciphertext projected out.
    ("maintenance", &[("dynamodb:Scan", TABLE)]),
    (
        "use-key",
        &[
            // The provider's keys, the recorded use (answering the item), the
            // GetItem fallback; the deployment's own keys when the operator names
            // their secret (the allowance counter is an item of the table).
            ("secretsmanager:GetSecretValue", DEPLOYMENT_KEYS),
            ("dynamodb:GetItem", TABLE),
            ("dynamodb:Query", TABLE),
            ("dynamodb:UpdateItem", TABLE),
            ("secretsmanager:DescribeSecret", SEED_SECRET),
            ("secretsmanager:GetSecretValue", SEED_SECRET),
            ("kms:Decrypt", SEED_KEY),
        ],
    ),
    (
        "proxy",
        &[
            // As use-key, plus the month's spending on the key used, and the
            // deployment's own keys when the operator names their secret.
            ("secretsmanager:GetSecretValue", DEPLOYMENT_KEYS),
            ("dynamodb:GetItem", TABLE),
            ("dynamodb:Query", TABLE),
            ("dynamodb:UpdateItem", TABLE),
            ("secretsmanager:DescribeSecret", SEED_SECRET),
            ("secretsmanager:GetSecretValue", SEED_SECRET),
            ("kms:Decrypt", SEED_KEY),
        ],
    ),
    (
        "test-key",
        &[
            // Rate-limit counter, the stored key, the recorded outcome.
            ("dynamodb:GetItem", TABLE),
            ("dynamodb:UpdateItem", TABLE),
            ("secretsmanager:DescribeSecret", SEED_SECRET),
            ("secretsmanager:GetSecretValue", SEED_SECRET),
            ("kms:Decrypt", SEED_KEY),
        ],
    ),
];

/// The variable that points a function at the seed secret.
const SEED_SECRET_VARIABLE: &str = "APIKEYS_SEED_SECRET_ID";

fn template() -> Value {
    load_yaml("template.yaml")
}

fn expected_policies() -> BTreeMap<&'static str, BTreeSet<(String, String)>> {
    POLICIES
        .iter()
        .map(|(binary, grants)| {
            let grants = grants
                .iter()
                .map(|(action, resource)| ((*action).to_owned(), (*resource).to_owned()))
                .collect();
            (*binary, grants)
        })
        .collect()
}

/// Whether a function may read the seed, by its entry in [`POLICIES`].
fn reads_seed(grants: &BTreeSet<(String, String)>) -> bool {
    grants
        .iter()
        .any(|(action, _)| action.starts_with("secretsmanager:") || action.starts_with("kms:"))
}

/// The functions of the template by the binary they build: (logical id, resource).
fn functions(template: &Value) -> BTreeMap<String, (String, Value)> {
    let mut functions = BTreeMap::new();
    for (id, resource) in template["Resources"].as_object().expect("Resources") {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has no Metadata.BuildProperties.Binary"));
        if let Some((other, _)) =
            functions.insert(binary.to_owned(), (id.clone(), resource.clone()))
        {
            panic!("{id} and {other} both build the binary {binary}");
        }
    }
    functions
}

/// The function crates of the workspace (members under `functions/`): binary name ->
/// member path.
fn workspace_function_binaries() -> BTreeMap<String, String> {
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).expect("parse Cargo.toml");
    let members = manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members");
    let mut binaries = BTreeMap::new();
    for member in members.iter().filter_map(toml::Value::as_str) {
        if !member.starts_with("functions/") {
            continue;
        }
        let crate_manifest: toml::Table = toml::from_str(&read(&format!("{member}/Cargo.toml")))
            .unwrap_or_else(|e| panic!("parse {member}/Cargo.toml: {e}"));
        let package = crate_manifest["package"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("{member}/Cargo.toml has no package name"));
        // A function crate builds one binary: its [[bin]] or, by default, the package.
        let names: Vec<String> = match crate_manifest.get("bin").and_then(toml::Value::as_array) {
            Some(bins) => bins
                .iter()
                .filter_map(|b| b.get("name").and_then(toml::Value::as_str))
                .map(str::to_owned)
                .collect(),
            None => vec![package.to_owned()],
        };
        assert_eq!(
            names.len(),
            1,
            "{member} builds {names:?}: a function crate builds exactly one binary"
        );
        binaries.insert(names[0].clone(), member.to_owned());
    }
    binaries
}

/// A resource expression in one line, as the template writes it: `!Ref X`,
/// `!GetAtt X.Attr`, `!Sub text`, or the literal string.
fn canonical(resource: &Value) -> String {
    match resource {
        Value::String(s) => s.clone(),
        Value::Object(map) if map.len() == 1 => {
            let (key, value) = map.iter().next().expect("one entry");
            match (key.as_str(), value) {
                ("Ref", Value::String(name)) => format!("!Ref {name}"),
                ("Fn::GetAtt", Value::Array(parts)) if parts.len() == 2 => format!(
                    "!GetAtt {}.{}",
                    parts[0].as_str().unwrap_or("?"),
                    parts[1].as_str().unwrap_or("?")
                ),
                ("Fn::Sub", Value::String(text)) => format!("!Sub {text}"),
                _ => resource.to_string(),
            }
        }
        other => other.to_string(),
    }
}

/// The statements of a policy document with every `Fn::If` opened into both of its
/// branches (`AWS::NoValue` dropped): what the function may do under any parameters.
fn statements(document: &Value) -> Vec<Value> {
    fn open(value: &Value, into: &mut Vec<Value>) {
        if value == &json!({"Ref": "AWS::NoValue"}) {
            return;
        }
        if let Some(branches) = value.get("Fn::If").and_then(Value::as_array) {
            for branch in branches.iter().skip(1) {
                open(branch, into);
            }
            return;
        }
        into.push(value.clone());
    }
    let mut found = Vec::new();
    match &document["Statement"] {
        Value::Array(items) => items.iter().for_each(|s| open(s, &mut found)),
        other => open(other, &mut found),
    }
    found
}

/// A string or a list of them (or of intrinsics), as policy elements allow.
fn one_or_many(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// The (action, resource) pairs a function's inline policies grant, or the reasons
/// they cannot be read as such.
fn granted(id: &str, function: &Value) -> Result<BTreeSet<(String, String)>, Vec<String>> {
    let mut problems = Vec::new();
    let mut grants = BTreeSet::new();
    let properties = &function["Properties"];
    if properties.get("Role").is_some() {
        problems.push(format!(
            "{id} sets Role: its permissions must be its own inline Policies"
        ));
    }
    for policy in one_or_many(&properties["Policies"]) {
        if policy.get("Statement").is_none() {
            problems.push(format!(
                "{id} has the policy {policy}: SAM policy templates and managed policies \
                 grant more than the function needs (often `*`); write an inline statement"
            ));
            continue;
        }
        for statement in statements(&policy) {
            let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
            if statement["Effect"] != "Allow" {
                problems.push(format!("{id} {sid}: only Allow statements are expected"));
            }
            for forbidden in ["NotAction", "NotResource", "Principal", "NotPrincipal"] {
                if statement.get(forbidden).is_some() {
                    problems.push(format!("{id} {sid}: {forbidden} is not allowed"));
                }
            }
            let actions = one_or_many(&statement["Action"]);
            let resources = one_or_many(&statement["Resource"]);
            if actions.is_empty() || resources.is_empty() {
                problems.push(format!("{id} {sid}: a statement needs Action and Resource"));
            }
            for action in &actions {
                let Some(action) = action.as_str() else {
                    problems.push(format!("{id} {sid}: the action {action} is not a string"));
                    continue;
                };
                for resource in &resources {
                    grants.insert((action.to_owned(), canonical(resource)));
                }
            }
            // kms:Decrypt only through Secrets Manager for this stack's secret, or for
            // a seed ciphertext made under the seed's encryption context.
            if actions.iter().any(|a| a == "kms:Decrypt") {
                let equals = &statement["Condition"]["StringEquals"];
                let through_secret = equals["kms:ViaService"]
                    == json!({"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"})
                    && equals["kms:EncryptionContext:SecretARN"] == json!({"Ref": "SeedSecret"});
                let seed_blob = equals["kms:EncryptionContext:purpose"] == "apikeys-seed";
                if !(through_secret || seed_blob) {
                    problems.push(format!(
                        "{id} {sid}: kms:Decrypt needs a condition: kms:ViaService \
                         secretsmanager.${{AWS::Region}}.amazonaws.com with \
                         kms:EncryptionContext:SecretARN of SeedSecret, or \
                         kms:EncryptionContext:purpose apikeys-seed"
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(grants)
    } else {
        Err(problems)
    }
}

/// Every string under the `Action`, `NotAction`, `Resource` and `NotResource` of any
/// policy statement in `value`, with where it was found.
fn policy_strings(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let here = format!("{at}.{key}");
                if matches!(
                    key.as_str(),
                    "Action" | "NotAction" | "Resource" | "NotResource"
                ) {
                    strings_in(child, &here, found);
                } else {
                    policy_strings(child, &here, found);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                policy_strings(child, &format!("{at}[{i}]"), found);
            }
        }
        _ => {}
    }
}

fn strings_in(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => found.push((at.to_owned(), s.clone())),
        Value::Array(items) => items.iter().for_each(|v| strings_in(v, at, found)),
        Value::Object(map) => map.values().for_each(|v| strings_in(v, at, found)),
        _ => {}
    }
}

fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}:\n  - {}",
        problems.join("\n  - ")
    );
}

#[test]
fn every_function_crate_is_deployed_and_every_deployed_function_has_a_crate() {
    let template = template();
    let deployed = functions(&template);
    let crates = workspace_function_binaries();
    let expected = expected_policies();
    let mut problems = Vec::new();
    for (binary, member) in &crates {
        if !expected.contains_key(binary.as_str()) {
            problems.push(format!(
                "{member} (binary `{binary}`) has no entry in POLICIES in tests/tests/template.rs: \
                 add (\"{binary}\", &[(action, resource), ...]) with exactly the calls it makes"
            ));
        }
        if !deployed.contains_key(binary) {
            problems.push(format!(
                "template.yaml has no AWS::Serverless::Function for {member}: add one with \
                 `Metadata: {{BuildMethod: rust-cargolambda, BuildProperties: {{Binary: {binary}}}}}`, \
                 `CodeUri: .`, its own log group and an inline policy matching POLICIES"
            ));
        }
    }
    for (binary, (id, _)) in &deployed {
        if !crates.contains_key(binary) {
            problems.push(format!(
                "template.yaml builds the binary `{binary}` ({id}), but no workspace member \
                 under functions/ provides it"
            ));
        }
    }
    for binary in expected.keys() {
        if !crates.contains_key(*binary) {
            problems.push(format!(
                "POLICIES lists `{binary}`, but no workspace member under functions/ builds it"
            ));
        }
    }
    assert_no_problems(
        "the functions of the workspace and of template.yaml differ",
        &problems,
    );
}

#[test]
fn each_function_has_exactly_its_permissions() {
    let template = template();
    let expected = expected_policies();
    let mut problems = Vec::new();
    for (binary, (id, function)) in functions(&template) {
        // A function without an entry is reported by the crate/template test.
        let Some(want) = expected.get(binary.as_str()) else {
            continue;
        };
        match granted(&id, &function) {
            Err(mut reasons) => problems.append(&mut reasons),
            Ok(have) => {
                for (action, resource) in have.difference(want) {
                    problems.push(format!(
                        "{id} ({binary}) is granted {action} on {resource}, which POLICIES does not allow"
                    ));
                }
                for (action, resource) in want.difference(&have) {
                    problems.push(format!(
                        "{id} ({binary}) lacks {action} on {resource}, which its handler needs"
                    ));
                }
            }
        }
    }
    assert_no_problems("function policies differ from POLICIES", &problems);
}

#[test]
fn no_policy_anywhere_has_a_wildcard() {
    let template = template();
    let mut found = Vec::new();
    for (id, resource) in template["Resources"].as_object().expect("Resources") {
        // The key policy and the secret's resource policy are checked on their own:
        // there `Resource: "*"` means the key, or the secret.
        if resource["Type"] == "AWS::KMS::Key"
            || resource["Type"] == "AWS::SecretsManager::ResourcePolicy"
        {
            continue;
        }
        policy_strings(resource, id, &mut found);
    }
    let wildcards: Vec<String> = found
        .iter()
        .filter(|(_, s)| s.contains('*'))
        .map(|(at, s)| format!("{at}: {s}"))
        .collect();
    assert_no_problems("policies with wildcards", &wildcards);
    assert!(
        found
            .iter()
            .any(|(at, _)| at.contains("GetConfigsFunction")),
        "the walk found no policy at all: {found:?}"
    );
}

#[test]
fn the_key_policy_lets_the_account_administer_and_only_the_seed_readers_decrypt() {
    let template = template();
    let key = &template["Resources"]["SeedKey"];
    assert_eq!(key["Type"], "AWS::KMS::Key");
    let root = json!({"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}});
    let statements = statements(&key["Properties"]["KeyPolicy"]);
    let (allows, denies): (Vec<&Value>, Vec<&Value>) =
        statements.iter().partition(|s| s["Effect"] == "Allow");
    // Every grant is to the account itself, which administers the key through IAM.
    assert!(!allows.is_empty(), "the key has no policy");
    for statement in &allows {
        assert_eq!(
            statement["Principal"], root,
            "a key policy grant to someone other than the account: {statement}"
        );
    }
    // One Deny: decrypting, to every principal outside the seed readers' role path
    // and the named admin role.
    assert_eq!(denies.len(), 1, "{denies:?}");
    let deny = denies[0];
    assert_eq!(deny["Principal"], "*");
    assert_eq!(
        one_or_many(&deny["Action"]),
        [json!("kms:Decrypt"), json!("kms:ReEncryptFrom")]
    );
    let allowed: Vec<String> = one_or_many(&deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"])
        .iter()
        .map(canonical)
        .collect();
    let path = "/apikeys/${AWS::StackName}/seed-readers/";
    let mut want = vec![
        canonical(&json!({"Fn::Sub": format!(
            "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{path}*"
        )})),
        canonical(
            &json!({"Fn::If": ["HasSeedAdminRole", {"Ref": "SeedAdminRoleArn"}, {"Ref": "AWS::NoValue"}]}),
        ),
    ];
    want.sort();
    let mut allowed = allowed;
    allowed.sort();
    assert_eq!(allowed, want);
    // The role path holds exactly the functions whose grants read the seed: a
    // function added to it, or one that reads the seed outside it, fails here.
    let expected = expected_policies();
    let mut in_path = Vec::new();
    let mut readers = Vec::new();
    for (binary, (id, function)) in functions(&template) {
        if canonical(&function["Properties"]["RolePath"]) == canonical(&json!({"Fn::Sub": path})) {
            in_path.push(id.clone());
        }
        if expected.get(binary.as_str()).is_some_and(reads_seed) {
            readers.push(id);
        }
    }
    assert_eq!(in_path, readers);
    assert_eq!(
        readers.len(),
        4,
        "store, test-key, use-key and proxy: {readers:?}"
    );
}

#[test]
fn get_configs_may_only_query_the_by_user_index() {
    let template = template();
    let (id, function) = &functions(&template)["get-configs"];
    let grants = granted(id, function).expect("readable policy");
    assert_eq!(
        grants,
        BTreeSet::from([("dynamodb:Query".to_owned(), BY_USER_INDEX.to_owned())])
    );
    assert_eq!(apikeys::repo::BY_USER_INDEX, "byUser");
    assert_eq!(apikeys_admin::BY_USER_INDEX, "byUser");
}

/// What holds each function that never reads keys to it in IAM: for each of its
/// DynamoDB statements, the attributes it may touch (`ForAllValues:StringEquals` on
/// `dynamodb:Attributes`, as `shared/src/repo/schema.rs` defines them) and the one
/// value allowed for `dynamodb:Select` or `dynamodb:ReturnValues` (or, for the
/// actions of a transaction, which carry no ReturnValues, the enclosing operation).
/// An update answering ALL_OLD or ALL_NEW, or a read of the whole item, would carry
/// the ciphertext.
fn key_free_conditions() -> Vec<(&'static str, Vec<Value>)> {
    let view = schema::view_attributes();
    let held = |mut attributes: Vec<&'static str>, key: &str, value: &str| {
        attributes.sort_unstable();
        json!({
            "ForAllValues:StringEquals": {"dynamodb:Attributes": attributes},
            "StringEquals": {key: value},
        })
    };
    let mut in_transaction = schema::delete_attributes();
    in_transaction.sort_unstable();
    vec![
        (
            "get-configs",
            vec![held(
                view.clone(),
                "dynamodb:Select",
                "ALL_PROJECTED_ATTRIBUTES",
            )],
        ),
        (
            "update-settings",
            vec![held(view.clone(), "dynamodb:ReturnValues", "UPDATED_NEW")],
        ),
        (
            "delete-config",
            vec![
                held(schema::delete_attributes(), "dynamodb:ReturnValues", "NONE"),
                json!({
                    "ForAllValues:StringEquals": {"dynamodb:Attributes": in_transaction},
                    "ForAnyValue:StringEquals": {"dynamodb:EnclosingOperation": ["TransactWriteItems"]},
                }),
                held(
                    schema::SLOT_ATTRIBUTES.to_vec(),
                    "dynamodb:Select",
                    "SPECIFIC_ATTRIBUTES",
                ),
            ],
        ),
        (
            "maintenance",
            vec![held(view, "dynamodb:Select", "SPECIFIC_ATTRIBUTES")],
        ),
    ]
}

/// A statement's `Condition` with its attribute list in order, for comparing.
fn sorted_condition(condition: &Value) -> Value {
    let mut condition = condition.clone();
    if let Some(Value::Array(names)) =
        condition.pointer_mut("/ForAllValues:StringEquals/dynamodb:Attributes")
    {
        names.sort_by_key(|n| n.as_str().unwrap_or_default().to_owned());
    }
    condition
}

#[test]
fn functions_that_never_read_keys_are_held_to_it_by_iam_conditions() {
    let template = template();
    let functions = functions(&template);
    let mut problems = Vec::new();
    for (binary, allowed) in key_free_conditions() {
        let (id, function) = &functions[binary];
        let mut used = vec![false; allowed.len()];
        for policy in one_or_many(&function["Properties"]["Policies"]) {
            for statement in statements(&policy) {
                let on_dynamodb = one_or_many(&statement["Action"])
                    .iter()
                    .any(|a| a.as_str().is_some_and(|a| a.starts_with("dynamodb:")));
                if !on_dynamodb {
                    continue;
                }
                let have = sorted_condition(&statement["Condition"]);
                match allowed.iter().position(|want| *want == have) {
                    Some(i) => used[i] = true,
                    None => {
                        let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
                        problems.push(format!(
                            "{id} ({binary}) {sid}: the Condition is {have}, none of {allowed:?}"
                        ));
                    }
                }
            }
        }
        if used.iter().any(|u| !u) {
            problems.push(format!(
                "{id} ({binary}): not every expected DynamoDB statement is there ({used:?})"
            ));
        }
    }
    assert_no_problems("IAM conditions of the functions without keys", &problems);
    // Only delete-config names the ciphertext (it removes it), and it gets no answer:
    // a write answering NONE, or a transaction, whose writes answer nothing.
    for (binary, allowed) in key_free_conditions() {
        for condition in allowed {
            let names = &condition["ForAllValues:StringEquals"]["dynamodb:Attributes"];
            let names_key = names
                .as_array()
                .is_some_and(|n| n.iter().any(|a| a == schema::CIPHERTEXT_ATTRIBUTE));
            if names_key {
                assert_eq!(binary, "delete-config");
                assert!(
                    condition["StringEquals"]["dynamodb:ReturnValues"] == "NONE"
                        || condition["ForAnyValue:StringEquals"]["dynamodb:EnclosingOperation"]
                            == json!(["TransactWriteItems"]),
                    "{condition}"
                );
            }
        }
    }
}

/// A variable that says where the seed is or how keys derive from it (its aliases,
/// the `API_KEY_*` names of earlier releases, too).
fn is_seed_variable(name: &str) -> bool {
    [
        "APIKEYS_SEED",
        "APIKEYS_LEGACY_SEED",
        "APIKEYS_KDF_",
        "APIKEYS_LEGACY_POLICY",
        "API_KEY_",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

#[test]
fn only_the_functions_that_seal_or_open_keys_see_the_seed() {
    let template = template();
    let expected = expected_policies();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    let mut problems = Vec::new();
    if let Some(vars) = globals.as_object() {
        for name in vars.keys().filter(|n| is_seed_variable(n)) {
            problems.push(format!("Globals give every function {name}"));
        }
    }
    for (binary, (id, function)) in functions(&template) {
        let Some(grants) = expected.get(binary.as_str()) else {
            continue;
        };
        let vars = function["Properties"]["Environment"]["Variables"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let seed_vars: Vec<&String> = vars.keys().filter(|n| is_seed_variable(n)).collect();
        if reads_seed(grants) {
            if !vars.contains_key(SEED_SECRET_VARIABLE) {
                problems.push(format!("{id} ({binary}) needs {SEED_SECRET_VARIABLE}"));
            }
            // The plain development seed never reaches a deployment.
            if vars.contains_key("APIKEYS_SEED") {
                problems.push(format!("{id} ({binary}) sets the plain APIKEYS_SEED"));
            }
        } else if !seed_vars.is_empty() {
            problems.push(format!(
                "{id} ({binary}) never needs the seed but gets {seed_vars:?}"
            ));
        }
        if let Ok(have) = granted(&id, &function) {
            let seed_access: Vec<_> = have
                .iter()
                .filter(|(a, r)| {
                    a.starts_with("secretsmanager:")
                        || a.starts_with("kms:")
                        || r == SEED_SECRET
                        || r == SEED_KEY
                })
                .collect();
            if !reads_seed(grants) && !seed_access.is_empty() {
                problems.push(format!(
                    "{id} ({binary}) can reach the seed: {seed_access:?}"
                ));
            }
        }
    }
    assert_no_problems("seed access where it is not needed", &problems);
}

#[test]
fn every_function_is_built_with_cargo_lambda_for_arm64_from_the_workspace() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"], json!(["arm64"]));
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(globals["Tracing"], "Active");
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    let vars = &globals["Environment"]["Variables"];
    assert_eq!(vars["APIKEYS_TABLE_NAME"], json!({"Ref": "ConfigTable"}));
    assert_eq!(vars["AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH"], "true");
    assert!(vars.get("RUST_LOG").is_some());
    assert!(
        repo_root().join("Cargo.toml").is_file(),
        "CodeUri . must be the workspace root"
    );

    // The functions whose binary crate Cargo.toml builds for size (opt-level "z") are
    // built by the Makefile, which builds the shared library for size too
    // (infra/scripts/build.sh); every other one by SAM's own cargo-lambda build.
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).expect("parse Cargo.toml");
    let for_size = |binary: &str| {
        manifest["profile"]["release"]["package"]
            .get(binary)
            .and_then(|p| p.get("opt-level"))
            .and_then(toml::Value::as_str)
            == Some("z")
    };
    let makefile = read("Makefile");
    let mut problems = Vec::new();
    for (binary, (id, function)) in functions(&template) {
        if function["Metadata"]["BuildProperties"]["Binary"] != binary.as_str() {
            problems.push(format!(
                "{id}: Metadata.BuildProperties.Binary must name {binary} (the local API reads it)"
            ));
        }
        if for_size(&binary) {
            let recipe = format!(
                "build-{id}:\n\tinfra/scripts/build.sh --arm64 --artifacts \"$(ARTIFACTS_DIR)\" {binary}\n"
            );
            if function["Metadata"]["BuildMethod"] != "makefile" || !makefile.contains(&recipe) {
                problems.push(format!(
                    "{id}: {binary} is built for size (Cargo.toml), so Metadata.BuildMethod must \
                     be makefile and the Makefile must hold {recipe:?}"
                ));
            }
        } else if function["Metadata"]["BuildMethod"] != "rust-cargolambda" {
            problems.push(format!(
                "{id}: Metadata.BuildMethod must be rust-cargolambda"
            ));
        }
        let properties = &function["Properties"];
        // SAM runs `cargo lambda build --bin <Binary>` in CodeUri: the workspace root.
        if properties["CodeUri"] != "." {
            problems.push(format!(
                "{id}: CodeUri must be `.` (the workspace root), not {}",
                properties["CodeUri"]
            ));
        }
        for (name, want) in [
            ("Runtime", json!("provided.al2023")),
            ("Architectures", json!(["arm64"])),
            ("Handler", json!("bootstrap")),
        ] {
            if let Some(value) = properties.get(name) {
                if value != &want {
                    problems.push(format!("{id} ({binary}): {name} {value} instead of {want}"));
                }
            }
        }
        // Its own log group, kept for the retention the operator chose.
        let Some(group) = properties["LoggingConfig"]["LogGroup"]["Ref"].as_str() else {
            problems.push(format!(
                "{id}: LoggingConfig.LogGroup must !Ref its log group"
            ));
            continue;
        };
        let group = &template["Resources"][group];
        if group["Type"] != "AWS::Logs::LogGroup"
            || group["Properties"]["RetentionInDays"] != json!({"Ref": "LogRetentionDays"})
        {
            problems.push(format!(
                "{id}: its log group must be an AWS::Logs::LogGroup with RetentionInDays !Ref LogRetentionDays"
            ));
        }
    }
    assert_no_problems("function build and runtime settings", &problems);
}

#[test]
fn the_api_requires_a_jwt_on_every_route_and_is_throttled_and_logged() {
    let template = template();
    let api = &template["Resources"]["HttpApi"];
    assert_eq!(api["Type"], "AWS::Serverless::HttpApi");
    let auth = &api["Properties"]["Auth"];
    let default = auth["DefaultAuthorizer"]
        .as_str()
        .expect("a default authorizer");
    let jwt = &auth["Authorizers"][default]["JwtConfiguration"];
    assert_eq!(jwt["issuer"], json!({"Ref": "JwtIssuer"}));
    assert_eq!(
        jwt["audience"],
        json!({"Fn::Split": [",", {"Ref": "JwtAudience"}]})
    );
    let throttling = &api["Properties"]["DefaultRouteSettings"];
    assert_eq!(
        throttling["ThrottlingRateLimit"],
        json!({"Ref": "ThrottlingRateLimit"})
    );
    assert_eq!(
        throttling["ThrottlingBurstLimit"],
        json!({"Ref": "ThrottlingBurstLimit"})
    );
    let access_logs = &api["Properties"]["AccessLogSettings"];
    let group = access_logs["DestinationArn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("access logs into a log group of the template");
    assert_eq!(template["Resources"][group]["Type"], "AWS::Logs::LogGroup");
    assert!(access_logs["Format"]
        .as_str()
        .is_some_and(|f| f.contains("$context.requestId")));

    let mut problems = Vec::new();
    for (id, function) in template["Resources"].as_object().expect("Resources") {
        let Some(events) = function["Properties"]["Events"].as_object() else {
            continue;
        };
        for (name, event) in events {
            if event["Type"] != "HttpApi" {
                continue;
            }
            if event["Properties"]["ApiId"] != json!({"Ref": "HttpApi"}) {
                problems.push(format!("{id}.{name}: must be a route of HttpApi"));
            }
            // A route's own Auth could switch the authorizer off (Authorizer: NONE).
            if event["Properties"].get("Auth").is_some() {
                problems.push(format!("{id}.{name}: must use the API's JWT authorizer"));
            }
        }
    }
    assert_no_problems("routes", &problems);
    let routes: Vec<String> = template_routes(&template)
        .into_iter()
        .map(|((method, path), binary)| format!("{method} {path} -> {binary}"))
        .collect();
    assert_eq!(
        routes,
        [
            "DELETE /api/provider-configs/{provider} -> delete-config",
            "DELETE /api/provider-configs/{provider}/keys/{keyId} -> delete-config",
            "GET /api/provider-configs -> get-configs",
            "GET /api/provider-configs/{provider}/keys -> get-configs",
            "GET /api/providers -> get-configs",
            "POST /api/provider-configs -> store",
            "POST /api/provider-configs/{provider}/keys -> store",
            "POST /api/test-api-key -> test-key",
            "PUT /api/provider-configs -> update-settings",
            "PUT /api/provider-configs/{provider}/keys/{keyId} -> store",
        ]
    );
}

#[test]
fn the_table_is_the_one_of_the_design_and_survives_the_stack() {
    let template = template();
    let table = &template["Resources"]["ConfigTable"];
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(p["DeletionProtectionEnabled"], true);
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    // The table and index as `apikeys-admin provision` creates them.
    assert_eq!(
        p["TimeToLiveSpecification"],
        json!({"AttributeName": schema::TTL_ATTRIBUTE, "Enabled": true})
    );
    let keys = |elements: Vec<KeySchemaElement>| -> Value {
        elements
            .iter()
            .map(|k| json!({"AttributeName": k.attribute_name(), "KeyType": k.key_type().as_str()}))
            .collect()
    };
    assert_eq!(p["KeySchema"], keys(schema::table_key_schema().unwrap()));
    let definitions: Value = schema::attribute_definitions()
        .unwrap()
        .iter()
        .map(|d| json!({"AttributeName": d.attribute_name(), "AttributeType": d.attribute_type().as_str()}))
        .collect();
    assert_eq!(p["AttributeDefinitions"], definitions);
    let indexes = p["GlobalSecondaryIndexes"].as_array().expect("indexes");
    assert_eq!(indexes.len(), 1);
    let by_user = &indexes[0];
    assert_eq!(by_user["IndexName"], schema::BY_USER_INDEX);
    assert_eq!(
        by_user["KeySchema"],
        keys(schema::by_user_key_schema().unwrap())
    );
    assert_eq!(by_user["Projection"]["ProjectionType"], "INCLUDE");
    // DynamoDB projects the table and index keys itself and refuses them in
    // NonKeyAttributes.
    let want: BTreeSet<&str> = schema::NON_KEY_VIEW_ATTRIBUTES.iter().copied().collect();
    let have: BTreeSet<&str> = by_user["Projection"]["NonKeyAttributes"]
        .as_array()
        .expect("NonKeyAttributes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(have, want);
    assert!(
        !have.contains(schema::CIPHERTEXT_ATTRIBUTE),
        "the index must not hold ciphertext"
    );
    assert_eq!(
        apikeys_admin::BY_USER_PROJECTED,
        schema::NON_KEY_VIEW_ATTRIBUTES
    );
}

#[test]
fn the_seed_is_a_generated_secret_under_a_rotating_customer_key() {
    let template = template();
    let resources = &template["Resources"];
    let key = &resources["SeedKey"];
    assert_eq!(key["Properties"]["EnableKeyRotation"], true);
    assert_eq!(key["DeletionPolicy"], "Retain");
    assert_eq!(key["UpdateReplacePolicy"], "Retain");
    // The longest window KMS allows between a scheduled deletion and the deletion.
    assert_eq!(key["Properties"]["PendingWindowInDays"], 30);
    let alias = &resources["SeedKeyAlias"];
    assert_eq!(alias["Type"], "AWS::KMS::Alias");
    assert_eq!(
        alias["Properties"]["TargetKeyId"],
        json!({"Ref": "SeedKey"})
    );
    let secret = &resources["SeedSecret"];
    assert_eq!(secret["Type"], "AWS::SecretsManager::Secret");
    assert_eq!(secret["DeletionPolicy"], "Retain");
    assert_eq!(secret["UpdateReplacePolicy"], "Retain");
    assert_eq!(secret["Properties"]["KmsKeyId"], json!({"Ref": "SeedKey"}));
    let generated = &secret["Properties"]["GenerateSecretString"];
    let length = generated["PasswordLength"].as_u64().expect("a length");
    assert!(length >= 64, "a seed of {length} characters");
    assert!(
        generated.get("SecretStringTemplate").is_none(),
        "the secret string is the seed itself, not JSON"
    );
}

#[test]
fn use_key_is_invoke_only_and_the_app_gets_a_policy_for_exactly_that() {
    let template = template();
    let resources = &template["Resources"];
    let function = &resources["UseKeyFunction"];
    assert_eq!(function["Type"], "AWS::Serverless::Function");
    // No route, schedule or any other event source: only the Invoke API reaches it.
    assert!(
        function["Properties"].get("Events").is_none(),
        "use-key must have no Events: {}",
        function["Properties"]["Events"]
    );
    let policy = &resources["UseKeyInvokePolicy"];
    assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
    let statements = statements(&policy["Properties"]["PolicyDocument"]);
    assert_eq!(statements.len(), 1, "{statements:?}");
    let statement = &statements[0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(
        one_or_many(&statement["Action"]),
        [json!("lambda:InvokeFunction")]
    );
    assert_eq!(
        canonical(&statement["Resource"]),
        canonical(&json!({"Fn::GetAtt": ["UseKeyFunction", "Arn"]}))
    );
    let outputs = &template["Outputs"];
    assert_eq!(
        canonical(&outputs["UseKeyFunctionArn"]["Value"]),
        canonical(&json!({"Fn::GetAtt": ["UseKeyFunction", "Arn"]}))
    );
    assert_eq!(
        canonical(&outputs["UseKeyInvokePolicyArn"]["Value"]),
        canonical(&json!({"Ref": "UseKeyInvokePolicy"}))
    );
}

#[test]
fn the_route_tables_the_template_the_contract_and_the_local_api_agree_route_by_route() {
    // The functions' route tables: (method, pattern, function)
    let tables: BTreeSet<(String, String, String)> = apikeys::api::route_tables()
        .into_iter()
        .map(|(function, method, pattern)| (method, pattern.to_owned(), function.to_owned()))
        .collect();
    assert!(tables.len() >= 9, "{tables:?}");

    // template.yaml: the HttpApi events, each with the function it invokes
    let in_template: BTreeSet<(String, String, String)> = template_routes(&template())
        .into_iter()
        .map(|((method, path), function)| (method, path, function))
        .collect();
    assert_eq!(tables, in_template, "route tables vs template.yaml");

    // The local API: the routes it serves, read from the template as at start-up
    let local = apikeys_local_api::template::ApiDefinition::from_template(
        &apikeys_integration_tests::template::read("template.yaml"),
        &|_| None,
    )
    .expect("the local API reads the template");
    let in_local_api: BTreeSet<(String, String, String)> = local
        .routes
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.function.clone()))
        .collect();
    assert_eq!(tables, in_local_api, "route tables vs the local API");

    // infra/contract/openapi.yaml: every documented operation under /api is a route, and back
    let openapi = apikeys_integration_tests::template::load_yaml("infra/contract/openapi.yaml");
    let mut documented = BTreeSet::new();
    for (path, item) in openapi["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                documented.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = tables
        .iter()
        .map(|(method, path, _)| (method.clone(), path.clone()))
        .collect();
    assert_eq!(
        served, documented,
        "route tables vs infra/contract/openapi.yaml"
    );
}

#[test]
fn use_key_is_reached_from_outside_only_by_the_principals_the_operator_names() {
    let template = template();
    let parameter = &template["Parameters"]["AppServerPrincipals"];
    assert_eq!(parameter["Type"], "CommaDelimitedList");
    assert_eq!(parameter["Default"], "", "nobody from outside by default");
    // The padded list every permission and condition reads, index by index.
    let padded = |index: i64| {
        json!({"Fn::Select": [index, {"Fn::Split": [",", {"Fn::Join": ["", [
            {"Fn::Join": [",", {"Ref": "AppServerPrincipals"}]}, ",,"]]}]}]})
    };
    let resources = template["Resources"].as_object().unwrap();
    let permissions: Vec<(&String, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Lambda::Permission")
        .collect();
    // Exactly one permission per listed principal, each on use-key, each conditional
    // on its principal being named; no other function has a resource policy.
    assert_eq!(permissions.len(), 3, "{permissions:?}");
    for (index, (id, permission)) in permissions.iter().enumerate() {
        let p = &permission["Properties"];
        assert_eq!(p["Action"], "lambda:InvokeFunction", "{id}");
        assert_eq!(
            canonical(&p["FunctionName"]),
            canonical(&json!({"Fn::GetAtt": ["UseKeyFunction", "Arn"]})),
            "{id}"
        );
        assert_eq!(
            canonical(&p["Principal"]),
            canonical(&padded(index as i64)),
            "{id}"
        );
        assert!(
            p.get("SourceArn").is_none() && p.get("SourceAccount").is_none(),
            "{id}"
        );
        let condition = permission["Condition"].as_str().expect("a condition");
        assert_eq!(
            canonical(&template["Conditions"][condition]),
            canonical(&json!({"Fn::Not": [{"Fn::Equals": [padded(index as i64), ""]}]})),
            "{id}"
        );
    }
}

#[test]
fn only_the_functions_that_seal_or_open_keys_and_the_named_admin_read_the_seed_secret() {
    let template = template();
    let resources = template["Resources"].as_object().unwrap();
    let policies: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::SecretsManager::ResourcePolicy")
        .collect();
    assert_eq!(policies.len(), 1, "one resource policy, on the seed secret");
    let p = &policies[0]["Properties"];
    assert_eq!(p["SecretId"], json!({"Ref": "SeedSecret"}));
    assert_eq!(p["BlockPublicPolicy"], true);
    let statements = statements(&p["ResourcePolicy"]);
    assert_eq!(statements.len(), 1, "{statements:?}");
    let deny = &statements[0];
    assert_eq!(deny["Effect"], "Deny");
    assert_eq!(deny["Principal"], "*");
    assert_eq!(
        one_or_many(&deny["Action"]),
        [json!("secretsmanager:GetSecretValue")]
    );
    // Everyone is denied but the roles of the functions that read the seed, whose
    // policies grant it (and the optional admin role).
    let allowed: Vec<String> = one_or_many(&deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
        .iter()
        .map(canonical)
        .collect();
    let expected = expected_policies();
    let functions = functions(&template);
    let mut readers: Vec<String> = functions
        .iter()
        .filter(|(binary, _)| expected.get(binary.as_str()).is_some_and(reads_seed))
        .map(|(_, (id, _))| canonical(&json!({"Fn::GetAtt": [format!("{id}Role"), "Arn"]})))
        .collect();
    readers.push(canonical(&json!({"Fn::If": ["HasSeedAdminRole", {"Ref": "SeedAdminRoleArn"}, {"Ref": "AWS::NoValue"}]})));
    let mut allowed_sorted = allowed.clone();
    allowed_sorted.sort();
    readers.sort();
    assert_eq!(allowed_sorted, readers);
    assert_eq!(
        readers.len(),
        5,
        "store, test-key, use-key, proxy and the admin role"
    );
}

#[test]
fn use_key_checks_users_tokens_of_the_apis_own_issuer_and_may_require_them() {
    let template = template();
    let env = &template["Resources"]["UseKeyFunction"]["Properties"]["Environment"]["Variables"];
    for (variable, parameter) in [
        (
            "APIKEYS_USE_KEY_REQUIRE_USER_TOKEN",
            "UseKeyRequireUserToken",
        ),
        ("APIKEYS_JWT_ISSUER", "JwtIssuer"),
        ("APIKEYS_JWT_AUDIENCE", "JwtAudience"),
    ] {
        assert_eq!(
            canonical(&env[variable]),
            canonical(&json!({ "Ref": parameter })),
            "use-key's {variable}"
        );
    }
    // The issuer and audiences are the API authorizer's: one notion of a user.
    let api = &template["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]
        ["JwtAuthorizer"]["JwtConfiguration"];
    assert_eq!(
        canonical(&api["issuer"]),
        canonical(&json!({"Ref": "JwtIssuer"}))
    );
    let parameter = &template["Parameters"]["UseKeyRequireUserToken"];
    assert_eq!(parameter["Default"], "false");
    assert_eq!(parameter["AllowedValues"], json!(["true", "false"]));
    // The proxy checks every caller's token of the same issuer (no authorizer sits
    // in front of its function URL), and never skips the check.
    let proxy = &template["Resources"]["ProxyFunction"]["Properties"];
    let env = &proxy["Environment"]["Variables"];
    for (variable, parameter) in [
        ("APIKEYS_JWT_ISSUER", "JwtIssuer"),
        ("APIKEYS_JWT_AUDIENCE", "JwtAudience"),
    ] {
        assert_eq!(
            canonical(&env[variable]),
            canonical(&json!({ "Ref": parameter })),
            "proxy's {variable}"
        );
    }
    assert!(env.get("APIKEYS_USE_KEY_REQUIRE_USER_TOKEN").is_none());
    assert_eq!(
        proxy["FunctionUrlConfig"],
        json!({"AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"})
    );
    // No other function reads these: the API's routes are behind the authorizer.
    for (binary, (id, function)) in functions(&template) {
        if binary == "use-key" || binary == "proxy" {
            continue;
        }
        let env = &function["Properties"]["Environment"]["Variables"];
        for variable in ["APIKEYS_USE_KEY_REQUIRE_USER_TOKEN", "APIKEYS_JWT_ISSUER"] {
            assert!(env.get(variable).is_none(), "{id} sets {variable}");
        }
        assert!(
            function["Properties"].get("FunctionUrlConfig").is_none(),
            "{id} has a function URL: only the proxy is reached that way"
        );
    }
}

#[test]
fn an_aws_call_with_its_retries_ends_before_the_function_does() {
    let template = template();
    let function_timeout = template["Globals"]["Function"]["Timeout"]
        .as_u64()
        .expect("Globals.Function.Timeout");
    let timeouts = apikeys::aws::AwsTimeouts::default();
    assert!(
        timeouts.operation.as_secs() < function_timeout,
        "an operation may take {:?}, the function {function_timeout} s",
        timeouts.operation
    );
    assert!(timeouts.attempt < timeouts.operation);
    for (_, (id, function)) in functions(&template) {
        if let Some(own) = function["Properties"]["Timeout"].as_u64() {
            assert!(timeouts.operation.as_secs() < own, "{id}: Timeout {own}");
        }
    }
}
