//! The key-value model: every key is an independent register, so a history
//! is checked key by key.

use std::fmt;

use crate::history::{HistoryError, Operation};
use crate::search::{DEFAULT_BUDGET, Model, ModelVerdict, check};

/// A request to the store; each touches exactly one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// Read the key.
    Get {
        /// Key read.
        key: Vec<u8>,
    },
    /// Overwrite the key.
    Put {
        /// Key written.
        key: Vec<u8>,
        /// New value.
        value: Vec<u8>,
    },
    /// Remove the key.
    Delete {
        /// Key removed.
        key: Vec<u8>,
    },
    /// Put only if the key's current value equals `expected` (`None` = key
    /// absent).
    CompareAndPut {
        /// Key written.
        key: Vec<u8>,
        /// Required current value.
        expected: Option<Vec<u8>>,
        /// New value on success.
        value: Vec<u8>,
    },
}

impl KvInput {
    /// The key this request touches.
    pub fn key(&self) -> &[u8] {
        match self {
            Self::Get { key }
            | Self::Put { key, .. }
            | Self::Delete { key }
            | Self::CompareAndPut { key, .. } => key,
        }
    }
}

/// A response from the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// The value read, `None` if absent.
    Get(Option<Vec<u8>>),
    /// The put was applied.
    Put,
    /// Whether the key existed.
    Delete {
        /// True if a value was removed.
        deleted: bool,
    },
    /// Whether the expectation held and the value was written.
    CompareAndPut {
        /// True if written.
        succeeded: bool,
    },
}

/// Renders bytes as an escaped string so keys read well in reports.
struct Bytes<'a>(&'a [u8]);

impl fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

/// Renders a possibly absent value.
struct Value<'a>(Option<&'a [u8]>);

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(bytes) => Bytes(bytes).fmt(f),
            None => f.write_str("absent"),
        }
    }
}

impl fmt::Display for KvInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Get { key } => write!(f, "get({})", Bytes(key)),
            Self::Put { key, value } => write!(f, "put({}, {})", Bytes(key), Bytes(value)),
            Self::Delete { key } => write!(f, "delete({})", Bytes(key)),
            Self::CompareAndPut {
                key,
                expected,
                value,
            } => write!(
                f,
                "compare_and_put({}, expected {}, {})",
                Bytes(key),
                Value(expected.as_deref()),
                Bytes(value)
            ),
        }
    }
}

impl fmt::Display for KvOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Get(value) => Value(value.as_deref()).fmt(f),
            Self::Put => f.write_str("ok"),
            Self::Delete { deleted: true } => f.write_str("deleted"),
            Self::Delete { deleted: false } => f.write_str("not found"),
            Self::CompareAndPut { succeeded: true } => f.write_str("succeeded"),
            Self::CompareAndPut { succeeded: false } => f.write_str("failed"),
        }
    }
}

/// The store as a map of independent registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvModel;

impl Model for KvModel {
    type Input = KvInput;
    type Output = KvOutput;
    type Partition = Vec<u8>;
    type State = Option<Vec<u8>>;

    fn partition(input: &KvInput) -> Vec<u8> {
        input.key().to_vec()
    }

    fn init() -> Self::State {
        None
    }

    /// A response of the wrong kind for its request is reported as a
    /// violation, since no state explains it.
    fn step(
        state: &Self::State,
        input: &KvInput,
        output: Option<&KvOutput>,
    ) -> Option<Self::State> {
        match (input, output) {
            (KvInput::Get { .. }, None) => Some(state.clone()),
            (KvInput::Get { .. }, Some(KvOutput::Get(seen))) => {
                (seen == state).then(|| state.clone())
            }
            (KvInput::Put { value, .. }, None | Some(KvOutput::Put)) => Some(Some(value.clone())),
            (KvInput::Delete { .. }, None) => Some(None),
            (KvInput::Delete { .. }, Some(KvOutput::Delete { deleted })) => {
                (*deleted == state.is_some()).then_some(None)
            }
            (
                KvInput::CompareAndPut {
                    expected, value, ..
                },
                output,
            ) => {
                let matches = expected == state;
                match output {
                    None => {}
                    Some(KvOutput::CompareAndPut { succeeded }) if *succeeded == matches => {}
                    Some(_) => return None,
                }
                Some(if matches {
                    Some(value.clone())
                } else {
                    state.clone()
                })
            }
            _ => None,
        }
    }

    fn describe(state: &Self::State) -> String {
        Value(state.as_deref()).to_string()
    }
}

/// Verdict of [`check_kv`]: partitions are keys.
pub type KvVerdict = ModelVerdict<KvModel>;

/// Checks a key-value history with [`DEFAULT_BUDGET`]; use
/// [`check`]`::<KvModel>` to choose another budget.
pub fn check_kv(history: &[Operation<KvInput, KvOutput>]) -> Result<KvVerdict, HistoryError> {
    check::<KvModel>(history, DEFAULT_BUDGET)
}

#[cfg(test)]
mod tests;
