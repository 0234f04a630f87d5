//! A JSON tree that borrows from the text it was parsed from and lives in an arena, for the
//! agent's hot path.
//!
//! Why not `serde_json::Value`: profiling the agent (BENCHMARKS.md) put a third of its time in
//! building `Value`s: every key becomes an owned `String` and every object an ordered hash map,
//! for a report that is read once and thrown away. Here strings without escapes borrow from the
//! body, objects are small slices searched in order, and numbers stay as they were written
//! (integer or float). Every array and object is one slice in a [`bumpalo::Bump`] arena, so a
//! tree costs no allocation of its own and nothing to drop: the arena is reset between reports
//! (a tree of 47 containers was 47 allocations and 47 frees). serde_json still does the
//! parsing, so the grammar, its error messages and its nesting limit (128 levels) are
//! serde_json's.
//!
//! Duplicate keys behave as in `Value`: the last value wins, and the key is seen once.

use bumpalo::Bump;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(&'a str),
    Array(&'a [Json<'a>]),
    Object(Object<'a>),
}

/// A number as written: integers keep their exact value (ids are sometimes numbers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Number {
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::UInt(u) => u as f64,
            Number::Float(f) => f,
        }
    }
}

impl fmt::Display for Number {
    /// As serde_json prints it (`1.5`, `1e+20`, `3`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Number::Int(i) => write!(f, "{i}"),
            Number::UInt(u) => write!(f, "{u}"),
            Number::Float(x) => match serde_json::Number::from_f64(x) {
                Some(n) => write!(f, "{n}"),
                None => write!(f, "{x}"),
            },
        }
    }
}

/// An object's entries in the order written, each key once.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Object<'a>(&'a [(&'a str, Json<'a>)]);

impl<'a> Object<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Json<'a>> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a Json<'a>)> + use<'a> {
        self.0.iter().map(|(k, v)| (*k, v))
    }
    pub fn keys(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.0.iter().map(|(k, _)| *k)
    }
    pub fn values(&self) -> impl Iterator<Item = &'a Json<'a>> + use<'a> {
        self.0.iter().map(|(_, v)| v)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Entries as parsed, with a repeated key's last value kept at the first key's place (as
/// `Value` does). Borrowed back when no key repeats, the usual case.
fn dedup_keys<'e, 'a>(
    entries: &'e [(&'a str, Json<'a>)],
) -> std::borrow::Cow<'e, [(&'a str, Json<'a>)]> {
    let n = entries.len();
    let repeated = if n <= 16 {
        (1..n).any(|i| entries[..i].iter().any(|(k, _)| *k == entries[i].0))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(n);
        !entries.iter().all(|(k, _)| seen.insert(*k))
    };
    if !repeated {
        return std::borrow::Cow::Borrowed(entries);
    }
    let mut out: Vec<(&'a str, Json<'a>)> = Vec::with_capacity(n);
    let mut at: std::collections::HashMap<&'a str, usize> =
        std::collections::HashMap::with_capacity(n);
    for &(k, v) in entries {
        match at.get(k) {
            Some(&i) => out[i].1 = v,
            None => {
                at.insert(k, out.len());
                out.push((k, v));
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

impl<'a> IntoIterator for &Object<'a> {
    type Item = (&'a str, &'a Json<'a>);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (&'a str, Json<'a>)>,
        fn(&'a (&'a str, Json<'a>)) -> (&'a str, &'a Json<'a>),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (*k, v))
    }
}

impl<'a> Json<'a> {
    /// Parse `text` into a tree whose arrays, objects and unescaped strings live in `arena`.
    /// Errors are serde_json's.
    pub fn parse(text: &'a str, arena: &'a Bump) -> serde_json::Result<Json<'a>> {
        let mut de = serde_json::Deserializer::from_str(text);
        let mut builder = Builder {
            arena,
            items: Vec::new(),
            entries: Vec::new(),
        };
        let v = (&mut builder).deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    }

    /// The member `key` of an object; None for anything else.
    pub fn get(&self, key: &str) -> Option<&'a Json<'a>> {
        match self {
            Json::Object(o) => o.get(key),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&'a [Json<'a>]> {
        match *self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }
    pub fn is_array(&self) -> bool {
        matches!(self, Json::Array(_))
    }
    /// The JSON type's name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }
}

/// Builds a tree as serde_json reports values. The children of the containers being parsed
/// wait on two stacks; a finished container moves its children into one arena slice.
struct Builder<'a> {
    arena: &'a Bump,
    items: Vec<Json<'a>>,
    entries: Vec<(&'a str, Json<'a>)>,
}

impl<'de> DeserializeSeed<'de> for &mut Builder<'de> {
    type Value = Json<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut Builder<'de> {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(Number::Int(i)))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(Number::UInt(u)))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Json<'de>, E> {
        Ok(Json::Number(Number::Float(f)))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(s))
    }
    /// A string with escapes, decoded by serde_json into a scratch buffer.
    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(self.arena.alloc_str(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let start = self.items.len();
        while let Some(v) = seq.next_element_seed(&mut *self)? {
            self.items.push(v);
        }
        let items = self.arena.alloc_slice_copy(&self.items[start..]);
        self.items.truncate(start);
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let start = self.entries.len();
        while let Some(k) = map.next_key_seed(KeySeed(self.arena))? {
            let v = map.next_value_seed(&mut *self)?;
            self.entries.push((k, v));
        }
        let entries = self
            .arena
            .alloc_slice_copy(&dedup_keys(&self.entries[start..]));
        self.entries.truncate(start);
        Ok(Json::Object(Object(entries)))
    }
}

/// Keys borrow from the text unless they contain escapes; those are decoded into the arena.
struct KeySeed<'a>(&'a Bump);

