//! `Selector`, the textual label selector of the CLI's `-l` flag and of list requests
//! (`app=web,tier!=db,env in (a,b),!canary`), parsed with Kubernetes' syntax.
//!
//! Each term becomes a `LabelSelectorRequirement` (`k=v` is `k in (v)`, `k!=v` is
//! `k notin (v)`), so textual and structured selectors share one matching rule. Errors name the
//! offending term, since a selector is usually typed by hand.

use std::collections::BTreeMap;
use std::fmt;

use thiserror::Error;

use super::labels::{LabelSelectorOperator, LabelSelectorRequirement};
use super::names::{check_label_value, check_qualified_name};

/// A parsed textual label selector; the empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<LabelSelectorRequirement>,
}

/// A selector term that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("label selector term {term:?}: {problem}")]
pub struct SelectorError {
    /// The term as written, trimmed.
    pub term: String,
    /// What is wrong with it.
    pub problem: String,
}

impl Selector {
    /// Parses comma-separated terms: `key`, `!key`, `key=value`, `key==value`, `key!=value`,
    /// `key in (v1,v2)`, `key notin (v1)`. Whitespace around tokens is ignored.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let requirements = split_terms(text)?
            .into_iter()
            .map(parse_term)
            .collect::<Result<_, _>>()?;
        Ok(Self { requirements })
    }

    /// Whether the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every term.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The terms, in the order written.
    pub fn requirements(&self) -> &[LabelSelectorRequirement] {
        &self.requirements
    }
}

impl fmt::Display for Selector {
    /// Writes the selector back in the syntax `parse` accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, requirement) in self.requirements.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            let key = &requirement.key;
            let values = &requirement.values;
            match (requirement.operator, values.as_slice()) {
                (LabelSelectorOperator::Exists, _) => write!(f, "{key}")?,
                (LabelSelectorOperator::DoesNotExist, _) => write!(f, "!{key}")?,
                (LabelSelectorOperator::In, [value]) => write!(f, "{key}={value}")?,
                (LabelSelectorOperator::NotIn, [value]) => write!(f, "{key}!={value}")?,
                (LabelSelectorOperator::In, _) => write!(f, "{key} in ({})", values.join(","))?,
                (LabelSelectorOperator::NotIn, _) => {
                    write!(f, "{key} notin ({})", values.join(","))?
                }
            }
        }
        Ok(())
    }
}

/// Splits at commas that are not inside a parenthesised value set.
fn split_terms(text: &str) -> Result<Vec<&str>, SelectorError> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    term_error(&text[start..=index], "')' without a matching '('")
                })?;
            }
            ',' if depth == 0 => {
                terms.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    Ok(terms)
}

fn parse_term(raw: &str) -> Result<LabelSelectorRequirement, SelectorError> {
    let term = raw.trim();
    if term.is_empty() {
        return Err(term_error(term, "empty term (stray comma?)"));
    }
    if let Some(key) = term.strip_prefix('!') {
        return requirement(
            term,
            key.trim(),
            LabelSelectorOperator::DoesNotExist,
            vec![],
        );
    }
    let key_len = term
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
        .unwrap_or(term.len());
    let (key, rest) = (&term[..key_len], term[key_len..].trim_start());
    if rest.is_empty() {
        return requirement(term, key, LabelSelectorOperator::Exists, vec![]);
    }
    if let Some(value) = rest.strip_prefix("!=") {
        return requirement(term, key, LabelSelectorOperator::NotIn, vec![value.trim()]);
    }
    if let Some(value) = rest.strip_prefix("==").or_else(|| rest.strip_prefix('=')) {
        return requirement(term, key, LabelSelectorOperator::In, vec![value.trim()]);
    }
    if let Some(set) = strip_keyword(rest, "notin") {
        return requirement(
            term,
            key,
            LabelSelectorOperator::NotIn,
            parse_set(term, set)?,
        );
    }
    if let Some(set) = strip_keyword(rest, "in") {
        return requirement(term, key, LabelSelectorOperator::In, parse_set(term, set)?);
    }
    Err(term_error(
        term,
        "expected '=', '==', '!=', 'in' or 'notin' after the key",
    ))
}

