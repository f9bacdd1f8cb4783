//! `describe namespace`: who it is and whether it is active or being torn down.

use flotilla_kernel::object::Namespace;

use super::super::columns;
use super::layout::Layout;
use super::meta;

pub fn view(namespace: &Namespace) -> String {
    let mut layout = Layout::default();
    meta::identity(&mut layout, &namespace.metadata, false);
    layout.field(0, "Status", columns::namespace_phase(namespace));
    layout.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace() {
        let mut namespace = Namespace::default();
        namespace.metadata.name = "prod".to_string();
        let text = view(&namespace);
        assert!(text.starts_with("Name:               prod\n"), "{text}");
        assert!(text.ends_with("Status:             Active\n"), "{text}");
    }
}
