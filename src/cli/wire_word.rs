//! The word a plain enum of the object model (`Running`, `RollingUpdate`, `NoSchedule`) is
//! written as in manifests and on the wire. It is read through serde, so the CLI shows exactly
//! what `-o yaml` shows and keeps no copy of the names of its own.

use serde::Serialize;
use serde_json::Value;

/// The value's wire word; `<unknown>` if it does not serialize to a word.
pub fn of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(word)) => word,
        _ => "<unknown>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{NamespacePhase, PodPhase, RestartPolicy};

    use super::*;

    #[test]
    fn enums_read_as_their_wire_words() {
        assert_eq!(of(&PodPhase::Succeeded), "Succeeded");
        assert_eq!(of(&NamespacePhase::Terminating), "Terminating");
        assert_eq!(of(&RestartPolicy::OnFailure), "OnFailure");
        assert_eq!(of(&42), "<unknown>");
    }
}
