//! The conditions table every kind's view ends with: type and status always, reason and
//! message only when some condition has one (as kubectl leaves out empty columns).

use flotilla_kernel::object::ConditionStatus;

use super::super::table::Table;
use super::layout::Layout;

/// One condition, whatever kind it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub type_: &'a str,
    pub status: ConditionStatus,
    pub reason: &'a str,
    pub message: &'a str,
}

/// `Conditions:` and its table; `Conditions:  <none>` without any.
pub fn table<'a>(layout: &mut Layout, rows: impl IntoIterator<Item = Row<'a>>) {
    let rows: Vec<Row<'a>> = rows.into_iter().collect();
    if rows.is_empty() {
        layout.field(0, "Conditions", "<none>");
        return;
    }
    let with_reason = rows.iter().any(|row| !row.reason.is_empty());
    let with_message = rows.iter().any(|row| !row.message.is_empty());
    let mut headers = vec!["Type", "Status"];
    if with_reason {
        headers.push("Reason");
    }
    if with_message {
        headers.push("Message");
    }
    let mut table = Table::new(headers.iter().copied());
    table.push(
        headers
            .iter()
            .map(|header| "-".repeat(header.len()))
            .collect(),
    );
    for row in rows {
        let mut cells = vec![row.type_.to_string(), status_text(row.status).to_string()];
        if with_reason {
            cells.push(row.reason.to_string());
        }
        if with_message {
            cells.push(row.message.to_string());
        }
        table.push(cells);
    }
    layout.section(0, "Conditions");
    layout.table(1, &table);
}

fn status_text(status: ConditionStatus) -> &'static str {
    match status {
        ConditionStatus::True => "True",
        ConditionStatus::False => "False",
        ConditionStatus::Unknown => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_columns_are_left_out() {
        let mut layout = Layout::default();
        table(
            &mut layout,
            [Row {
                type_: "Available",
                status: ConditionStatus::False,
                reason: "MinimumReplicasUnavailable",
                message: "",
            }],
        );
        assert_eq!(
            layout.render(),
            "Conditions:\n\
             \x20 Type        Status   Reason\n\
             \x20 ----        ------   ------\n\
             \x20 Available   False    MinimumReplicasUnavailable\n"
        );
    }

    #[test]
    fn no_conditions() {
        let mut layout = Layout::default();
        table(&mut layout, []);
        assert_eq!(layout.render(), "Conditions:  <none>\n");
    }
}
