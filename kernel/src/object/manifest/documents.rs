//! Splits a multi-document YAML stream into its documents, remembering the line each starts on.
//!
//! Each document is parsed on its own so that one bad document does not hide the others, and
//! so that every document can be parsed several times (kind first, then the typed object). The
//! split is at `---` and `...` markers in column 0, which YAML forbids inside any scalar, so
//! the split never cuts a value in two.

/// One document of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Document<'a> {
    /// Zero-based index of the document's first line in the whole stream.
    pub first_line: usize,
    /// The document's text, including its `---` marker if it had one.
    pub text: &'a str,
    /// Whether the document holds anything besides markers, comments, directives and blanks.
    pub has_content: bool,
}

impl Document<'_> {
    /// The document's text preceded by blank lines, so that a parser reports line numbers of
    /// the whole stream.
    pub fn text_at_original_lines(&self) -> String {
        let mut padded = "\n".repeat(self.first_line);
        padded.push_str(self.text);
        padded
    }
}

/// Splits `text` into documents in stream order.
pub(super) fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut documents = Vec::new();
    let mut current = Document {
        first_line: 0,
        text: "",
        has_content: false,
    };
    let mut start = 0;
    let mut has_start_marker = false;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_end = offset + line.len();
        if let Some(rest) = marker_rest(line, "---") {
            if current.has_content || has_start_marker {
                current.text = &text[start..offset];
                documents.push(current.clone());
                start = offset;
                current = Document {
                    first_line: index,
                    text: "",
                    has_content: false,
                };
            }
            has_start_marker = true;
            current.has_content |= is_content(rest);
        } else if marker_rest(line, "...").is_some() {
            current.text = &text[start..line_end];
            documents.push(current.clone());
            start = line_end;
            has_start_marker = false;
            current = Document {
                first_line: index + 1,
                text: "",
                has_content: false,
            };
        } else if !line.starts_with('%') {
            current.has_content |= is_content(line);
        }
        offset = line_end;
    }
    if start < text.len() {
        current.text = &text[start..];
        documents.push(current);
    }
    documents
}

/// If `line` starts with the marker followed by whitespace or the line end, the rest of it.
fn marker_rest<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(marker)?;
    (rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n'])).then_some(rest)
}

fn is_content(text: &str) -> bool {
    let trimmed = text.trim();
    !trimmed.is_empty() && !trimmed.starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> Vec<(usize, &str, bool)> {
        split_documents(text)
            .into_iter()
            .map(|d| (d.first_line, d.text, d.has_content))
            .collect()
    }

    #[test]
    fn a_single_document_without_markers() {
        assert_eq!(summary("a: 1\nb: 2\n"), [(0, "a: 1\nb: 2\n", true)]);
        assert_eq!(summary(""), []);
    }

    #[test]
    fn splits_at_start_markers_and_keeps_them() {
        let text = "# leading comment\n---\na: 1\n---\nb: 2\n";
        assert_eq!(
            summary(text),
            [
                (0, "# leading comment\n---\na: 1\n", true),
                (3, "---\nb: 2\n", true)
            ]
        );
    }

    #[test]
    fn empty_documents_are_marked_empty() {
        let text = "---\n# only a comment\n---\n\n---\nkind: Pod\n---\n";
        assert_eq!(
            summary(text),
            [
                (0, "---\n# only a comment\n", false),
                (2, "---\n\n", false),
                (4, "---\nkind: Pod\n", true),
                (6, "---\n", false),
            ]
        );
    }

    #[test]
    fn content_on_the_marker_line_counts() {
        assert_eq!(
            summary("--- {a: 1}\n--- # note\n"),
            [(0, "--- {a: 1}\n", true), (1, "--- # note\n", false)]
        );
    }

    #[test]
    fn end_markers_and_directives() {
        let text = "a: 1\n...\n%YAML 1.2\n---\nb: 2\n";
        assert_eq!(
            summary(text),
            [
                (0, "a: 1\n...\n", true),
                (2, "%YAML 1.2\n---\nb: 2\n", true)
            ]
        );
    }

    #[test]
    fn markers_need_column_zero_and_a_separator() {
        let text = "a: |\n  ---\nb: ---x\n----\n";
        assert_eq!(summary(text), [(0, text, true)]);
    }

    #[test]
    fn crlf_line_endings() {
        assert_eq!(
            summary("a: 1\r\n---\r\nb: 2\r\n"),
            [(0, "a: 1\r\n", true), (1, "---\r\nb: 2\r\n", true)]
        );
    }

    #[test]
    fn padding_restores_original_line_numbers() {
        let documents = split_documents("a: 1\n---\nb: 2\n");
        assert_eq!(documents[1].text_at_original_lines(), "\n---\nb: 2\n");
    }
}
