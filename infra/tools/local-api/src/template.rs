//! The HTTP API as `template.yaml` defines it: every `HttpApi` event of every function
//! (method, path, the function's binary), the authorizer's identity source, and the
//! CORS configuration with the template's parameter values. Read at start-up, so the
//! local routes cannot drift from the deployed ones.

use serde_norway::Value;

use crate::cfn::{scalar_text, Template, TemplateError};
use crate::cors::CorsConfig;
use crate::routes::Route;

/// What the local API takes from the template.
#[derive(Debug, Clone)]
pub struct ApiDefinition {
    /// Every route, in template order.
    pub routes: Vec<Route>,
    /// The CORS configuration, when the template (with its parameters) has one.
    pub cors: Option<CorsConfig>,
    /// The request header the JWT authorizer reads (`$request.header.X`), lowercase.
    pub identity_header: String,
    /// The binaries of the functions served by a function URL that streams
    /// (`FunctionUrlConfig.InvokeMode: RESPONSE_STREAM`): the local API serves each
    /// under `/{binary}/`, with no authorizer in front (the function checks its
    /// callers itself), and streams its answer.
    pub streaming_urls: Vec<String>,
}

impl ApiDefinition {
    /// Reads the definition from the template's text; `parameter` overrides a
    /// parameter's default as `sam deploy --parameter-overrides` would.
    pub fn from_template(
        text: &str,
        parameter: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, TemplateError> {
        let template = Template::parse(text, parameter)?;
        let api = template
            .resources()
            .find(|(_, r)| resource_type(r) == Some("AWS::Serverless::HttpApi"))
            .map(|(_, r)| r)
            .ok_or_else(|| shape("no AWS::Serverless::HttpApi resource"))?;
        let properties = &api["Properties"];
        let identity_header = identity_header(&template, properties)?;
        let cors = match properties.get("CorsConfiguration") {
            Some(raw) => template.eval(raw)?.map(|c| cors_config(&c)).transpose()?,
            None => None,
        };
        let mut routes = Vec::new();
        let mut streaming_urls = Vec::new();
        for (name, resource) in template.resources() {
            if resource_type(resource) != Some("AWS::Serverless::Function") {
                continue;
            }
            let url = resource["Properties"].get("FunctionUrlConfig");
            if url
                .and_then(|u| u.get("InvokeMode"))
                .and_then(Value::as_str)
                == Some("RESPONSE_STREAM")
            {
                let binary = resource
                    .get("Metadata")
                    .and_then(|m| m.get("BuildProperties"))
                    .and_then(|b| b.get("Binary"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| shape(&format!("{name}: no Metadata.BuildProperties.Binary")))?;
                streaming_urls.push(binary.to_owned());
            }
            let events = resource["Properties"]
                .get("Events")
                .and_then(Value::as_mapping);
            for (_, event) in events.into_iter().flatten() {
                if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                    continue;
                }
                routes.push(route(&template, name, resource, &event["Properties"])?);
            }
        }
        if routes.is_empty() {
            return Err(shape("no function has an HttpApi event"));
        }
        Ok(Self {
            routes,
            cors,
            identity_header,
            streaming_urls,
        })
    }
}

fn resource_type(resource: &Value) -> Option<&str> {
    resource.get("Type").and_then(Value::as_str)
}

fn route(
    template: &Template,
    name: &str,
    resource: &Value,
    event: &Value,
) -> Result<Route, TemplateError> {
    let text = |value: Option<&Value>, what: &str| -> Result<String, TemplateError> {
        let value =
            value.ok_or_else(|| shape(&format!("{name}: its HttpApi event has no {what}")))?;
        template
            .eval(value)?
            .as_ref()
            .and_then(scalar_text)
            .ok_or_else(|| shape(&format!("{name}: {what} is not a string")))
    };
    let method = text(event.get("Method"), "Method")?.to_ascii_uppercase();
    let method = if method == "*" {
        "ANY".to_owned()
    } else {
        method
    };
    let path = text(event.get("Path"), "Path")?;
    // The binary named in the metadata (SAM builds it with rust-cargolambda, or the
    // Makefile's build-<function> target for the four built for size).
    let function = text(
        resource
            .get("Metadata")
            .and_then(|m| m.get("BuildProperties"))
            .and_then(|b| b.get("Binary")),
        "Metadata.BuildProperties.Binary",
    )?;
    let authorizer = event
        .get("Auth")
        .and_then(|a| a.get("Authorizer"))
        .and_then(Value::as_str);
    Ok(Route {
        method,
        path,
        function,
        authorized: authorizer != Some("NONE"),
    })
}

fn identity_header(template: &Template, properties: &Value) -> Result<String, TemplateError> {
    let auth = &properties["Auth"];
    let default = auth
        .get("DefaultAuthorizer")
        .and_then(Value::as_str)
        .ok_or_else(|| shape("the HttpApi has no DefaultAuthorizer"))?;
    let source = auth
        .get("Authorizers")
        .and_then(|a| a.get(default))
        .and_then(|a| a.get("IdentitySource"))
        .map(|s| template.eval(s))
        .transpose()?
        .flatten()
        .and_then(|s| scalar_text(&s))
        .unwrap_or_else(|| "$request.header.Authorization".to_owned());
    source
        .strip_prefix("$request.header.")
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| shape(&format!("identity source {source} is not a request header")))
}

