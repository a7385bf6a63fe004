//! Config tables layered over one another: a file over its preset, a sweep point's values over
//! its base.

use crate::ConfigError;

/// Merge `over` into `base`, recursing into tables; a table that changes `kind` replaces the
/// base table instead of mixing two readouts' fields, and `false` over a table removes it: an
/// optional part of a preset switched off (`[model] shifter = false`).
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(_)), toml::Value::Boolean(false)) => {
                base.remove(&k);
            }
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) if b.get("kind") == o.get("kind") || o.get("kind").is_none() => {
                merge(b, o)
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// An optional table that is written as `false` when absent and read back from `false` as
/// absent: a config that names a preset with the table (and is read merged over it) keeps it
/// off, since [`merge`] takes `false` over a table as its removal.
pub mod off_when_none {
    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(t) => t.serialize(s),
            None => s.serialize_bool(false),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::Boolean(false) => Ok(None),
            toml::Value::Boolean(true) => Err(D::Error::custom("true is not a table: give the table, or false to leave it out")),
            table => table.try_into().map(Some).map_err(D::Error::custom),
        }
    }
}

/// Set a dotted key (`model.core.channels`) of `table`, creating the tables on the way; an
/// error names the part of the key that is a value, not a table.
pub fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), ConfigError> {
    let problem = |problem: String| ConfigError::Key { key: key.to_string(), problem };
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().filter(|p| !p.is_empty()).ok_or_else(|| problem("not a config key".into()))?;
    let mut here = table;
    for (i, part) in parts.iter().enumerate() {
        let entry = here.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        here = entry.as_table_mut().ok_or_else(|| problem(format!("{} is a value, not a table", parts[..=i].join("."))))?;
    }
    here.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn false_over_a_table_removes_it_and_elsewhere_is_a_value() {
        let mut base: toml::Table = toml::from_str("[model]\nbehavior_channels = true\n[model.shifter]\nhidden = 5\n").unwrap();
        merge(&mut base, toml::from_str("[model]\nshifter = false\nbehavior_channels = false\n").unwrap());
        assert!(base["model"].get("shifter").is_none(), "{base}");
        assert_eq!(base["model"]["behavior_channels"].as_bool(), Some(false));
    }

    #[test]
    fn set_dotted_creates_tables_and_refuses_to_descend_into_a_value() {
        let mut t: toml::Table = toml::from_str("[train]\nlr = 0.1\n").unwrap();
        set_dotted(&mut t, "model.core.channels", toml::Value::Integer(16)).unwrap();
        set_dotted(&mut t, "train.lr", toml::Value::Float(0.2)).unwrap();
        assert_eq!(t["model"]["core"]["channels"].as_integer(), Some(16));
        assert_eq!(t["train"]["lr"].as_float(), Some(0.2));
        let err = set_dotted(&mut t, "train.lr.x", toml::Value::Integer(1)).unwrap_err().to_string();
        assert!(err.contains("train.lr is a value"), "{err}");
    }
}
