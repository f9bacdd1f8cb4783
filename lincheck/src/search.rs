//! The generic checker: partitioning, validation and the Wing & Gong search
//! with Lowe's memoization.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;

use crate::history::{HistoryError, Operation, Outcome};

/// Explored configurations allowed before giving up. Each one is kept in the
/// memo table, so this bounds memory (roughly a hundred bytes per
/// configuration for modest histories) as well as time.
pub const DEFAULT_BUDGET: u64 = 1_000_000;

/// A sequential specification of the object under test.
pub trait Model {
    /// Request type.
    type Input;
    /// Response type.
    type Output;
    /// Operations in different partitions never interact, so each partition
    /// is checked alone; this is what keeps the search small.
    type Partition: Clone + Eq + Hash;
    /// Sequential state; hashed for memoization.
    type State: Clone + Eq + Hash;

    /// Which independent object `input` touches.
    fn partition(input: &Self::Input) -> Self::Partition;

    /// State before any operation.
    fn init() -> Self::State;

    /// The state after applying `input` to `state`, or `None` if the
    /// sequential object could not have answered `output`. `output` is
    /// `None` for operations whose outcome is unknown: they just apply.
    fn step(
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Short human rendering of a state, for violation reports.
    fn describe(state: &Self::State) -> String;
}

/// The answer of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<P, I, O> {
    /// Some order of the operations explains every observed output.
    Linearizable,
    /// No order explains the operation in the violation.
    NotLinearizable(Violation<P, I, O>),
    /// The search budget ran out first.
    Undecided {
        /// Configurations explored before giving up.
        explored: u64,
    },
}

/// The verdict type of a check against model `M`.
pub type ModelVerdict<M> =
    Verdict<<M as Model>::Partition, <M as Model>::Input, <M as Model>::Output>;

/// The earliest returned operation that no ordering could explain: every
/// operation that returned before it can still be explained, so this is
/// where to start looking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation<P, I, O> {
    /// The independent object (key) on which it happened.
    pub partition: P,
    /// Index of the operation in the checked history.
    pub op: usize,
    /// The operation itself.
    pub operation: Operation<I, O>,
    /// What the model could have held when the operation had to take effect.
    pub description: String,
}

impl<P, I: fmt::Display, O: fmt::Display> fmt::Display for Verdict<P, I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Linearizable => write!(f, "linearizable"),
            Self::NotLinearizable(v) => write!(
                f,
                "not linearizable: op #{} ({}): {}",
                v.op, v.operation, v.description
            ),
            Self::Undecided { explored } => write!(
                f,
                "undecided: search budget exhausted after {explored} configurations"
            ),
        }
    }
}

/// Checks `history` against model `M`, exploring at most `budget`
/// configurations in total. If several partitions are violated, the
/// violation that returned earliest is reported; if the budget runs out, a
/// violation already found still wins over `Undecided`.
pub fn check<M: Model>(
    history: &[Operation<M::Input, M::Output>],
    budget: u64,
) -> Result<ModelVerdict<M>, HistoryError>
where
    M::Input: Clone,
    M::Output: Clone,
{
    validate(history)?;
    let mut remaining = budget;
    let mut exhausted = false;
    let mut earliest: Option<Violation<M::Partition, M::Input, M::Output>> = None;
    for (partition, members) in partition::<M>(history) {
        match search::<M>(history, &members, remaining) {
            Search::Linearizable { explored } => remaining = remaining.saturating_sub(explored),
            Search::Stuck {
                op,
                states,
                explored,
            } => {
                remaining = remaining.saturating_sub(explored);
                let Some(operation) = history.get(op) else {
                    continue;
                };
                let candidate = Violation {
                    partition,
                    op,
                    operation: operation.clone(),
                    description: describe::<M>(&states),
                };
                if earliest
                    .as_ref()
                    .is_none_or(|best| order(&candidate) < order(best))
                {
                    earliest = Some(candidate);
                }
            }
            Search::Exhausted => {
                exhausted = true;
                break;
            }
        }
    }
    Ok(match earliest {
        Some(v) => Verdict::NotLinearizable(v),
        None if exhausted => Verdict::Undecided { explored: budget },
        None => Verdict::Linearizable,
    })
}

/// Violations are reported by return time, so the first one a reader sees
/// is the one nearest the start of the history.
fn order<P, I, O>(violation: &Violation<P, I, O>) -> (u64, usize) {
    let at = violation.operation.returned_at();
    (at.unwrap_or(u64::MAX), violation.op)
}

