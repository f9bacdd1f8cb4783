//! Supervision for ractor actors. ractor reports child failures to the parent but restarts
//! nothing by itself; this module adds Erlang/OTP-style strategies. The decision logic is a
//! pure state machine ([`strategy`]) driven with explicit instants, so it is tested without a
//! runtime; [`supervisor`] is the thin actor that feeds it supervision events and performs the
//! restarts it decides. [`spawn_owned`] ties the tasks an actor spawns to it, so that a task
//! that dies takes its actor down with it, to be restarted.

mod owned_task;
mod strategy;
mod supervisor;

pub use owned_task::spawn_owned;
pub use strategy::{Backoff, Decision, Intensity, RestartTracker, Strategy};
pub use supervisor::{ChildSpec, StartFn, Supervisor, SupervisorArgs, SupervisorMsg};