/// Strips `keyword` when it stands alone (followed by whitespace or '(').
fn strip_keyword<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(keyword)?;
    (rest.starts_with('(') || rest.starts_with(char::is_whitespace)).then_some(rest)
}

fn parse_set<'a>(term: &str, text: &'a str) -> Result<Vec<&'a str>, SelectorError> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| term_error(term, "expected a value set in parentheses, like (a,b)"))?;
    if inner.trim().is_empty() {
        return Err(term_error(term, "the value set is empty"));
    }
    Ok(inner.split(',').map(str::trim).collect())
}

fn requirement(
    term: &str,
    key: &str,
    operator: LabelSelectorOperator,
    values: Vec<&str>,
) -> Result<LabelSelectorRequirement, SelectorError> {
    if key.is_empty() {
        return Err(term_error(term, "the key is missing"));
    }
    check_qualified_name(key).map_err(|problem| term_error(term, &format!("key {problem}")))?;
    for value in &values {
        check_label_value(value)
            .map_err(|problem| term_error(term, &format!("value {problem}")))?;
    }
    Ok(LabelSelectorRequirement {
        key: key.to_owned(),
        operator,
        values: values.into_iter().map(str::to_owned).collect(),
    })
}

fn term_error(term: &str, problem: &str) -> SelectorError {
    SelectorError {
        term: term.trim().to_owned(),
        problem: problem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_text_matches_everything() {
        let selector = Selector::parse("  ").unwrap();
        assert!(selector.is_empty());
        assert!(selector.matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn equality_terms() {
        let web = labels(&[("app", "web"), ("tier", "front")]);
        assert!(Selector::parse("app=web").unwrap().matches(&web));
        assert!(Selector::parse("app==web").unwrap().matches(&web));
        assert!(
            Selector::parse(" app = web , tier != db ")
                .unwrap()
                .matches(&web)
        );
        assert!(!Selector::parse("app=db").unwrap().matches(&web));
        assert!(!Selector::parse("tier!=front").unwrap().matches(&web));
        assert!(Selector::parse("other!=x").unwrap().matches(&web));
    }

    #[test]
    fn set_terms() {
        let prod = labels(&[("env", "prod")]);
        assert!(
            Selector::parse("env in (dev, prod)")
                .unwrap()
                .matches(&prod)
        );
        assert!(Selector::parse("env in(prod)").unwrap().matches(&prod));
        assert!(!Selector::parse("env notin (prod)").unwrap().matches(&prod));
        assert!(Selector::parse("env notin (a,b),app").is_ok());
        let both = Selector::parse("env in (a,prod),x notin (y)").unwrap();
        assert_eq!(both.requirements().len(), 2);
        assert!(both.matches(&prod));
    }

    #[test]
    fn existence_terms() {
        let prod = labels(&[("env", "prod")]);
        assert!(Selector::parse("env").unwrap().matches(&prod));
        assert!(!Selector::parse("!env").unwrap().matches(&prod));
        assert!(Selector::parse("! canary").unwrap().matches(&prod));
    }

    #[test]
    fn prefixed_keys_and_empty_values() {
        let selector = Selector::parse("flotilla.io/role=,app").unwrap();
        assert!(selector.matches(&labels(&[("flotilla.io/role", ""), ("app", "x")])));
    }

    #[test]
    fn errors_name_the_offending_term() {
        let cases = [
            ("app=web,,tier=db", ""),
            ("app=web,", ""),
            ("app=web,env in (a", "env in (a"),
            ("env in a,b", "env in a"),
            ("env in ()", "env in ()"),
            ("a) ,b", "a)"),
            ("Bad Key=x", "Bad Key=x"),
            ("app=not valid", "app=not valid"),
            ("app>3", "app>3"),
            ("=web", "=web"),
            ("!", "!"),
        ];
        for (text, term) in cases {
            let error = Selector::parse(text).unwrap_err();
            assert_eq!(error.term, term, "{text}: {error}");
            assert!(error.to_string().contains(&format!("{term:?}")));
        }
    }

    #[test]
    fn display_round_trips() {
        let text = "app=web,tier!=db,env in (a,b),env notin (c,d),canary,!legacy";
        let selector = Selector::parse(text).unwrap();
        assert_eq!(selector.to_string(), text);
        assert_eq!(Selector::parse(&selector.to_string()).unwrap(), selector);
    }
}
