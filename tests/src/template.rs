//! `template.yaml` and `infra/contract/openapi.yaml` for the tests that check them:
//! YAML with CloudFormation's short tags (`!Ref`, `!GetAtt`, `!Sub`, `!If`, ...)
//! turned into the JSON forms CloudFormation itself uses (`{"Ref": ...}`,
//! `{"Fn::GetAtt": [resource, attribute]}`, `{"Fn::Sub": ...}`, `{"Fn::If": ...}`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Map, Value};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

/// A file of the repository as text.
pub fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A YAML file of the repository as JSON, CloudFormation tags included.
pub fn load_yaml(relative: &str) -> Value {
    let text = read(relative);
    let yaml: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parse {relative}: {e}"));
    to_json(yaml)
}

fn to_json(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                n.as_f64().map_or(Value::Null, |f| json!(f))
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (key_text(k), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            intrinsic(tag.trim_start_matches('!'), to_json(tagged.value))
        }
    }
}

fn key_text(key: serde_norway::Value) -> String {
    match key {
        serde_norway::Value::String(s) => s,
        serde_norway::Value::Number(n) => n.to_string(),
        serde_norway::Value::Bool(b) => b.to_string(),
        other => panic!("unsupported YAML mapping key {other:?}"),
    }
}

/// The long form of a short CloudFormation tag.
fn intrinsic(tag: &str, value: Value) -> Value {
    match tag {
        "Ref" => json!({ "Ref": value }),
        "Condition" => json!({ "Condition": value }),
        // `!GetAtt Resource.Attribute` is the string form of ["Resource", "Attribute"].
        "GetAtt" => match value {
            Value::String(s) => {
                let (resource, attribute) = s
                    .split_once('.')
                    .unwrap_or_else(|| panic!("!GetAtt {s} names no attribute"));
                json!({ "Fn::GetAtt": [resource, attribute] })
            }
            other => json!({ "Fn::GetAtt": other }),
        },
        other => json!({ format!("Fn::{other}"): value }),
    }
}

/// A route of the HTTP API, e.g. ("POST", "/api/provider-configs").
pub type Route = (String, String);

/// The HTTP API routes of `template.yaml`, each with the binary of the function that
/// serves it (its `Metadata.BuildProperties.Binary`).
pub fn template_routes(template: &Value) -> BTreeMap<Route, String> {
    let mut routes = BTreeMap::new();
    let resources = template["Resources"].as_object().expect("Resources");
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or(id)
            .to_owned();
        let Some(events) = resource["Properties"]["Events"].as_object() else {
            continue;
        };
        for event in events.values().filter(|e| e["Type"] == "HttpApi") {
            let method = event["Properties"]["Method"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: an HttpApi event without Method"))
                .to_ascii_uppercase();
            let path = event["Properties"]["Path"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: an HttpApi event without Path"))
                .to_owned();
            if let Some(other) = routes.insert((method.clone(), path.clone()), binary.clone()) {
                panic!("{method} {path} is served by both {other} and {binary}");
            }
        }
    }
    routes
}
