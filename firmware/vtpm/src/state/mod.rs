//! The TPM's state, one concept per file: PCRs, NV, command audit, hierarchies, dictionary-attack counters, time,
//! sessions, the transient-object table (sequences and keys), persistent keys, context-blob keys,
//! tickets, the ephemeral-key commit counter and the Shutdown(STATE) snapshot.
//! Uses `wire`, `crypto` and `object`, never `commands`.

pub mod clock;
pub mod command_audit;
pub mod commit;
pub mod context_keys;
pub mod dictionary_attack;
pub mod hierarchy;
pub mod key_store;
pub mod nv;
pub mod pcr;
pub mod primary_cache;
pub mod saved_state;
pub mod sequence;
pub mod session;
pub mod sessions;
pub mod tickets;
pub mod transient;
