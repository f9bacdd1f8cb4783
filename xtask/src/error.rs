//! The one error a xtask command can end with: a wrapper over the per-module errors, so that
//! `main` prints every failure the same way (the message, then its causes).

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::cargo::TargetDirError;
use crate::deps::DepsError;
use crate::step::StepError;

/// Why a xtask command failed.
#[derive(Debug)]
pub enum XtaskError {
    /// The command line was not understood; carries what was wrong.
    Usage(String),
    /// Checking or installing system packages failed.
    Deps(DepsError),
    /// The cargo target directory could not be chosen.
    TargetDir(TargetDirError),
    /// A cargo step failed.
    Step(StepError),
    /// The built flotilla binary could not be executed.
    Launch { path: PathBuf, source: io::Error },
}

impl fmt::Display for XtaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(problem) => write!(f, "{problem}"),
            Self::Deps(inner) => fmt::Display::fmt(inner, f),
            Self::TargetDir(inner) => fmt::Display::fmt(inner, f),
            Self::Step(inner) => fmt::Display::fmt(inner, f),
            Self::Launch { path, .. } => write!(f, "could not run {}", path.display()),
        }
    }
}

impl std::error::Error for XtaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The wrapping variants display their inner error, so their cause is the inner one's.
        match self {
            Self::Usage(_) => None,
            Self::Deps(inner) => inner.source(),
            Self::TargetDir(inner) => inner.source(),
            Self::Step(inner) => inner.source(),
            Self::Launch { source, .. } => Some(source),
        }
    }
}

impl From<DepsError> for XtaskError {
    fn from(error: DepsError) -> Self {
        Self::Deps(error)
    }
}

impl From<TargetDirError> for XtaskError {
    fn from(error: TargetDirError) -> Self {
        Self::TargetDir(error)
    }
}

impl From<StepError> for XtaskError {
    fn from(error: StepError) -> Self {
        Self::Step(error)
    }
}
