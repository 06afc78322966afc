//! Object commands (Part 3 ch. 12), split by what they do to an object.

pub mod create;
pub mod credential;
pub mod lifecycle;
