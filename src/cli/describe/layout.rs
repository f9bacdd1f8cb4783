//! The shape of `describe` output, kubectl's: `Key:  value` lines whose values line up,
//! nested by two-space indents, multi-valued keys continuing under their first value, and
//! small tables. Views say what to show; this module alone decides where it goes, so every
//! kind's view lines up the same way.

use super::super::table::Table;

/// Spaces between the widest key's colon and its value.
const VALUE_GAP: usize = 2;
/// Spaces per level of nesting.
const INDENT: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// `key:` and its values; a section heading when there are none.
    Field {
        level: usize,
        key: String,
        values: Vec<String>,
    },
    /// Text as it is (table rows, command words).
    Text { level: usize, text: String },
}

/// A describe view being built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    lines: Vec<Line>,
}

impl Layout {
    /// `key:  value`.
    pub fn field(&mut self, level: usize, key: &str, value: impl Into<String>) {
        self.fields(level, key, vec![value.into()]);
    }

    /// `key:  first` with the other values under it; `<none>` when there are none.
    pub fn list(&mut self, level: usize, key: &str, values: Vec<String>) {
        if values.is_empty() {
            self.field(level, key, "<none>");
        } else {
            self.fields(level, key, values);
        }
    }

    /// `key:` alone, heading what follows one level deeper.
    pub fn section(&mut self, level: usize, key: &str) {
        self.fields(level, key, Vec::new());
    }

    /// A line of text as it is.
    pub fn text(&mut self, level: usize, text: impl Into<String>) {
        self.lines.push(Line::Text {
            level,
            text: text.into(),
        });
    }

    /// A table, its rows as lines of text.
    pub fn table(&mut self, level: usize, table: &Table) {
        for row in table.render().lines() {
            self.text(level, row);
        }
    }

    fn fields(&mut self, level: usize, key: &str, values: Vec<String>) {
        self.lines.push(Line::Field {
            level,
            key: key.to_string(),
            values,
        });
    }

    /// The view as text. Values line up across each run of consecutive keyed lines, at any
    /// depth, as kubectl's tab writer lines them up; a heading or text line ends the run.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (index, line) in self.lines.iter().enumerate() {
            match line {
                Line::Field { level, key, values } => {
                    let indent = " ".repeat(level * INDENT);
                    let Some((first, rest)) = values.split_first() else {
                        out.push_str(&format!("{indent}{key}:\n"));
                        continue;
                    };
                    let column = self.value_column(index);
                    let padding = " ".repeat(column - key_end(*level, key));
                    out.push_str(format!("{indent}{key}:{padding}{first}").trim_end());
                    out.push('\n');
                    for value in rest {
                        out.push_str(&format!("{}{value}\n", " ".repeat(column)));
                    }
                }
                Line::Text { level, text } => {
                    out.push_str(format!("{}{text}", " ".repeat(level * INDENT)).trim_end());
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Where the values of the run of keyed lines around `index` start.
    fn value_column(&self, index: usize) -> usize {
        let keyed = |line: &&Line| matches!(line, Line::Field { values, .. } if !values.is_empty());
        let before = self.lines[..index].iter().rev().take_while(keyed);
        let after = self.lines[index..].iter().take_while(keyed);
        before
            .chain(after)
            .filter_map(|line| match line {
                Line::Field { level, key, .. } => Some(key_end(*level, key)),
                Line::Text { .. } => None,
            })
            .max()
            .unwrap_or(0)
            + VALUE_GAP
    }
}

/// The column just after `key:` at `level`.
fn key_end(level: usize, key: &str) -> usize {
    level * INDENT + key.chars().count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_line_up_across_a_run_of_keyed_lines() {
        let mut layout = Layout::default();
        layout.field(0, "Name", "web-1");
        layout.field(0, "Namespace", "default");
        layout.list(
            0,
            "Labels",
            vec!["app=web".to_string(), "tier=fe".to_string()],
        );
        layout.list(0, "Annotations", vec![]);
        layout.section(0, "Containers");
        layout.section(1, "web");
        layout.field(2, "Image", "nginx");
        layout.field(2, "State", "Running");
        layout.field(3, "Started", "2026-11-22T01:55:52Z");
        layout.field(2, "Restart Count", "0");
        assert_eq!(
            layout.render(),
            "Name:         web-1\n\
             Namespace:    default\n\
             Labels:       app=web\n\
             \x20             tier=fe\n\
             Annotations:  <none>\n\
             Containers:\n\
             \x20 web:\n\
             \x20   Image:          nginx\n\
             \x20   State:          Running\n\
             \x20     Started:      2026-11-22T01:55:52Z\n\
             \x20   Restart Count:  0\n"
        );
    }

    #[test]
    fn a_heading_or_text_ends_the_run() {
        let mut layout = Layout::default();
        layout.field(0, "Long key here", "1");
        layout.section(0, "Second");
        layout.field(1, "Key", "2");
        layout.text(1, "text");
        layout.field(1, "K", "3");
        assert_eq!(
            layout.render(),
            "Long key here:  1\nSecond:\n  Key:  2\n  text\n  K:  3\n"
        );
    }

    #[test]
    fn tables_and_text_are_indented() {
        let mut table = Table::new(["Type", "Status"]);
        table.push(vec!["Ready".to_string(), "True".to_string()]);
        let mut layout = Layout::default();
        layout.section(0, "Conditions");
        layout.table(1, &table);
        layout.text(1, "sleep 5");
        layout.field(0, "Empty", "");
        assert_eq!(
            layout.render(),
            "Conditions:\n  Type    Status\n  Ready   True\n  sleep 5\nEmpty:\n"
        );
    }
}
