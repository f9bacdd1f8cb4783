//! The machine-readable outputs of `get -o`: JSON and YAML of the objects exactly as the API
//! server returned them (so no field this build does not know is lost), a `List` wrapper
//! around several objects as kubectl prints it, and `-o name`'s `kind/name` lines.

use serde::Serialize;
use serde_json::{Value, json};

use flotilla_kernel::object::Kind;

use super::resource_arg;

/// The formats `-o` accepts; without `-o`, a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// The table with more columns.
    Wide,
    Yaml,
    Json,
    /// `kind/name` lines.
    Name,
}

/// An object could not be printed.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("printing JSON")]
    Json(#[source] serde_json::Error),
    #[error("printing YAML")]
    Yaml(#[source] serde_saphyr::SerializeError),
}

/// One object as it is, or several (even one, when a list was asked for) in a `List`.
pub fn document(mut items: Vec<Value>, as_list: bool) -> Value {
    if !as_list && items.len() == 1 {
        return items.remove(0);
    }
    json!({ "apiVersion": "v1", "kind": "List", "items": items })
}

/// JSON indented by four spaces, as kubectl prints it, ending in a newline.
pub fn json(value: &Value) -> Result<String, PrintError> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut serializer).map_err(PrintError::Json)?;
    out.push(b'\n');
    // serde_json writes only valid UTF-8.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// YAML, without a leading document marker.
pub fn yaml(value: &Value) -> Result<String, PrintError> {
    serde_saphyr::to_string(value).map_err(PrintError::Yaml)
}

/// `-o name`'s line: `pod/web-1`, `deployment.apps/web`.
pub fn name(kind: Kind, name: &str) -> String {
    format!("{}/{name}", resource_arg::type_name(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> Value {
        json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": name } })
    }

    #[test]
    fn one_object_is_printed_as_itself() {
        assert_eq!(document(vec![pod("a")], false), pod("a"));
    }

    #[test]
    fn lists_are_wrapped_even_with_one_item() {
        let expected = json!({ "apiVersion": "v1", "kind": "List", "items": [pod("a")] });
        assert_eq!(document(vec![pod("a")], true), expected);
        let empty = json!({ "apiVersion": "v1", "kind": "List", "items": [] });
        assert_eq!(document(vec![], false), empty);
    }

    #[test]
    fn json_is_indented_by_four() {
        assert_eq!(
            json(&pod("a")).unwrap(),
            "{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"Pod\",\n    \"metadata\": {\n        \
             \"name\": \"a\"\n    }\n}\n"
        );
    }

    #[test]
    fn yaml_reads_back_to_the_same_value() {
        let list = document(vec![pod("a"), pod("b")], true);
        let text = yaml(&list).unwrap();
        assert!(text.starts_with("apiVersion: v1\n"), "{text}");
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, list);
    }

    #[test]
    fn names_carry_the_group() {
        assert_eq!(name(Kind::Pod, "web-1"), "pod/web-1");
        assert_eq!(name(Kind::Deployment, "web"), "deployment.apps/web");
    }
}
