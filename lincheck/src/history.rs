//! Recorded client operations and a builder that catches recording mistakes
//! before they can masquerade as consistency violations.

use std::error::Error;
use std::fmt;

/// One client operation as observed: when it was invoked and when (if ever)
/// it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Which client issued it; only used to make reports readable.
    pub client: u64,
    /// Invocation time in nanoseconds on a clock shared by all clients.
    pub call: u64,
    /// What the client learned about the operation.
    pub outcome: Outcome<O>,
    /// The request.
    pub input: I,
}

impl<I, O> Operation<I, O> {
    /// Return time, if the client saw one.
    pub fn returned_at(&self) -> Option<u64> {
        match self.outcome {
            Outcome::Returned { at, .. } => Some(at),
            Outcome::Unknown => None,
        }
    }
}

impl<I: fmt::Display, O: fmt::Display> fmt::Display for Operation<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client {}: {} called at {}",
            self.client, self.input, self.call
        )?;
        match &self.outcome {
            Outcome::Returned { at, output } => write!(f, ", returned {output} at {at}"),
            Outcome::Unknown => write!(f, ", outcome unknown"),
        }
    }
}

/// What the client learned about an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<O> {
    /// The client received `output` at time `at`.
    Returned {
        /// Return time in nanoseconds, same clock as `call`.
        at: u64,
        /// The response.
        output: O,
    },
    /// Timed out, connection lost or server crashed: it may have taken effect
    /// at any time after `call`, or never.
    Unknown,
}

/// Identifies an operation recorded by [`History::invoke`]; its index is the
/// operation's position in [`History::into_operations`] and in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpId(usize);

impl OpId {
    /// Position of the operation in the finished history.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A history that is wrong in itself, before any consistency question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryError {
    /// The clock or the recorder is broken: nothing can return before it is
    /// called.
    ReturnedBeforeCall {
        /// Index of the operation.
        op: usize,
        /// Its client.
        client: u64,
        /// Its call time.
        call: u64,
        /// Its (earlier) return time.
        returned: u64,
    },
    /// Still pending when the history was finished. A lost response must be
    /// recorded explicitly as unknown, so that forgetting to record a return
    /// is not silently treated as "may never have happened".
    NeverCompleted {
        /// Index of the operation.
        op: usize,
        /// Its client.
        client: u64,
    },
    /// Completed a second time.
    AlreadyCompleted {
        /// Index of the operation.
        op: usize,
        /// Its client.
        client: u64,
    },
    /// The id was not issued by this history.
    UnknownOp {
        /// The foreign index.
        op: usize,
    },
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReturnedBeforeCall {
                op,
                client,
                call,
                returned,
            } => write!(
                f,
                "op #{op} (client {client}) returned at {returned}, before its call at {call}"
            ),
            Self::NeverCompleted { op, client } => write!(
                f,
                "op #{op} (client {client}) never completed; record it as returned or unknown"
            ),
            Self::AlreadyCompleted { op, client } => {
                write!(f, "op #{op} (client {client}) was completed twice")
            }
            Self::UnknownOp { op } => write!(f, "op #{op} does not belong to this history"),
        }
    }
}

impl Error for HistoryError {}

/// An operation that may still be in flight.
#[derive(Debug, Clone)]
struct Recorded<I, O> {
    client: u64,
    call: u64,
    input: I,
    outcome: Option<Outcome<O>>,
}

/// Records operations as clients perform them. Timestamps are passed in so
/// that tests can be deterministic and callers choose their clock.
#[derive(Debug, Clone)]
pub struct History<I, O> {
    ops: Vec<Recorded<I, O>>,
}

impl<I, O> Default for History<I, O> {
    fn default() -> Self {
        Self { ops: Vec::new() }
    }
}

impl<I, O> History<I, O> {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `client` invoked `input` at time `at`.
    pub fn invoke(&mut self, client: u64, input: I, at: u64) -> OpId {
        self.ops.push(Recorded {
            client,
            call: at,
            input,
            outcome: None,
        });
        OpId(self.ops.len() - 1)
    }

    /// Records that `op` returned `output` at time `at`.
    pub fn returned(&mut self, op: OpId, output: O, at: u64) -> Result<(), HistoryError> {
        let recorded = self.pending(op)?;
        if at < recorded.call {
            return Err(HistoryError::ReturnedBeforeCall {
                op: op.0,
                client: recorded.client,
                call: recorded.call,
                returned: at,
            });
        }
        recorded.outcome = Some(Outcome::Returned { at, output });
        Ok(())
    }