/// Groups history indices by partition, in order of first appearance so
/// that reports are deterministic.
fn partition<M: Model>(
    history: &[Operation<M::Input, M::Output>],
) -> Vec<(M::Partition, Vec<usize>)> {
    let mut partitions: Vec<(M::Partition, Vec<usize>)> = Vec::new();
    let mut slots: HashMap<M::Partition, usize> = HashMap::new();
    for (op, operation) in history.iter().enumerate() {
        let key = M::partition(&operation.input);
        match slots.get(&key).and_then(|&slot| partitions.get_mut(slot)) {
            Some((_, members)) => members.push(op),
            None => {
                slots.insert(key.clone(), partitions.len());
                partitions.push((key, vec![op]));
            }
        }
    }
    partitions
}

fn validate<I, O>(history: &[Operation<I, O>]) -> Result<(), HistoryError> {
    for (op, operation) in history.iter().enumerate() {
        if let Some(returned) = operation.returned_at()
            && returned < operation.call
        {
            return Err(HistoryError::ReturnedBeforeCall {
                op,
                client: operation.client,
                call: operation.call,
                returned,
            });
        }
    }
    Ok(())
}

/// States reported per violation; more would bury the message.
const REPORTED_STATES: usize = 4;

fn describe<M: Model>(states: &[M::State]) -> String {
    let rendered: Vec<String> = states.iter().map(M::describe).collect();
    format!(
        "no ordering explains this output; when it had to take effect the state could be: {}",
        rendered.join(" or ")
    )
}

/// Outcome of searching one partition.
enum Search<S> {
    Linearizable {
        explored: u64,
    },
    /// `op` (a history index) is the operation whose return no ordering got
    /// past; `states` are model states the search held at that return.
    Stuck {
        op: usize,
        states: Vec<S>,
        explored: u64,
    },
    Exhausted,
}

/// A node of the event list; the first and last nodes are sentinels.
#[derive(Clone, Copy)]
enum Node {
    Sentinel,
    /// `member` indexes the partition; `ret` is the node of the matching
    /// return, absent for unknown outcomes.
    Call {
        member: usize,
        ret: Option<usize>,
    },
    Return {
        member: usize,
    },
}

/// Doubly linked list over node indices, so that linearizing an operation
/// (unlinking its events) and backtracking (relinking them in reverse order)
/// are O(1).
struct Events {
    nodes: Vec<Node>,
    next: Vec<usize>,
    prev: Vec<usize>,
}

const HEAD: usize = 0;

impl Events {
    /// Orders events by time. At equal timestamps calls come first, so an
    /// operation invoked at the instant another returns counts as concurrent
    /// with it: the conservative reading of a coarse clock.
    fn new<I, O>(history: &[Operation<I, O>], members: &[usize]) -> Self {
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(members.len() * 2);
        let operations = members.iter().enumerate();
        for (member, operation) in operations.filter_map(|(m, &i)| Some((m, history.get(i)?))) {
            events.push((operation.call, false, member));
            if let Some(at) = operation.returned_at() {
                events.push((at, true, member));
            }
        }
        events.sort_unstable();

        let mut return_node = vec![None; members.len()];
        for (offset, &(_, is_return, member)) in events.iter().enumerate() {
            if is_return && let Some(slot) = return_node.get_mut(member) {
                *slot = Some(offset + 1);
            }
        }
        let mut nodes = vec![Node::Sentinel];
        nodes.extend(events.iter().map(|&(_, is_return, member)| {
            if is_return {
                Node::Return { member }
            } else {
                Node::Call {
                    member,
                    ret: return_node.get(member).copied().flatten(),
                }
            }
        }));
        nodes.push(Node::Sentinel);
        let len = nodes.len();
        Self {
            nodes,
            next: (1..=len).collect(),
            prev: (0..len).map(|i| i.saturating_sub(1)).collect(),
        }
    }

    fn node(&self, index: usize) -> Node {
        self.nodes.get(index).copied().unwrap_or(Node::Sentinel)
    }

    fn next(&self, index: usize) -> usize {
        self.next.get(index).copied().unwrap_or(self.nodes.len())
    }

    fn unlink(&mut self, index: usize) {
        let (prev, next) = (self.prev[index], self.next[index]);
        self.next[prev] = next;
        self.prev[next] = prev;
    }

