//! Building JSON bodies.

use serde_json::Value;

/// `base` with the top-level keys of `extra` set (`null` removes a key).
pub fn with(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
        for (k, v) in e {
            if v.is_null() {
                o.remove(&k);
            } else {
                o.insert(k, v);
            }
        }
    }
    out
}
