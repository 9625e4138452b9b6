//! The state engine (placeholder; being written).
use serde::{Deserialize, Serialize};
/// Per-check runtime state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckState {}
/// A change worth telling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Transition {}