    /// Records that the client gave up on `op` without learning its outcome.
    pub fn unknown(&mut self, op: OpId) -> Result<(), HistoryError> {
        self.pending(op)?.outcome = Some(Outcome::Unknown);
        Ok(())
    }

    /// The finished history, ready for checking.
    pub fn into_operations(self) -> Result<Vec<Operation<I, O>>, HistoryError> {
        self.ops
            .into_iter()
            .enumerate()
            .map(|(op, recorded)| match recorded.outcome {
                Some(outcome) => Ok(Operation {
                    client: recorded.client,
                    call: recorded.call,
                    outcome,
                    input: recorded.input,
                }),
                None => Err(HistoryError::NeverCompleted {
                    op,
                    client: recorded.client,
                }),
            })
            .collect()
    }

    fn pending(&mut self, op: OpId) -> Result<&mut Recorded<I, O>, HistoryError> {
        let recorded = self
            .ops
            .get_mut(op.0)
            .ok_or(HistoryError::UnknownOp { op: op.0 })?;
        if recorded.outcome.is_some() {
            return Err(HistoryError::AlreadyCompleted {
                op: op.0,
                client: recorded.client,
            });
        }
        Ok(recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_produces_operations_in_invocation_order() {
        let mut h = History::new();
        let a = h.invoke(1, "a", 10);
        let b = h.invoke(2, "b", 11);
        h.unknown(b).unwrap();
        h.returned(a, 7, 20).unwrap();
        assert_eq!((a.index(), b.index()), (0, 1));
        let ops = h.into_operations().unwrap();
        assert_eq!(
            ops,
            vec![
                Operation {
                    client: 1,
                    call: 10,
                    outcome: Outcome::Returned { at: 20, output: 7 },
                    input: "a",
                },
                Operation {
                    client: 2,
                    call: 11,
                    outcome: Outcome::Unknown,
                    input: "b",
                },
            ]
        );
        assert_eq!(ops[0].returned_at(), Some(20));
        assert_eq!(ops[1].returned_at(), None);
    }

    #[test]
    fn return_before_call_is_rejected_with_op_and_client() {
        let mut h = History::<&str, u8>::new();
        h.invoke(3, "x", 5);
        let op = h.invoke(7, "y", 10);
        let err = h.returned(op, 0, 9).unwrap_err();
        assert_eq!(
            err,
            HistoryError::ReturnedBeforeCall {
                op: 1,
                client: 7,
                call: 10,
                returned: 9
            }
        );
        assert_eq!(
            err.to_string(),
            "op #1 (client 7) returned at 9, before its call at 10"
        );
    }

    #[test]
    fn returning_at_the_call_instant_is_allowed() {
        let mut h = History::<&str, u8>::new();
        let op = h.invoke(1, "x", 10);
        assert_eq!(h.returned(op, 0, 10), Ok(()));
    }

    #[test]
    fn pending_operation_is_rejected_at_finish() {
        let mut h = History::<&str, u8>::new();
        let done = h.invoke(1, "x", 0);
        h.invoke(4, "y", 1);
        h.returned(done, 0, 2).unwrap();
        let err = h.into_operations().unwrap_err();
        assert_eq!(err, HistoryError::NeverCompleted { op: 1, client: 4 });
        assert!(err.to_string().contains("op #1 (client 4) never completed"));
    }

    #[test]
    fn double_completion_and_foreign_ids_are_rejected() {
        let mut h = History::<&str, u8>::new();
        let op = h.invoke(2, "x", 0);
        h.returned(op, 0, 1).unwrap();
        assert_eq!(
            h.unknown(op),
            Err(HistoryError::AlreadyCompleted { op: 0, client: 2 })
        );
        assert_eq!(
            h.returned(op, 1, 5),
            Err(HistoryError::AlreadyCompleted { op: 0, client: 2 })
        );

        let mut other = History::<&str, u8>::new();
        other.invoke(1, "a", 0);
        let foreign = other.invoke(1, "b", 0);
        let err = h.unknown(foreign).unwrap_err();
        assert_eq!(err, HistoryError::UnknownOp { op: 1 });
        assert_eq!(err.to_string(), "op #1 does not belong to this history");
    }
}
