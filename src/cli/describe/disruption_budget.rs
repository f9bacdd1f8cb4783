//! `describe pdb`: the budget, the pods it covers and what its status allows now, laid out as
//! kubectl's.

use flotilla_kernel::object::PodDisruptionBudget;

use super::super::label_text;
use super::layout::Layout;
use super::meta;

pub fn view(pdb: &PodDisruptionBudget) -> String {
    let mut layout = Layout::default();
    meta::identity(&mut layout, &pdb.metadata, true);
    let spec = &pdb.spec;
    if let Some(min) = &spec.min_available {
        layout.field(0, "Min available", min.to_string());
    }
    if let Some(max) = &spec.max_unavailable {
        layout.field(0, "Max unavailable", max.to_string());
    }
    let selector = spec
        .selector
        .as_ref()
        .map_or("<unset>".to_string(), label_text::selector);
    layout.field(0, "Selector", selector);
    let status = &pdb.status;
    layout.section(0, "Status");
    layout.field(
        1,
        "Allowed disruptions",
        status.disruptions_allowed.to_string(),
    );
    layout.field(1, "Current", status.current_healthy.to_string());
    layout.field(1, "Desired", status.desired_healthy.to_string());
    layout.field(1, "Total", status.expected_pods.to_string());
    layout.render()
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{IntOrString, LabelSelector};

    use super::*;

    #[test]
    fn a_budget_and_its_status() {
        let mut pdb = PodDisruptionBudget::default();
        pdb.metadata.name = "zk-pdb".to_string();
        pdb.metadata.namespace = "default".to_string();
        pdb.spec.min_available = Some(IntOrString::Int(2));
        pdb.spec.selector = Some(LabelSelector {
            match_labels: [("app".to_string(), "zookeeper".to_string())].into(),
            ..LabelSelector::default()
        });
        pdb.status.disruptions_allowed = 1;
        pdb.status.current_healthy = 3;
        pdb.status.desired_healthy = 2;
        pdb.status.expected_pods = 3;
        let text = view(&pdb);
        for line in [
            "Min available:",
            "app=zookeeper",
            "Allowed disruptions:  1",
            "Current:",
            "Total:",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(!text.contains("Max unavailable"), "{text}");
    }
}