fn cors_config(value: &Value) -> Result<CorsConfig, TemplateError> {
    // `CorsConfiguration: true` is SAM's shorthand for any origin.
    if value.as_bool() == Some(true) {
        return Ok(CorsConfig {
            allow_origins: vec!["*".into()],
            ..CorsConfig::default()
        });
    }
    let list = |key: &str| -> Vec<String> {
        value
            .get(key)
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(scalar_text)
            .filter(|s| !s.is_empty())
            .collect()
    };
    let max_age = value
        .get("MaxAge")
        .and_then(scalar_text)
        .map(|s| s.parse::<u64>())
        .transpose()
        .map_err(|_| shape("CorsConfiguration.MaxAge is not a number"))?;
    Ok(CorsConfig {
        allow_origins: list("AllowOrigins"),
        allow_methods: list("AllowMethods"),
        allow_headers: list("AllowHeaders"),
        expose_headers: list("ExposeHeaders"),
        max_age,
        allow_credentials: value.get("AllowCredentials").and_then(Value::as_bool) == Some(true),
    })
}

fn shape(message: &str) -> TemplateError {
    TemplateError::Shape(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_template() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../template.yaml");
        std::fs::read_to_string(path).expect("template.yaml")
    }

    #[test]
    fn the_project_template_gives_every_route_with_its_binary() {
        let api = ApiDefinition::from_template(&project_template(), &|_| None).unwrap();
        let mut keys: Vec<(String, String)> = api
            .routes
            .iter()
            .map(|r| (r.route_key(), r.function.clone()))
            .collect();
        keys.sort();
        let expected = [
            ("DELETE /api/provider-configs/{provider}", "delete-config"),
            (
                "DELETE /api/provider-configs/{provider}/keys/{keyId}",
                "delete-config",
            ),
            ("GET /api/provider-configs", "get-configs"),
            ("GET /api/provider-configs/{provider}/keys", "get-configs"),
            ("GET /api/providers", "get-configs"),
            ("POST /api/provider-configs", "store"),
            ("POST /api/provider-configs/{provider}/keys", "store"),
            ("POST /api/test-api-key", "test-key"),
            ("PUT /api/provider-configs", "update-settings"),
            ("PUT /api/provider-configs/{provider}/keys/{keyId}", "store"),
        ]
        .map(|(k, f)| (k.to_owned(), f.to_owned()));
        assert_eq!(keys, expected);
        assert!(api.routes.iter().all(|r| r.authorized));
        assert_eq!(api.identity_header, "authorization");
    }

    #[test]
    fn cors_follows_the_origins_parameter() {
        let text = project_template();
        let api = ApiDefinition::from_template(&text, &|_| None).unwrap();
        assert_eq!(
            api.cors, None,
            "the default CorsAllowedOrigins is empty: no CORS"
        );

        let api = ApiDefinition::from_template(&text, &|name| {
            (name == "CorsAllowedOrigins").then(|| "http://127.0.0.1:8080".to_owned())
        })
        .unwrap();
        let cors = api.cors.expect("CORS with an origin");
        assert_eq!(cors.allow_origins, ["http://127.0.0.1:8080"]);
        assert!(cors.allow_headers.iter().any(|h| h == "authorization"));
        assert!(cors.allow_headers.iter().any(|h| h == "content-type"));
        assert!(cors.allow_methods.iter().any(|m| m == "DELETE"));
        assert!(cors.max_age.is_some());
    }
}
