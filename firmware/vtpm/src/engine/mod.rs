//! The command pipeline common to every command (Part 3 §5): header, command table, handle checks,
//! authorization, parameter encryption, routing to the command, audit, response. Only `routing` names
//! `commands`; the rest is what commands may use.

pub mod audit;
pub mod authorization;
pub mod command;
pub mod command_table;
pub mod entity;
pub mod execute;
pub mod handles;
pub mod param_enc;
pub mod response;
pub mod routing;