impl<'de> DeserializeSeed<'de> for KeySeed<'de> {
    type Value = &'de str;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'de> {
    type Value = &'de str;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(s)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(self.0.alloc_str(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The same tree serde_json's `Value` builds, compared through a conversion.
    fn to_value(j: &Json) -> Value {
        match j {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(Number::Int(i)) => Value::from(*i),
            Json::Number(Number::UInt(u)) => Value::from(*u),
            Json::Number(Number::Float(f)) => Value::from(*f),
            Json::String(s) => Value::String(s.to_string()),
            Json::Array(a) => Value::Array(a.iter().map(to_value).collect()),
            Json::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.to_string(), to_value(v)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn parses_what_serde_json_parses_into_the_same_tree() {
        let texts = [
            r#"{"a":1,"b":[true,null,-2,3.5,"x\"y"],"c":{"d\u00e9":"é","e":{}},"f":18446744073709551615}"#,
            r#"[1e20, 0.1, -0.0, "", {"k": [[], {}]}]"#,
            include_str!("../../example/reports/ml_report_0.3.json"),
            include_str!("../../example/reports/legacy_qoa4ml_0.1.json"),
        ];
        let arena = Bump::new();
        for t in texts {
            let ours = Json::parse(t, &arena).unwrap();
            let theirs: Value = serde_json::from_str(t).unwrap();
            assert_eq!(to_value(&ours), theirs, "{t}");
        }
    }

    #[test]
    fn strings_without_escapes_borrow_and_escaped_ones_are_decoded() {
        let text = r#"{"plain":"abc","esc\n":"a\tb"}"#;
        let arena = Bump::new();
        let j = Json::parse(text, &arena).unwrap();
        let o = j.as_object().unwrap();
        let plain = o.get("plain").and_then(Json::as_str).unwrap();
        assert_eq!(plain, "abc");
        assert!(text.as_bytes().as_ptr_range().contains(&plain.as_ptr()));
        let escaped = o.get("esc\n").and_then(Json::as_str).unwrap();
        assert_eq!(escaped, "a\tb");
        assert!(!text.as_bytes().as_ptr_range().contains(&escaped.as_ptr()));
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_once() {
        let arena = Bump::new();
        let j = Json::parse(r#"{"a":1,"b":2,"a":3}"#, &arena).unwrap();
        let o = j.as_object().unwrap();
        assert_eq!(o.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(o.get("a"), Some(&Json::Number(Number::UInt(3))));
        // Past the small-object path too.
        let mut text = String::from("{");
        for i in 0..40 {
            text.push_str(&format!("\"k{i}\":{i},"));
        }
        text.push_str("\"k5\":\"last\"}");
        let j = Json::parse(&text, &arena).unwrap();
        let o = j.as_object().unwrap();
        assert_eq!(o.len(), 40);
        assert_eq!(o.get("k5").and_then(Json::as_str), Some("last"));
    }

    #[test]
    fn errors_are_serde_jsons() {
        let arena = Bump::new();
        assert!(Json::parse("{", &arena).is_err());
        assert!(Json::parse("{} trailing", &arena).is_err());
        let deep = "[".repeat(10_000);
        let e = Json::parse(&deep, &arena).unwrap_err().to_string();
        assert!(e.contains("recursion limit"), "{e}");
    }

    #[test]
    fn numbers_print_as_serde_json_prints_them() {
        let arena = Bump::new();
        for (t, s) in [("3", "3"), ("-3", "-3"), ("1.5", "1.5"), ("1e20", "1e+20")] {
            let Json::Number(n) = Json::parse(t, &arena).unwrap() else {
                panic!("{t} is a number")
            };
            assert_eq!(
                n.to_string(),
                serde_json::from_str::<Value>(t).unwrap().to_string()
            );
            assert_eq!(n.to_string(), s);
        }
    }
}
