//! Parameter schemas: refused when a plugin is loaded if the host would have to guess at them,
//! and `key=value` pairs turned into the full, typed parameter object before a run.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Plugin;

/// The parameter types a schema may declare.
const PARAM_TYPES: [&str; 4] = ["number", "integer", "boolean", "string"];

/// A parameter's declared type; `string` when it names none.
fn spec_type(spec: &Value) -> &str {
    spec["type"].as_str().unwrap_or("string")
}

/// Refuse what the host would otherwise guess at: a parameter that is not an object, a type
/// outside [`PARAM_TYPES`], a default of another type or outside its own range and choices.
pub(crate) fn check_schema(schema: &Map<String, Value>) -> Result<(), String> {
    for (key, spec) in schema {
        if !spec.is_object() {
            return Err(format!("{key}: expected an object ({{\"type\": …, \"default\": …}}), found {spec}"));
        }
        let ty = spec_type(spec);
        if !PARAM_TYPES.contains(&ty) || !spec.get("type").is_none_or(Value::is_string) {
            return Err(format!("{key}: type {} is none of {}", spec["type"], PARAM_TYPES.join(", ")));
        }
        let Some(default) = spec.get("default") else { continue };
        let fits = match ty {
            "number" => default.as_f64().is_some_and(f64::is_finite),
            "integer" => default.is_i64(),
            "boolean" => default.is_boolean(),
            _ => default.is_string(),
        };
        if !fits {
            return Err(format!("{key}: default {default} is not a{} {ty}", if ty == "integer" { "n" } else { "" }));
        }
        if let Some(v) = default.as_f64() {
            let (min, max) = (spec["minimum"].as_f64(), spec["maximum"].as_f64());
            if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
                return Err(format!("{key}: default {default} is outside its own minimum and maximum"));
            }
        }
        if let Some(choices) = spec["enum"].as_array().filter(|c| !c.contains(default)) {
            return Err(format!("{key}: default {default} is not among its own choices {}", Value::from(choices.clone())));
        }
    }
    Ok(())
}

impl Plugin {
    /// Turn `key=value` pairs into the full parameter object: every key declared, every value
    /// of its type and in range, defaults for what is not given.
    pub fn params(&self, given: &[(String, String)]) -> Result<Value, ParamError> {
        let mut out = Map::new();
        for (i, (key, raw)) in given.iter().enumerate() {
            if let Some((_, first)) = given[..i].iter().find(|(k, _)| k == key) {
                return Err(ParamError::Twice { key: key.clone(), first: first.clone(), second: raw.clone() });
            }
            let spec = self.schema.get(key).ok_or_else(|| ParamError::Unknown {
                plugin: self.name.clone(),
                key: key.clone(),
                known: self.schema.keys().cloned().collect(),
            })?;
            let value_error = |value: String, wanted: String| ParamError::Value { key: key.clone(), value, wanted };
            let bad = |want: &str| value_error(format!("{raw:?}"), format!("expected {want}"));
            let value = match spec_type(spec) {
                "number" => raw.parse::<f64>().ok().filter(|v| v.is_finite()).map(Value::from).ok_or_else(|| bad("a number"))?,
                "integer" => raw.parse::<i64>().map(Value::from).map_err(|_| bad("an integer"))?,
                "boolean" => raw.parse::<bool>().map(Value::from).map_err(|_| bad("true or false"))?,
                _ => Value::from(raw.as_str()),
            };
            if let Some(v) = value.as_f64() {
                if let Some(min) = spec["minimum"].as_f64().filter(|&m| v < m) {
                    return Err(value_error(raw.clone(), format!("must be at least {min}")));
                }
                if let Some(max) = spec["maximum"].as_f64().filter(|&m| v > m) {
                    return Err(value_error(raw.clone(), format!("must be at most {max}")));
                }
            }
            if let Some(choices) = spec["enum"].as_array().filter(|c| !c.contains(&value)) {
                let choices: Vec<String> = choices.iter().map(|c| c.as_str().map_or(c.to_string(), str::to_string)).collect();
                return Err(value_error(format!("{raw:?}"), format!("expected one of {}", choices.join(", "))));
            }
            out.insert(key.clone(), value);
        }
        for (key, spec) in &self.schema {
            if !out.contains_key(key) {
                let default = spec.get("default").ok_or_else(|| ParamError::Missing { plugin: self.name.clone(), key: key.clone() })?;
                out.insert(key.clone(), default.clone());
            }
        }
        Ok(Value::Object(out))
    }
}

/// A plugin parameter given wrongly on the way in; every message names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ParamError {
    #[error("parameter {key} is given twice ({key}={first} and {key}={second}): give it once")]
    Twice { key: String, first: String, second: String },
    #[error("plugin {plugin} has no parameter {key:?} (it has: {})", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    Unknown { plugin: String, key: String, known: Vec<String> },
    /// A value of another type, out of range or not among the choices: the key, the value as
    /// given, and what was wanted.
    #[error("parameter {key} = {value}: {wanted}")]
    Value { key: String, value: String, wanted: String },
    #[error("plugin {plugin} needs a value for its parameter {key} (it has no default)")]
    Missing { plugin: String, key: String },
}