    fn relink(&mut self, index: usize) {
        let (prev, next) = (self.prev[index], self.next[index]);
        self.next[prev] = index;
        self.prev[next] = index;
    }
}

/// Which partition members are linearized; half of the memo key.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bitset(Vec<u64>);

impl Bitset {
    fn new(len: usize) -> Self {
        Self(vec![0; len.div_ceil(64)])
    }

    fn flip(&mut self, member: usize) {
        if let Some(word) = self.0.get_mut(member / 64) {
            *word ^= 1 << (member % 64);
        }
    }
}

/// The return furthest into the history that the search failed to get
/// past, and the states it held there. It starts at the first return,
/// which any linearization must pass.
struct Furthest<S> {
    node: usize,
    member: usize,
    states: Vec<S>,
}

impl<S: Clone + Eq> Furthest<S> {
    fn record(&mut self, node: usize, member: usize, state: &S) {
        if node > self.node {
            *self = Self {
                node,
                member,
                states: Vec::new(),
            };
        }
        if node == self.node && self.states.len() < REPORTED_STATES && !self.states.contains(state)
        {
            self.states.push(state.clone());
        }
    }
}

/// A linearized operation, kept to undo it when backtracking.
struct Frame<S> {
    call: usize,
    state: S,
}

/// Wing & Gong's depth-first search over one partition: repeatedly
/// linearize the first pending call that precedes every pending return,
/// and backtrack on reaching a return whose operation is still pending.
/// Lowe's memo of (linearized set, state) prunes configurations already
/// explored.
fn search<M: Model>(
    history: &[Operation<M::Input, M::Output>],
    members: &[usize],
    budget: u64,
) -> Search<M::State> {
    let mut events = Events::new(history, members);
    let returns = events
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(node, kind)| match kind {
            Node::Return { member } => Some((node, *member)),
            _ => None,
        });
    let mut remaining = returns.clone().count();
    let Some((node, member)) = returns.min() else {
        return Search::Linearizable { explored: 0 };
    };
    let mut furthest = Furthest {
        node,
        member,
        states: Vec::new(),
    };

    let mut state = M::init();
    let mut linearized = Bitset::new(members.len());
    let mut memo = HashSet::new();
    let mut stack: Vec<Frame<M::State>> = Vec::new();
    let mut explored = 0;
    let mut cursor = events.next(HEAD);
    loop {
        if remaining == 0 {
            return Search::Linearizable { explored };
        }
        if let Node::Call { member, ret } = events.node(cursor) {
            let operation = members.get(member).and_then(|&i| history.get(i));
            if let Some(next) = operation.and_then(|op| advance::<M>(&state, op)) {
                linearized.flip(member);
                if memo.insert((linearized.clone(), next.clone())) {
                    if explored >= budget {
                        return Search::Exhausted;
                    }
                    explored += 1;
                    stack.push(Frame {
                        call: cursor,
                        state: std::mem::replace(&mut state, next),
                    });
                    events.unlink(cursor);
                    if let Some(ret) = ret {
                        events.unlink(ret);
                        remaining -= 1;
                    }
                    cursor = events.next(HEAD);
                    continue;
                }
                linearized.flip(member);
            }
            cursor = events.next(cursor);
            continue;
        }

        // A pending return (or, defensively, the end): the operations
        // linearized so far cannot be extended past it, so undo the latest.
        if let Node::Return { member } = events.node(cursor) {
            furthest.record(cursor, member, &state);
        }
        let Some(frame) = stack.pop() else {
            return Search::Stuck {
                op: members.get(furthest.member).copied().unwrap_or_default(),
                states: furthest.states,
                explored,
            };
        };
        if let Node::Call { member, ret } = events.node(frame.call) {
            if let Some(ret) = ret {
                events.relink(ret);
                remaining += 1;
            }
            linearized.flip(member);
        }
        events.relink(frame.call);
        state = frame.state;
        cursor = events.next(frame.call);
    }
}

/// The state after linearizing `operation` now, if that is allowed and
/// worth exploring. An unknown-outcome operation that would not change the
/// state is skipped: leaving it out explains the same outputs, and
/// including it would only multiply the configurations to explore.
fn advance<M: Model>(
    state: &M::State,
    operation: &Operation<M::Input, M::Output>,
) -> Option<M::State> {
    match &operation.outcome {
        Outcome::Returned { output, .. } => M::step(state, &operation.input, Some(output)),
        Outcome::Unknown => M::step(state, &operation.input, None).filter(|next| next != state),
    }
}
