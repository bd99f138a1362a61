//! Canonical JSON: compact, object keys sorted byte-wise at every level.
//!
//! Every JSON blob we write (config, manifest, index, manifest.json) goes through here, so its
//! digest depends only on its content: not on HashMap iteration order, nor on whether some
//! other crate in the build switched serde_json to insertion order.

use serde::Serialize;
use serde_json::Value;

pub fn to_canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let value = serde_json::to_value(value)?;
    let mut out = Vec::new();
    write_value(&value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                write_value(item, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_at_every_level() {
        let value = serde_json::json!({"b": {"z": 1, "a": [{"y": 2, "x": "\u{e9}\"q"}]}, "a": null});
        let bytes = to_canonical_json(&value).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            r#"{"a":null,"b":{"a":[{"x":"é\"q","y":2}],"z":1}}"#
        );
    }
}
