//! `describe runtimeclass`: who it is, the handler nodes run its pods with, and the node
//! selector merged into those pods.

use std::collections::BTreeMap;

use flotilla_kernel::object::RuntimeClass;

use super::super::label_text;
use super::layout::Layout;
use super::meta;

pub fn view(class: &RuntimeClass) -> String {
    let mut layout = Layout::default();
    meta::identity(&mut layout, &class.metadata, false);
    layout.field(0, "Handler", class.handler.as_str());
    let none = BTreeMap::new();
    let selector = class.node_selector().unwrap_or(&none);
    layout.section(0, "Scheduling");
    layout.field(1, "Node Selector", label_text::labels(selector));
    layout.render()
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::Scheduling;

    use super::*;

    #[test]
    fn a_runtime_class() {
        let mut class = RuntimeClass::default();
        class.metadata.name = "gvisor".to_string();
        class.metadata.labels = [("tier".to_string(), "sandbox".to_string())].into();
        class.handler = "runsc".to_string();
        class.scheduling = Some(Scheduling {
            node_selector: [
                ("runtime".to_string(), "gvisor".to_string()),
                ("zone".to_string(), "a".to_string()),
            ]
            .into(),
            ..Scheduling::default()
        });
        let text = view(&class);
        for line in [
            "Name:               gvisor\n",
            "Labels:             tier=sandbox\n",
            "Handler:            runsc\n",
            "Scheduling:\n  Node Selector:  runtime=gvisor,zone=a\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
        assert!(!text.contains("Namespace:"), "{text}");
    }

    #[test]
    fn a_runtime_class_for_every_node() {
        let mut class = RuntimeClass::default();
        class.metadata.name = "myclass".to_string();
        class.handler = "myconfiguration".to_string();
        let text = view(&class);
        assert!(
            text.ends_with(
                "Handler:            myconfiguration\nScheduling:\n  Node Selector:  <none>\n"
            ),
            "{text}"
        );
    }
}
