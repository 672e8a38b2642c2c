//! Just enough of CloudFormation to read `template.yaml` the way a deployment would:
//! parameter values (defaults, overridden like `--parameter-overrides`), conditions, and
//! the intrinsics the API's settings use (`!Ref`, `!If`, `!Not`, `!Equals`, `!Split`,
//! `!Join`), evaluated to plain YAML values.

use std::collections::BTreeMap;

use serde_norway::value::TaggedValue;
use serde_norway::{Mapping, Value};

/// Why the template could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// Not YAML.
    #[error("template: {0}")]
    Yaml(#[from] serde_norway::Error),
    /// YAML, but not a template this reader understands.
    #[error("template: {0}")]
    Shape(String),
}

/// A parsed template with its parameter values.
#[derive(Debug)]
pub struct Template {
    doc: Value,
    parameters: BTreeMap<String, String>,
}

impl Template {
    /// Parses `text`; each parameter takes its `Default`, or the value `overrides` gives
    /// for its name.
    pub fn parse(
        text: &str,
        overrides: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, TemplateError> {
        let doc: Value = serde_norway::from_str(text)?;
        let mut parameters = BTreeMap::new();
        if let Some(Value::Mapping(params)) = doc.get("Parameters") {
            for (name, spec) in params {
                let Some(name) = name.as_str() else { continue };
                let default = spec.get("Default").and_then(scalar_text);
                if let Some(value) = overrides(name).or(default) {
                    parameters.insert(name.to_owned(), value);
                }
            }
        }
        Ok(Self { doc, parameters })
    }

    /// The value of a parameter (its default unless overridden).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// The `Resources` section, name by name.
    pub fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .into_iter()
            .flat_map(Mapping::iter)
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
    }

