//! `describe priorityclass`: who it is, its value, whether it is the default, and whether its
//! pods may preempt others.

use flotilla_kernel::object::PriorityClass;

use super::layout::Layout;
use super::meta;

pub fn view(class: &PriorityClass) -> String {
    let mut layout = Layout::default();
    meta::identity(&mut layout, &class.metadata, false);
    layout.field(0, "Value", class.value.to_string());
    layout.field(0, "GlobalDefault", class.global_default.to_string());
    layout.field(0, "PreemptionPolicy", class.preemption_policy());
    layout.field(0, "Description", class.description.as_str());
    layout.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_priority_class() {
        let [critical, _] = PriorityClass::built_in();
        let text = view(&critical);
        for line in [
            "Name:",
            "system-cluster-critical",
            "Value:",
            "2000000000",
            "GlobalDefault:",
            "PreemptionPolicy:",
            "PreemptLowerPriority",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