    /// `value` with every intrinsic evaluated; `None` when it is `AWS::NoValue`.
    pub fn eval(&self, value: &Value) -> Result<Option<Value>, TemplateError> {
        match value {
            Value::Tagged(tagged) => self.intrinsic(tagged),
            Value::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(v) = self.eval(item)? {
                        out.push(v);
                    }
                }
                Ok(Some(Value::Sequence(out)))
            }
            Value::Mapping(map) => {
                let mut out = Mapping::new();
                for (k, v) in map {
                    if let Some(v) = self.eval(v)? {
                        out.insert(k.clone(), v);
                    }
                }
                Ok(Some(Value::Mapping(out)))
            }
            other => Ok(Some(other.clone())),
        }
    }

    fn intrinsic(&self, tagged: &TaggedValue) -> Result<Option<Value>, TemplateError> {
        let args = &tagged.value;
        let tag = &tagged.tag;
        if *tag == "Ref" {
            let name = args.as_str().ok_or_else(|| shape("!Ref takes a name"))?;
            if name == "AWS::NoValue" {
                return Ok(None);
            }
            return self
                .parameter(name)
                .map(|v| Some(Value::String(v.to_owned())))
                .ok_or_else(|| shape(&format!("!Ref {name}: no such parameter value")));
        }
        if *tag == "If" {
            let [condition, yes, no] = self.list::<3>(args, "!If")?;
            let condition = condition
                .as_str()
                .ok_or_else(|| shape("!If takes a condition name"))?;
            return self.eval(if self.condition(condition)? { yes } else { no });
        }
        if *tag == "Split" {
            let [delimiter, text] = self.list::<2>(args, "!Split")?;
            let delimiter = self.text(delimiter)?;
            let text = self.text(text)?;
            let parts = text
                .split(delimiter.as_str())
                .map(|p| Value::String(p.to_owned()));
            return Ok(Some(Value::Sequence(parts.collect())));
        }
        if *tag == "Join" {
            let [delimiter, items] = self.list::<2>(args, "!Join")?;
            let delimiter = self.text(delimiter)?;
            let items = self.eval(items)?.unwrap_or(Value::Sequence(Vec::new()));
            let parts: Vec<String> = items
                .as_sequence()
                .ok_or_else(|| shape("!Join takes a list"))?
                .iter()
                .filter_map(scalar_text)
                .collect();
            return Ok(Some(Value::String(parts.join(&delimiter))));
        }
        if *tag == "Not" || *tag == "Equals" {
            return Ok(Some(Value::Bool(
                self.truth(&Value::Tagged(Box::new(tagged.clone())))?,
            )));
        }
        Err(shape(&format!(
            "intrinsic {} is not supported here",
            tagged.tag
        )))
    }

    /// The value of a named condition of the `Conditions` section.
    fn condition(&self, name: &str) -> Result<bool, TemplateError> {
        let expr = self
            .doc
            .get("Conditions")
            .and_then(|c| c.get(name))
            .ok_or_else(|| shape(&format!("no condition {name}")))?;
        self.truth(expr)
    }

    fn truth(&self, expr: &Value) -> Result<bool, TemplateError> {
        let Value::Tagged(tagged) = expr else {
            return expr
                .as_bool()
                .ok_or_else(|| shape("a condition must be an intrinsic or a boolean"));
        };
        if tagged.tag == "Not" {
            let [inner] = self.list::<1>(&tagged.value, "!Not")?;
            return Ok(!self.truth(inner)?);
        }
        if tagged.tag == "Equals" {
            let [a, b] = self.list::<2>(&tagged.value, "!Equals")?;
            return Ok(self.text(a)? == self.text(b)?);
        }
        if tagged.tag == "Condition" {
            let name = tagged
                .value
                .as_str()
                .ok_or_else(|| shape("!Condition takes a name"))?;
            return self.condition(name);
        }
        Err(shape(&format!(
            "condition function {} is not supported here",
            tagged.tag
        )))
    }

    fn text(&self, value: &Value) -> Result<String, TemplateError> {
        self.eval(value)?
            .as_ref()
            .and_then(scalar_text)
            .ok_or_else(|| shape("expected a string"))
    }

    fn list<'a, const N: usize>(
        &self,
        args: &'a Value,
        name: &str,
    ) -> Result<[&'a Value; N], TemplateError> {
        let items = args
            .as_sequence()
            .ok_or_else(|| shape(&format!("{name} takes a list")))?;
        let refs: Vec<&Value> = items.iter().collect();
        refs.try_into()
            .map_err(|_| shape(&format!("{name} takes {N} arguments")))
    }
}

/// A scalar as text (strings, numbers and booleans, as CloudFormation passes them).
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn shape(message: &str) -> TemplateError {
    TemplateError::Shape(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
Parameters:
  Origins:
    Type: String
    Default: ""
Conditions:
  HasOrigins: !Not [!Equals [!Ref Origins, ""]]
Resources:
  Api:
    Properties:
      Cors: !If
        - HasOrigins
        - AllowOrigins: !Split [",", !Ref Origins]
          MaxAge: 600
        - !Ref AWS::NoValue
"#;

    fn cors(template: &Template) -> Option<Value> {
        let (_, api) = template.resources().next().unwrap();
        template.eval(&api["Properties"]["Cors"]).unwrap()
    }

    #[test]
    fn the_default_parameter_selects_the_no_value_branch() {
        let template = Template::parse(TEXT, &|_| None).unwrap();
        assert_eq!(template.parameter("Origins"), Some(""));
        assert_eq!(cors(&template), None);
    }

    #[test]
    fn an_override_is_split_into_the_other_branch() {
        let template = Template::parse(TEXT, &|name| {
            (name == "Origins").then(|| "https://a.example,http://127.0.0.1:8080".to_owned())
        })
        .unwrap();
        let cors = cors(&template).unwrap();
        let origins: Vec<&str> = cors["AllowOrigins"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(origins, ["https://a.example", "http://127.0.0.1:8080"]);
        assert_eq!(cors["MaxAge"].as_u64(), Some(600));
    }
}
